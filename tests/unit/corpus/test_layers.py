"""exbert.corpus.layers: default and requested layers."""

from __future__ import annotations

import pytest

from exbert.corpus.layers import default_layers, resolve_layers
from exbert.errors import InvalidRequest


def test_default_layers() -> None:
    assert default_layers(6) == list(range(7))
    assert default_layers(30) == list(range(0, 31, 3))
    assert default_layers(18)[-1] == 18 and default_layers(18)[0] == 0


def test_resolve_layers() -> None:
    assert resolve_layers("all", 6) == list(range(7))
    assert resolve_layers("6,0,3,3", 6) == [0, 3, 6]
    assert resolve_layers([1, 2], 6) == [1, 2]
    with pytest.raises(InvalidRequest, match=r"0\.\.6"):
        resolve_layers("7", 6)
    with pytest.raises(InvalidRequest):
        resolve_layers("a,b", 6)
    assert resolve_layers(" ALL ", 6) == list(range(7))
    assert resolve_layers(None, 6) == default_layers(6)
    with pytest.raises(InvalidRequest, match="no layers"):
        resolve_layers("", 6)
    with pytest.raises(InvalidRequest, match="no layers"):
        resolve_layers([], 6)
