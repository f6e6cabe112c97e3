"""The widget's corpus search runs at the layer the view shows, in the one numbering."""

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


@pytest.mark.parametrize("layer, searched", [(0, 0), (5, 5), (-1, 5), ("embeddings", "embeddings"),
                                             ("3", 3)])
def test_the_view_layer_is_the_searched_layer(calls, layer, searched):
    w = _widget()
    search(w, 1, layer=layer, by="context", heads=[0])
    token, got, kwargs = calls[-1]
    assert (token, got) == (1, searched)
    assert kwargs["heads"] == [0] and kwargs["special_attention"] is False
    # the caption names the layer it searched, resolved (-1 is the last, 5)
    assert w.search_result["query"] == {"token": 1, "text": "hi", "layer": searched}


def test_out_of_range_layer_and_no_corpus_are_refused(calls):
    with pytest.raises(InvalidRequest, match="out of range"):
        search(_widget(), 1, layer=6)
    with pytest.raises(InvalidRequest, match="no corpus"):
        search(_widget(corpus=None), 1, layer=0)
    assert not calls
