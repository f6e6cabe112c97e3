"""What a search asks besides its query vector, validated once (limits from
:mod:`exbert.view`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exbert.errors import InvalidRequest
from exbert.search.filters import Condition, parse_filters
from exbert.view import DEFAULT_K, DEFAULT_WINDOW, MAX_K, MAX_WINDOW, check_heads

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SearchOptions:
    """``k`` matches (1..MAX_K); ``conditions`` on the matched token; ``heads``: the heads
    of a context search and of the max-attention summary (sorted, None = all);
    ``exact``: False uses the approximate index; ``include_special``: special tokens may be
    matches; ``window``: summary offsets -window..+window (0..MAX_WINDOW);
    ``special_attention``: the max-attention summary counts special tokens."""

    k: int = DEFAULT_K
    conditions: tuple[Condition, ...] = ()
    heads: tuple[int, ...] | None = None
    exact: bool = True
    include_special: bool = False
    window: int = DEFAULT_WINDOW
    special_attention: bool = False

    @classmethod
    def of(cls, n_heads: int, *, k: int = DEFAULT_K, filters: Any = None,
           heads: Sequence[int] | None = None, exact: bool = True,
           include_special: bool = False, window: int = DEFAULT_WINDOW,
           special_attention: bool = False) -> SearchOptions:
        """Validate the keyword arguments of the public search functions."""
        chosen = check_heads(heads, n_heads)
        return cls(k=check_k(k), conditions=tuple(parse_filters(filters)),
                   heads=None if chosen is None else tuple(chosen), exact=bool(exact),
                   include_special=bool(include_special), window=check_window(window),
                   special_attention=bool(special_attention))

    @property
    def head_list(self) -> list[int] | None:
        return None if self.heads is None else list(self.heads)


def check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer between 1 and {MAX_K}", k=k)
    return k


def check_window(window: int) -> int:
    if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= MAX_WINDOW:
        raise InvalidRequest(f"window must be between 0 and {MAX_WINDOW}")
    return window


def as_vector(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as float32 ``shape``, finite and not all zero."""
    import numpy as np

    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{what} must be numbers") from None
    if arr.size != math.prod(shape):
        raise InvalidRequest(f"{what} must have shape {list(shape)}, not {list(arr.shape)}")
    arr = arr.reshape(shape)
    if not np.all(np.isfinite(arr)) or not np.any(arr):
        raise InvalidRequest(f"{what} must be finite and not all zero")
    return arr
