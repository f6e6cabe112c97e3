"""The widget's corpus search runs at the block that the shown view layer draws."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exbert.errors import InvalidRequest
from exbert.notebook.corpus import search


class _Result:
    def to_dict(self):
        return {"matches": []}


@pytest.fixture
def calls(monkeypatch):
    import exbert.search

    seen = []

    def fake_search(model, corpus, analysis, token, layer, **kwargs):
        seen.append((token, layer, kwargs))
        return _Result()

    monkeypatch.setattr(exbert.search, "search", fake_search)
    return seen


def _widget(**kw):
    tokens = [SimpleNamespace(text=t) for t in ("[CLS]", "hi", "[SEP]")]
    base = {"corpus": object(), "model": object(), "analysis": SimpleNamespace(tokens=tokens),
            "n_layers": 6, "hide_special": True, "search_result": None}
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("layer, block", [(0, 1), (5, 6), (-1, 6)])
def test_view_layer_maps_to_its_block(calls, layer, block):
    w = _widget()
    search(w, 1, layer=layer, by="context", heads=[0])
    token, got, kwargs = calls[-1]
    assert (token, got) == (1, block)
    assert kwargs["heads"] == [0] and kwargs["special_attention"] is False
    # the caption names the view layer it searched, resolved (-1 is the last, 5)
    assert w.search_result["query"] == {"token": 1, "text": "hi", "view_layer": block - 1}


def test_out_of_range_layer_and_no_corpus_are_refused(calls):
    with pytest.raises(InvalidRequest, match="out of range"):
        search(_widget(), 1, layer=6)
    with pytest.raises(InvalidRequest, match="no corpus"):
        search(_widget(corpus=None), 1, layer=0)
    assert not calls
