"""What the views read from an analysis' attention, full or lazy, in chunks of query rows:
rows and columns (a mix of heads), a window's token-level edges, block summaries and per-head
statistics. Each works on an :class:`~exbert.analysis.attention.AttentionSource`, so a full and
a lazy analysis of the same text give the same numbers; peak memory is one chunk
(:data:`~exbert.analysis.attention.CHUNK_BYTES`) plus the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from exbert.analysis.attention import AttentionSource, chunk_rows
from exbert.analysis.summary import (
    STATS,
    block_edges,
    key_sums,
    mean_distance,
    members,
    row_chunks,
)
from exbert.errors import InvalidRequest

if TYPE_CHECKING:
    import torch

def check_layer(src: AttentionSource, layer: int) -> int:
    n = src.n_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -n <= layer < n:
        raise InvalidRequest(f"layer must be an attention layer 0..{n - 1} (or negative from "
                             f"the end), not {layer!r}", layer=str(layer))
    return int(layer) % n


def check_heads(src: AttentionSource, heads: Sequence[int] | None) -> list[int]:
    if heads is None:
        return list(range(src.n_heads))
    out = [int(h) for h in heads]
    if not out or any(not 0 <= h < src.n_heads for h in out):
        raise InvalidRequest(f"heads must be a non-empty list of heads 0..{src.n_heads - 1}",
                             heads=str(list(heads)))
    return out


def check_positions(src: AttentionSource, positions: Sequence[int], what: str) -> list[int]:
    out = [int(p) for p in positions]
    if any(not 0 <= p < src.n_tokens for p in out):
        raise InvalidRequest(f"{what} must be token positions 0..{src.n_tokens - 1}",
                             **{what: str(list(positions))[:200]})
    return out


def head_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    """Weights of ``n`` heads as the app mixes them: negatives and non-finite count as 0,
    all zero (or None) means equal; summing to 1."""
    if weights is None:
        return np.full(n, 1.0 / n, dtype=np.float32)
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (n,):
        raise InvalidRequest(f"weights must give one weight per head ({n})",
                             weights=str(list(weights)))
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    total = w.sum()
    return (w / total if total > 0 else np.full(n, 1.0 / n)).astype(np.float32)


def _mixed(src: AttentionSource, layer: int, heads: list[int], w: np.ndarray,
           span: tuple[int, int]) -> tuple[int, torch.Tensor]:
    """Rows ``span`` of the weighted mix of ``heads``: (k0, float32 [R, K])."""
    import torch

    k0, p = src.probs(layer, heads, *span)
    mixed = torch.einsum("h,hrk->rk", torch.from_numpy(w), p)
    return k0, mixed


def attention_rows(src: AttentionSource, layer: int, heads: Sequence[int] | None,
                   rows: Sequence[int], weights: Sequence[float] | None = None) -> np.ndarray:
    """float32 [len(rows), T]: each row's attention over all tokens, heads mixed by weight."""
    layer = check_layer(src, layer)
    hs = check_heads(src, heads)
    wanted = check_positions(src, rows, "rows")
    w = head_weights(weights, len(hs))
    t = src.n_tokens
    out = np.zeros((len(wanted), t), dtype=np.float32)
    where: dict[int, list[int]] = {}
    for i, r in enumerate(wanted):
        where.setdefault(r, []).append(i)
    for r0, r1 in _runs(wanted, chunk_rows(len(hs), t)):
        k0, m = _mixed(src, layer, hs, w, (r0, r1))
        block = m.numpy()
        for r in range(r0, r1):
            out[where[r], k0 : k0 + block.shape[1]] = block[r - r0]
    return out


def _runs(rows: Sequence[int], longest: int) -> list[tuple[int, int]]:
    """Ranges ``(r0, r1)`` of consecutive rows covering ``rows``, each at most ``longest``."""
    out: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if out and out[-1][1] == r and r - out[-1][0] < longest:
            out[-1] = (out[-1][0], r + 1)
        else:
            out.append((r, r + 1))
    return out


def attention_cols(src: AttentionSource, layer: int, heads: Sequence[int] | None,
                   cols: Sequence[int], weights: Sequence[float] | None = None) -> np.ndarray:
    """float32 [len(cols), T]: the attention each token of ``cols`` receives from every query
    token (heads mixed by weight). Needs every row's normalisation: one pass over the rows
    that can see the columns (causal models: from the first column on)."""
    layer = check_layer(src, layer)
    hs = check_heads(src, heads)
    wanted = check_positions(src, cols, "cols")
    w = head_weights(weights, len(hs))
    t = src.n_tokens
    out = np.zeros((len(wanted), t), dtype=np.float32)
    if not wanted:
        return out
    first = min(wanted) if src.key_range(layer, 0, 1)[1] < t else 0  # causal: rows >= col
    step = chunk_rows(len(hs), t)
    cols_arr = np.asarray(wanted)
    for r0 in range(first, t, step):
        r1 = min(t, r0 + step)
        k0, m = _mixed(src, layer, hs, w, (r0, r1))
        inside = (cols_arr >= k0) & (cols_arr < k0 + m.shape[1])
        if inside.any():
            idx = np.nonzero(inside)[0]
            out[idx, r0:r1] = m[:, cols_arr[idx] - k0].numpy().T
    return out


def attention_window_bounds(t: int, start: int, stop: int) -> None:
    if not 0 <= start < stop <= t:
        raise InvalidRequest(f"window must satisfy 0 <= start < stop <= {t}",
                             start=start, stop=stop)


def attention_window(src: AttentionSource, layer: int, start: int, stop: int,
                     heads: Sequence[int] | None = None) -> np.ndarray:
    """float32 [len(heads), W, W]: per head, the attention of tokens ``start..stop-1`` to the
    same tokens (the window's edges; rows do not sum to 1 when attention leaves the window)."""
    layer = check_layer(src, layer)
    hs = check_heads(src, heads)
    t = src.n_tokens
    attention_window_bounds(t, start, stop)
    out = np.zeros((len(hs), stop - start, stop - start), dtype=np.float32)
    step = chunk_rows(len(hs), t)
    for r0 in range(start, stop, step):
        r1 = min(stop, r0 + step)
        k0, p = src.probs(layer, hs, r0, r1)
        lo, hi = max(start, k0), min(stop, k0 + p.shape[2])
        if lo < hi:
            part = p[:, :, lo - k0 : hi - k0].numpy()
            out[:, r0 - start : r1 - start, lo - start : hi - start] = part
    return out


def attention_blocks(src: AttentionSource, layer: int, bins: int,
                     heads: Sequence[int] | None = None) -> np.ndarray:
    """float32 [len(heads), bins, bins]: entry (h, a, b) is the mean over query block a's
    tokens of the attention they give to key block b (so each row sums to 1). ``bins`` is
    clipped to T.

    Chunks of whole query blocks: each chunk's rows are summed per query block with one
    matrix product (weights 1/|block|), then per key block through a cumulative sum."""
    import torch

    layer = check_layer(src, layer)
    hs = check_heads(src, heads)
    t = src.n_tokens
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InvalidRequest("bins must be a positive integer", bins=str(bins))
    bins = min(int(bins), t)
    edges = block_edges(t, bins)
    out = torch.zeros((len(hs), bins, bins), dtype=torch.float32)
    for r0, r1 in row_chunks(edges, chunk_rows(len(hs), t)):
        k0, p = src.probs(layer, hs, r0, r1)
        a, b, member = members(edges, r0, r1)
        b0, sums = key_sums(torch.matmul(member, p), k0, edges)
        out[:, a:b, b0 : b0 + sums.shape[2]] += sums
    result: np.ndarray = out.numpy()
    return result


def head_stats(src: AttentionSource, layers: Sequence[int] | None = None
               ) -> dict[str, np.ndarray]:
    """:data:`STATS`, each float32 [len(layers), heads] (all layers by default), from the
    normalised rows (a lazy analysis computes them in its layer summaries instead:
    :mod:`exbert.analysis.summary`)."""
    import torch

    chosen = list(range(src.n_layers)) if layers is None else [check_layer(src, x) for x in layers]
    t, heads = src.n_tokens, list(range(src.n_heads))
    sums = {name: np.zeros((len(chosen), src.n_heads), dtype=np.float64) for name in STATS}
    step = chunk_rows(len(heads), t)
    for n, layer in enumerate(chosen):
        for r0 in range(0, t, step):
            r1 = min(t, r0 + step)
            k0, p = src.probs(layer, heads, r0, r1)
            rows = torch.arange(r0, r1)
            acc = {
                "first_token": p[:, :, 0] if k0 == 0 else torch.zeros(p.shape[:2]),
                "self": _pick(p, rows - k0),
                "previous_token": _pick(p, rows - 1 - k0),
                "mean_distance": mean_distance(p, r0, k0),
                "entropy": -torch.special.xlogy(p, p).sum(-1),
            }
            for name, v in acc.items():
                sums[name][n] += v.sum(dim=1).to(torch.float64).numpy()
    return {name: (s / t).astype(np.float32) for name, s in sums.items()}


def _pick(p: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """[heads, R]: ``p[h, r, cols[r]]`` where ``0 <= cols[r] < K``, else 0."""
    import torch

    ok = (cols >= 0) & (cols < p.shape[2])
    idx = cols.clamp(0, p.shape[2] - 1)
    got = p.gather(2, idx[None, :, None].expand(p.shape[0], -1, 1)).squeeze(-1)
    return torch.where(ok[None, :], got, torch.zeros((), dtype=p.dtype))
