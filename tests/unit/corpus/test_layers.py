"""exbert.corpus.layers: default and requested layers. Users name layers as everywhere
(``embeddings``, 0-based transformer layers); the corpus stores hidden-state indices."""

from __future__ import annotations

import pytest

from exbert.corpus.layers import default_layers, format_layers, resolve_layers
from exbert.errors import InvalidRequest


def test_default_layers() -> None:
    assert default_layers(6) == list(range(7))
    assert default_layers(30) == list(range(0, 31, 3))
    assert default_layers(18)[-1] == 18 and default_layers(18)[0] == 0


def test_resolve_layers_in_the_one_numbering() -> None:
    # "all": the embeddings and every layer
    assert resolve_layers("all", 6) == list(range(7))
    assert resolve_layers(" ALL ", 6) == list(range(7))
    # layer i is stored as hidden-state index i + 1; the embeddings as 0
    assert resolve_layers("5,0,3,3", 6) == [1, 4, 6]
    assert resolve_layers("embeddings,0,5", 6) == [0, 1, 6]
    assert resolve_layers(["embeddings", 0, -1], 6) == [0, 1, 6]
    assert resolve_layers([1, 2], 6) == [2, 3]
    assert resolve_layers(None, 6) == default_layers(6)


def test_resolve_layers_refuses_what_the_model_does_not_have() -> None:
    with pytest.raises(InvalidRequest, match=r"layer 6 is out of range.*0\.\.5"):
        resolve_layers("6", 6)
    with pytest.raises(InvalidRequest, match="integer or 'embeddings'"):
        resolve_layers("a,b", 6)
    with pytest.raises(InvalidRequest, match="no layers"):
        resolve_layers("", 6)
    with pytest.raises(InvalidRequest, match="no layers"):
        resolve_layers([], 6)


def test_format_layers_is_what_resolve_layers_reads() -> None:
    assert format_layers([0, 1, 6]) == "embeddings,0,5"
    for spec in ("embeddings,0,5", "1,2", "embeddings"):
        assert format_layers(resolve_layers(spec, 6)) == spec
