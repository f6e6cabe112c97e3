"""The notebook widget from the Python side, on the shipped models: traits in, frames out.

The JavaScript side is exercised in tests/e2e/test_export_widget.py (Chromium)."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

import exbert
from exbert.analysis.frame import decode_frame
from exbert.notebook.widget import WIDGET_JS, ExbertWidget

pytestmark = pytest.mark.integration

TEXT = "The cat sat on the mat because it was tired."


def header(w):
    return decode_frame(w.frame)[0]


def attention(w):
    return decode_frame(w.frame)[1].astype(np.float32)


def test_show_builds_a_widget_holding_the_analysis(minilm_model):
    w = exbert.show(minilm_model, TEXT, text_b="It purred.", layer=2, heads=[3, 0])
    assert isinstance(w, ExbertWidget)
    assert str(w._esm) == WIDGET_JS.read_text("utf-8")  # the shipped module, not a URL
    assert (w.layer, w.heads, w.weights, w.hide_special) == (2, [0, 3], None, True)
    assert (w.model_name, w.kind, w.n_layers, w.n_heads) == ("minilm-l6", "bidirectional", 6, 12)
    assert w.mask_token == "[MASK]"
    h = header(w)
    assert h["text"] == TEXT and h["text_b"] == "It purred." and h["mask"] == []
    assert [t["text"] for t in h["tokens"]] == [t.text for t in w.analysis.tokens]
    np.testing.assert_allclose(attention(w), w.analysis.attentions, atol=1e-3)
    # the synced state is what the view reads
    state = w.get_state()
    assert state["layer"] == 2 and state["heads"] == [0, 3] and state["mask"] == []


def test_view_traits_are_validated_and_settable(minilm_model):
    w = exbert.show(minilm_model, TEXT)
    frame = w.frame
    w.layer = -1
    assert w.layer == 5
    with pytest.raises(traitlets.TraitError, match="out of range"):
        w.layer = 6
    assert w.layer == 5
    w.heads = [5, 1, 5]
    assert w.heads == [1, 5]
    with pytest.raises(traitlets.TraitError, match="head 12"):
        w.heads = [12]
    w.weights = [2, 1]
    assert w.weights == [2.0, 1.0]
    with pytest.raises(traitlets.TraitError, match="3 weights for 2"):
        w.weights = [1, 1, 1]
    w.heads = [4]  # a new selection drops weights that no longer fit
    assert w.weights is None
    w.heads = None
    w.weights = [1.0] * 12  # weights for all heads select all heads explicitly
    assert w.heads == list(range(12))
    w.hide_special = False
    w.threshold = 0.9
    with pytest.raises(traitlets.TraitError):
        w.threshold = 1.5
    # view changes never re-run the model
    assert w.frame == frame


def test_masking_reanalyses_and_sends_a_new_frame(minilm_model):
    w = exbert.show(minilm_model, TEXT, layer=3)
    before, att_before = w.frame, attention(w)
    w.mask = [3, 3]  # "sat"
    assert w.mask == [3]
    h = header(w)
    assert h["mask"] == [3]
    assert [t["masked"] for t in h["tokens"]][3] is True
    assert w.frame != before
    assert np.abs(attention(w) - att_before).max() > 1e-3
    assert w.analysis.mask == (3,)
    w.mask = []
    assert header(w)["mask"] == []
    np.testing.assert_allclose(attention(w), att_before, atol=1e-3)


def test_a_refused_mask_changes_nothing(minilm_model):
    w = exbert.show(minilm_model, TEXT)
    frame = w.frame
    with pytest.raises(traitlets.TraitError, match="special"):
        w.mask = [0]  # [CLS]
    with pytest.raises(traitlets.TraitError):
        w.mask = [99]
    assert w.mask == [] and w.frame == frame and not w.busy


def test_changes_from_the_view(minilm_model):
    """What the JavaScript sends (ipywidgets `update` messages) goes through set_state."""
    w = exbert.show(minilm_model, TEXT)
    frame = w.frame
    w.set_state({"layer": 4, "heads": [0, 2], "weights": [1.0, 3.0], "hide_special": False,
                 "threshold": 0.8})
    assert (w.layer, w.heads, w.weights, w.hide_special, w.threshold) == (
        4, [0, 2], [1.0, 3.0], False, 0.8)
    assert w.frame == frame
    w.set_state({"mask": [2]})  # a double-click on "cat"
    assert header(w)["mask"] == [2] and w.error == ""
    sent = []
    w.send_state = lambda key=None: sent.append(key)  # type: ignore[method-assign]
    w.set_state({"mask": [0, 2]})  # refused: [CLS] is special
    assert "special" in w.error
    assert w.mask == [2] and header(w)["mask"] == [2]
    assert ["mask"] in sent  # the view is told the kernel's state again


def test_changing_the_text_reanalyses_and_clears_the_mask(minilm_model):
    w = exbert.show(minilm_model, TEXT, mask=[3])
    assert w.mask == [3]
    w.text = "A dog barked."
    assert w.mask == []
    assert header(w)["text"] == "A dog barked."
    w.text_b = "Loudly."
    assert header(w)["text_b"] == "Loudly."
    with pytest.raises(traitlets.TraitError, match="empty"):
        w.text = "   "
    assert header(w)["text"] == "A dog barked."


def test_causal_models_refuse_masking(smollm2_model):
    w = exbert.show(smollm2_model, "The capital of France is", layer=-1, heads=[0])
    assert w.kind == "autoregressive" and w.mask_token is None and w.layer == 29
    assert header(w)["predictions"] is not None
    frame = w.frame
    with pytest.raises(traitlets.TraitError, match="cannot mask"):
        w.mask = [1]
    assert w.frame == frame


def test_large_analyses_hold_one_layer_and_follow_the_layer(minilm_model, monkeypatch):
    import exbert.notebook.widget as widget

    monkeypatch.setattr(widget, "ALL_LAYERS_BYTES", 1000)
    w = exbert.show(minilm_model, TEXT, layer=1)
    assert header(w)["attention"]["layers"] == [1]
    w.layer = 4
    assert header(w)["attention"]["layers"] == [4]
    np.testing.assert_allclose(attention(w)[0], w.analysis.attentions[4], atol=1e-3)


def test_a_fixed_analysis_can_be_shown_but_not_changed(minilm_model):
    a = minilm_model.analyze(TEXT)
    w = exbert.show(a, layer=2)
    assert header(w)["text"] == TEXT and w.layer == 2
    with pytest.raises(traitlets.TraitError, match="fixed Analysis"):
        w.text = "Other."


def test_exports_sent_by_the_view_are_kept(minilm_model):
    w = exbert.show(minilm_model, TEXT)
    w._on_custom(w, {"type": "export", "kind": "svg", "filename": "exbert-minilm-l6-layer0.svg"},
                 [memoryview(b"<svg/>")])
    assert w.exports["svg"] == b"<svg/>" and w.export_name == "exbert-minilm-l6-layer0.svg"
    w._on_custom(w, {"type": "export", "kind": "exe"}, [b"x"])
    assert set(w.exports) == {"svg"}


CORPUS_TEXT = "\n\n".join([
    "The detective looked at the door. The cat sat on the mat. A dog barked at the mailman.",
    "She opened the window and the cold air came in. The old man walked to the station.",
    "Paris is the capital of France. The river flows through the city. He read it twice.",
] * 2)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, minilm_model):
    """A corpus of a few sentences built for minilm-l6 with exbert.corpus (~7 s)."""
    from exbert.corpus import build

    folder = tmp_path_factory.mktemp("corpus")
    (folder / "text.txt").write_text(CORPUS_TEXT)
    build(folder / "text.txt", minilm_model, folder / "small", layers="all", progress=False)
    return folder / "small"


def test_without_a_corpus_search_says_so(minilm_model):
    w = exbert.show(minilm_model, TEXT)
    assert w.corpus_name == ""
    with pytest.raises(exbert.ExbertError, match="no corpus"):
        w.search(2)


def test_corpus_search_from_python_and_from_the_view(minilm_model, small_corpus):
    w = exbert.show(minilm_model, "The cat looked at the door.", layer=3, corpus=small_corpus)
    assert w.corpus_name
    result = w.search(2, k=5)  # "cat"
    assert len(result.matches) == 5
    # one numbering: the view's layer 3 is the searched layer 3 (caption and histogram alike)
    assert result.layer == 3 and w.search_result["layer"] == 3
    assert w.search_result["query"] == {"token": 2, "text": "cat", "layer": 3}
    # its max attention is that of attentions[3], the layer the view shows
    m = result.matches[0]
    live = minilm_model.analyze(m.text, top_k=0)
    summed = live.attentions[3].sum(axis=0)
    special = [t.special for t in live.tokens]
    summed[special, :] = 0
    summed[:, special] = 0
    assert m.max_attention.out == int(summed[m.position].argmax())
    emb = w.search(2, layer="embeddings", k=3)
    assert emb.layer == "embeddings" and w.search_result["query"]["layer"] == "embeddings"
    best = w.search_result["matches"][0]
    assert best["tokens"][best["position"]]["text"] == "cat"
    # the view's search button sends {type: "search"}; the kernel answers with the trait
    w.heads = [0, 3]
    w._on_custom(w, {"type": "search", "token": 6, "by": "context"}, [])
    assert w.error == ""
    assert w.search_result["by"] == "context" and w.search_result["heads"] == [0, 3]
    assert w.search_result["query"]["text"] == "door"
    w._on_custom(w, {"type": "search", "token": 99, "by": "embedding"}, [])
    assert "token_index" in w.error and w.search_result is None


def test_a_corpus_of_another_model_is_refused(smollm2_model, small_corpus):
    with pytest.raises(exbert.ExbertError):
        exbert.show(smollm2_model, "The cat sat.", corpus=small_corpus)
