"""Attention rollout and attention flow (Abnar & Zuidema 2020). CONTRACT STUB, to be built."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exbert.analysis.types import Analysis
from exbert.view import DEFAULT_RESIDUAL


def rollout(analysis: Analysis, *, heads: Sequence[int] | None = None,
            weights: Sequence[float] | None = None,
            residual: float = DEFAULT_RESIDUAL) -> np.ndarray:
    """float32 [layers, T, T]: row ``[l, i]`` is how token i's representation after layer l
    draws on the input tokens, attention rolled out through layers 0..l with the residual
    connection (``residual * I + (1 - residual) * A``, rows renormalised). ``heads``: the
    heads mixed (None: all, their mean); ``weights``: their weights (as the app mixes them)."""
    raise NotImplementedError


def attention_flow(analysis: Analysis, *, layer: int = -1, heads: Sequence[int] | None = None,
                   weights: Sequence[float] | None = None,
                   residual: float = DEFAULT_RESIDUAL) -> np.ndarray:
    """float32 [T, T]: the max-flow from token i after ``layer`` to input token j through the
    attention graph of layers 0..layer, rows normalised to sum to 1 (inputs up to
    :data:`~exbert.view.MAX_FLOW_TOKENS` tokens)."""
    raise NotImplementedError
