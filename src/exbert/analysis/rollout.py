"""Attention rollout and attention flow (Abnar & Zuidema 2020).

Both start from each layer's attention with the residual connection folded in: the heads mixed
as the app mixes them (:func:`~exbert.analysis.views.head_weights`), then
``A'_l = residual * I + (1 - residual) * A_l`` with rows renormalised.

- :func:`rollout`: ``R_0 = A'_0``, ``R_l = A'_l @ R_{l-1}``; row ``[l, i]`` is how token i after
  layer l draws on the input tokens. Products of row-stochastic matrices, so rows sum to 1, and
  a causal model's zeros above the diagonal stay zero.
- :func:`attention_flow`: the max-flow from token i after a layer to input token j through the
  layered graph whose edge ``(l + 1, a) -> (l, b)`` has capacity ``A'_l[a, b]``
  (:mod:`exbert.analysis.flow`), rows normalised. For inputs up to
  :data:`~exbert.view.MAX_FLOW_TOKENS` tokens.

Both read the attention through :attr:`Analysis.source` a chunk of rows at a time
(:func:`~exbert.analysis.views.attention_rows`), so full and lazy analyses give the same
numbers; only the result (and one layer's [T, T]) is held.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from exbert.analysis import views
from exbert.analysis.attention import AttentionSource
from exbert.analysis.flow import layered_max_flow
from exbert.analysis.types import Analysis
from exbert.errors import InvalidRequest, TooLargeForBudget
from exbert.view import DEFAULT_RESIDUAL, MAX_FLOW_TOKENS, MAX_ROLLOUT_BYTES

if TYPE_CHECKING:
    import torch


def check_residual(residual: float) -> float:
    if isinstance(residual, bool) or not isinstance(residual, (int, float, np.floating)) or \
            not math.isfinite(residual) or not 0.0 <= residual <= 1.0:
        raise InvalidRequest(f"residual must be a number from 0 to 1, not {residual!r}",
                             residual=str(residual))
    return float(residual)


def residual_attention(src: AttentionSource, layer: int, heads: list[int], weights: np.ndarray,
                       residual: float) -> torch.Tensor:
    """float32 [T, T]: ``residual * I + (1 - residual) * A`` of ``layer``'s head mix, rows
    renormalised (a row with no mass at all keeps the identity)."""
    import torch

    t = src.n_tokens
    mixed = views.attention_rows(src, layer, heads, range(t), weights.tolist())
    a = torch.from_numpy(mixed).mul_(1.0 - residual)
    a.diagonal().add_(residual)
    sums = a.sum(dim=1, keepdim=True)
    empty = sums[:, 0] <= 0
    if bool(empty.any()):
        a[empty] = torch.eye(t, dtype=torch.float32)[empty]
        sums[empty] = 1.0
    return a.div_(sums)


def _checked(analysis: Analysis, heads: Sequence[int] | None, weights: Sequence[float] | None,
             residual: float) -> tuple[AttentionSource, list[int], np.ndarray, float]:
    src = analysis.source
    hs = views.check_heads(src, heads)
    return src, hs, views.head_weights(weights, len(hs)), check_residual(residual)


def rollout(analysis: Analysis, *, heads: Sequence[int] | None = None,
            weights: Sequence[float] | None = None,
            residual: float = DEFAULT_RESIDUAL) -> np.ndarray:
    """float32 [layers, T, T]: row ``[l, i]`` is how token i's representation after layer l
    draws on the input tokens, attention rolled out through layers 0..l with the residual
    connection (``residual * I + (1 - residual) * A``, rows renormalised). ``heads``: the
    heads mixed (None: all, their mean); ``weights``: their weights (as the app mixes them).
    Past :data:`~exbert.view.MAX_ROLLOUT_BYTES` of result: :class:`TooLargeForBudget`."""
    import torch

    src, hs, w, res = _checked(analysis, heads, weights, residual)
    n_layers, t = src.n_layers, src.n_tokens
    need = n_layers * t * t * 4
    if need > MAX_ROLLOUT_BYTES:
        longest = math.isqrt(MAX_ROLLOUT_BYTES // (4 * n_layers))
        raise TooLargeForBudget(
            f"a rollout of {t} tokens through {n_layers} layers is {need / 2**20:.0f} MiB "
            f"(float32 layers x T x T), past the {MAX_ROLLOUT_BYTES / 2**20:.0f} MiB limit; "
            f"analyse at most {longest} tokens of this model, or read raw attention instead",
            tokens=t, layers=n_layers, bytes=need, limit=MAX_ROLLOUT_BYTES)
    out = np.empty((n_layers, t, t), dtype=np.float32)
    result = torch.from_numpy(out)
    for layer in range(n_layers):
        a = residual_attention(src, layer, hs, w, res)
        if layer == 0:
            result[0] = a
        else:
            torch.matmul(a, result[layer - 1], out=result[layer])
    return out


def attention_flow(analysis: Analysis, *, layer: int = -1, heads: Sequence[int] | None = None,
                   weights: Sequence[float] | None = None,
                   residual: float = DEFAULT_RESIDUAL) -> np.ndarray:
    """float32 [T, T]: the max-flow from token i after ``layer`` to input token j through the
    attention graph of layers 0..layer, rows normalised to sum to 1 (inputs up to
    :data:`~exbert.view.MAX_FLOW_TOKENS` tokens)."""
    src, hs, w, res = _checked(analysis, heads, weights, residual)
    index = views.check_layer(src, layer)
    t = src.n_tokens
    if t > MAX_FLOW_TOKENS:
        raise InvalidRequest(
            f"attention flow (one max-flow per pair of tokens) is computed for inputs of at "
            f"most {MAX_FLOW_TOKENS} tokens, and this one has {t}; use rollout instead, or "
            f"analyse a shorter text", tokens=t, limit=MAX_FLOW_TOKENS)
    caps = np.stack([residual_attention(src, x, hs, w, res).numpy() for x in range(index + 1)])
    flow = layered_max_flow(caps)
    sums = flow.sum(axis=1, keepdims=True)
    out: np.ndarray = np.divide(flow, sums, out=np.zeros_like(flow), where=sums > 0)
    return out.astype(np.float32)
