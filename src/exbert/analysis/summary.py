"""One pass over a lazy layer's rows that gives everything the views need of the whole layer.

For every head and query row, with ``s`` the row's scores, ``m`` their maximum,
``e = exp(s - m)`` and ``Z = sum e``: the log-normaliser ``lse = m + log Z`` (after which any
single probability is ``exp(s_ij - lse_i)``, so windows and columns cost only their own
entries), the block summary (rows weighted by ``1/Z`` and summed per query block with one
product, then per key block), and the per-head statistics (first token, self, previous token,
expected distance, entropy ``log Z - sum e (s - m) / Z``). The probabilities are never
normalised as a whole matrix, and one chunk of rows is alive at a time.

A long document's server keeps these per layer (:class:`LayerSummary`, a few MB), computing
them in the background after the analysis, so that a layer change, a column, a window or the
statistics answer without another pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from exbert.analysis.attention import LazyAttention, chunk_rows, diagonal, mask_, scores
from exbert.analysis.record import visible

if TYPE_CHECKING:
    import torch

SUMMARY_BINS = 256
"""Blocks per side of the summary kept per layer (the app's overview): ``min(256, T)``."""

STATS = ("first_token", "previous_token", "self", "mean_distance", "entropy")
"""Per-head statistics, each a mean over the query rows: attention mass on the first token
(the sink), on the previous token, on itself; the expected distance ``|i - j|``; the entropy
of the row (nats)."""


@dataclass(frozen=True)
class LayerSummary:
    """``lse`` float32 [heads, T]; ``blocks`` float32 [heads, bins, bins]; ``stats`` name ->
    float32 [heads]."""

    lse: torch.Tensor
    blocks: np.ndarray
    stats: dict[str, np.ndarray]

    @property
    def nbytes(self) -> int:
        stats = sum(v.nbytes for v in self.stats.values())
        return int(self.lse.numel() * 4 + self.blocks.nbytes + stats)


def summary_bins(n_tokens: int) -> int:
    return min(SUMMARY_BINS, n_tokens)


def block_edges(t: int, bins: int) -> np.ndarray:
    """int64 [bins + 1]: block b covers tokens ``edges[b]..edges[b+1]-1`` (``b * T // bins``)."""
    return (np.arange(bins + 1, dtype=np.int64) * t) // bins


def row_chunks(edges: np.ndarray, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``rows_per_chunk`` rows, cut at block edges where they can be
    (whole query blocks together; a block larger than a chunk is split)."""
    out: list[tuple[int, int]] = []
    step = max(1, rows_per_chunk)
    a, bins = 0, len(edges) - 1
    while a < bins:
        b = a + 1
        while b < bins and edges[b + 1] - edges[a] <= step:
            b += 1
        r0, r1 = int(edges[a]), int(edges[b])
        out += [(x, min(r1, x + step)) for x in range(r0, r1, step)]
        a = b
    return out


def members(edges: np.ndarray, r0: int, r1: int) -> tuple[int, int, torch.Tensor]:
    """The query blocks ``a..b-1`` that rows ``r0..r1-1`` fall in, and float32 [b - a, R]:
    row r's weight 1/|block| in its block (a product with it sums rows into block means)."""
    import torch

    a = int(np.searchsorted(edges, r0, side="right") - 1)
    b = int(np.searchsorted(edges, r1 - 1, side="right"))
    member = torch.zeros((b - a, r1 - r0), dtype=torch.float32)
    for q in range(a, b):
        lo, hi = max(r0, int(edges[q])), min(r1, int(edges[q + 1]))
        member[q - a, lo - r0 : hi - r0] = 1.0 / float(edges[q + 1] - edges[q])
    return a, b, member


def key_sums(agg: torch.Tensor, k0: int, edges: np.ndarray) -> tuple[int, torch.Tensor]:
    """``agg`` [h, n, K] (keys ``k0..``) summed per key block: (first block, [h, n, blocks])."""
    import torch

    k1 = k0 + agg.shape[2]
    b0 = int(np.searchsorted(edges, k0, side="right") - 1)
    b1 = int(np.searchsorted(edges, k1 - 1, side="right"))
    size = int(edges[1] - edges[0])
    if edges[b0] == k0 and edges[b1] == k1 and np.all(np.diff(edges[b0 : b1 + 1]) == size):
        return b0, agg.reshape(agg.shape[0], agg.shape[1], b1 - b0, size).sum(dim=3)
    cuts = torch.from_numpy(np.clip(edges[b0 : b1 + 1], k0, k1) - k0)
    cum = torch.nn.functional.pad(agg.cumsum(dim=2), (1, 0))
    return b0, cum.index_select(2, cuts[1:]) - cum.index_select(2, cuts[:-1])


def mean_distance(p: torch.Tensor, r0: int, k0: int) -> torch.Tensor:
    """[heads, R]: sum_j p_ij |i - j| for rows ``r0..`` over keys ``k0..`` (``p`` need not be
    normalised: linear in it). Keys before the chunk's rows are behind every row and keys
    after ahead, so those parts are matrix-vector products; only the chunk's square is
    elementwise."""
    import torch

    rows, keys = p.shape[1], p.shape[2]
    i = torch.arange(r0, r0 + rows, dtype=torch.float32)
    j = torch.arange(k0, k0 + keys, dtype=torch.float32)
    lo, hi = max(0, r0 - k0), min(keys, r0 + rows - k0)
    out = torch.zeros(p.shape[:2], dtype=torch.float32)
    if lo > 0:
        before = p[:, :, :lo]
        out += i * before.sum(-1) - torch.matmul(before, j[:lo])
    if hi < keys:
        after = p[:, :, hi:]
        out += torch.matmul(after, j[hi:]) - i * after.sum(-1)
    if hi > lo:
        out += (p[:, :, lo:hi] * (i[:, None] - j[None, lo:hi]).abs()).sum(-1)
    return out


def summarise(src: LazyAttention, layer: int) -> LayerSummary:
    """The :class:`LayerSummary` of ``layer`` (all heads; ``summary_bins(T)`` blocks)."""
    import torch

    t, h = src.n_tokens, src.n_heads
    rec, heads = src.records[layer], list(range(h))
    bins = summary_bins(t)
    edges = block_edges(t, bins)
    lse = torch.empty((h, t), dtype=torch.float32)
    blocks = torch.zeros((h, bins, bins), dtype=torch.float32)
    sums = {name: torch.zeros(h, dtype=torch.float64) for name in STATS}
    for r0, r1 in row_chunks(edges, chunk_rows(h, t)):
        k0, k1 = src.key_range(layer, r0, r1)
        s = scores(rec, heads, (r0, r1), (k0, k1))
        mask_(rec, s, r0, k0, fill=-1e30)  # finite: exp gives 0, and 0 * s stays 0
        top = s.amax(dim=-1, keepdim=True)
        s.sub_(top)
        e = torch.exp(s)
        j = torch.arange(k0, k1, dtype=torch.float32)
        moments = torch.matmul(e, torch.stack([torch.ones_like(j), j], dim=1))  # [h, R, 2]
        z = moments[..., 0]
        rows = r1 - r0
        es = torch.bmm(e.reshape(h * rows, 1, -1), s.reshape(h * rows, -1, 1)).reshape(h, rows)
        del s
        lse[:, r0:r1] = top[..., 0] + torch.log(z)
        a, b, member = members(edges, r0, r1)
        b0, part = key_sums(torch.matmul(member[None] / z[:, None, :], e), k0, edges)
        blocks[:, a:b, b0 : b0 + part.shape[2]] += part
        i = torch.arange(r0, r1)
        distance = (i.to(torch.float32) - moments[..., 1] / z if rec.causal and rec.mask is None
                    else mean_distance(e, r0, k0) / z)
        found = {
            "first_token": e[:, :, 0] / z if k0 == 0 else torch.zeros((h, rows)),
            "self": diagonal(e, i - k0) / z,
            "previous_token": diagonal(e, i - 1 - k0) / z,
            "mean_distance": distance,
            "entropy": torch.log(z) - es / z,
        }
        for name, v in found.items():
            sums[name] += v.sum(dim=1).to(torch.float64)
    stats = {name: (v / t).to(torch.float32).numpy() for name, v in sums.items()}
    return LayerSummary(lse=lse, blocks=blocks.numpy(), stats=stats)


def exact_probs(src: LazyAttention, layer: int, summary: LayerSummary, heads: list[int],
                rows: torch.Tensor, keys: tuple[int, int]) -> torch.Tensor:
    """float32 [len(heads), len(rows), k1 - k0]: ``exp(s_ij - lse_i)`` for the given rows and
    keys only (zero where a row cannot see a key)."""
    import torch

    rec = src.records[layer]
    k0, k1 = keys
    q_rows = rows.tolist()
    out = torch.empty((len(heads), len(q_rows), k1 - k0), dtype=torch.float32)
    for n, hd in enumerate(heads):
        q = rec.q[hd, q_rows]  # [R, d]
        s = q @ rec.k[hd // rec.group, k0:k1].T
        s = _cap(rec, s)
        s.sub_(summary.lse[hd, rows][:, None]).exp_()
        s.masked_fill_(~visible(rec, rows, k0, k1), 0.0)
        out[n] = s
    return out


def exact_cols(src: LazyAttention, layer: int, summary: LayerSummary, heads: list[int],
               cols: list[int], weights: np.ndarray) -> np.ndarray:
    """float32 [len(cols), T]: the attention every query row gives to each token of ``cols``
    (zero where it cannot see it), heads mixed by ``weights``, from the kept normalisers; in
    chunks of columns, so the memory is one [T, chunk] block per head."""
    import torch

    rec = src.records[layer]
    t = src.n_tokens
    rows = torch.arange(t)
    out = np.zeros((len(cols), t), dtype=np.float32)
    step = max(1, (8 * 1024 * 1024) // (4 * t))  # [T, step] float32 blocks of 8 MB
    for c0 in range(0, len(cols), step):
        c = torch.as_tensor(cols[c0 : c0 + step], dtype=torch.long)
        if rec.mask is not None:
            ok = rec.mask[:, c]
        else:
            ok = torch.ones((t, len(c)), dtype=torch.bool)
            if rec.causal:
                ok &= c[None, :] <= rows[:, None]
            if rec.window is not None:
                ok &= c[None, :] > rows[:, None] - rec.window
        mixed = torch.zeros((t, len(c)), dtype=torch.float32)
        for n, hd in enumerate(heads):
            s = _cap(rec, rec.q[hd] @ rec.k[hd // rec.group, c].T)
            s.sub_(summary.lse[hd][:, None]).exp_().masked_fill_(~ok, 0.0)
            mixed.add_(s, alpha=float(weights[n]))
        out[c0 : c0 + len(c)] = mixed.T.numpy()
    return out


def _cap(rec: object, s: torch.Tensor) -> torch.Tensor:
    scaling = float(getattr(rec, "scaling", 1.0))
    softcap = getattr(rec, "softcap", None)
    s = s.mul_(scaling)
    if softcap is not None:
        s = s.div_(softcap).tanh_().mul_(softcap)
    return s
