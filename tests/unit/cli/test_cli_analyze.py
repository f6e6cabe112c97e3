"""``exbert analyze`` on a real shipped model (all-MiniLM-L6-v2: 6 layers)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def minilm(minilm_dir):  # skips when the package that ships the model is missing
    return "minilm-l6"


@pytest.mark.parametrize("layer", ["9", "6", "-7"])
def test_layer_out_of_range_is_a_clean_error(minilm, capsys, layer):
    from exbert.cli import main

    assert main(["analyze", "hi there", "--model", minilm, "--layer", layer]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"exbert analyze: error: layer {layer} is out of range")
    assert "layers 0..5" in err and "Traceback" not in err


def test_negative_layer_counts_from_the_end(minilm, capsys):
    from exbert.cli import main

    assert main(["analyze", "hi there", "--model", minilm, "--layer", "-2"]) == 0
    out = capsys.readouterr().out
    assert "6 layers x 12 heads" in out and "(layer 4)" in out
