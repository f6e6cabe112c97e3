"""The demo corpus of every default model stores every layer (search works at any layer the
view shows), checked on the demo settings without building anything."""

from __future__ import annotations

import pytest

from exbert.cli.serve import DEFAULT_MODELS
from exbert.corpus import demo
from exbert.corpus.layers import default_layers, resolve_layers

# The default models' depths (SmolLM2-135M: 30 layers, all-MiniLM-L6-v2: 6).
DEPTHS = {"smollm2-135m": 30, "minilm-l6": 6}


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_demo_corpus_of_each_default_model_stores_every_layer(name):
    settings = demo.demo_settings(name)
    depth = DEPTHS[name]
    assert resolve_layers(settings["layers"], depth) == list(range(depth + 1))
    assert settings["max_sentences"] == demo.DEMO_SENTENCES[name]


def test_every_default_model_has_demo_settings():
    assert set(DEFAULT_MODELS) <= set(demo.DEMO_SENTENCES)


def test_other_models_keep_the_default_layers():
    settings = demo.demo_settings("some-other-model")
    assert resolve_layers(settings["layers"], 30) == default_layers(30)


def test_the_layer_setting_is_part_of_the_demo_folder_key(monkeypatch, tmp_path):
    """Changing the demo settings names a new folder (an old build is never reused)."""
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path))
    before = demo.demo_dir("minilm-l6")
    monkeypatch.setattr(demo, "demo_settings", lambda name: {"max_sentences": 2500,
                                                             "layers": None})
    assert demo.demo_dir("minilm-l6") != before
