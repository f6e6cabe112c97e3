"""Attention probabilities for a block of query rows, from either form an analysis keeps.

- :class:`DenseAttention`: the full ``[layers, heads, T, T]`` array (``attention="full"``).
- :class:`LazyAttention`: the recorded queries and keys (:mod:`exbert.analysis.record`); the
  rows are recomputed exactly (``softmax(q k^T * scaling + mask)`` in float32), only over the
  keys a row can see (causal: keys up to the last row; sliding window: the window).

Both answer :meth:`probs`: ``(k0, p)`` with ``p`` float32 [heads, rows, k1 - k0] the rows'
attention over keys ``k0..k1-1`` (zero elsewhere). :mod:`exbert.analysis.views` builds rows,
windows, blocks and statistics on it, in chunks of rows whose size bounds the memory.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from exbert.analysis.record import LayerRecord, visible

if TYPE_CHECKING:
    import torch

CHUNK_BYTES = 32 * 1024 * 1024
"""Bound on one block of probabilities [heads, rows, keys] in float32 (per computation)."""


class AttentionSource(Protocol):
    @property
    def n_layers(self) -> int: ...

    @property
    def n_heads(self) -> int: ...

    @property
    def n_tokens(self) -> int: ...

    def probs(self, layer: int, heads: Sequence[int], r0: int, r1: int
              ) -> tuple[int, torch.Tensor]: ...

    def key_range(self, layer: int, r0: int, r1: int) -> tuple[int, int]: ...


def chunk_rows(heads: int, keys: int) -> int:
    """Rows per chunk so that [heads, rows, keys] float32 stays within :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // (4 * max(1, heads) * max(1, keys)))


@dataclass
class DenseAttention:
    """``array``: float32 or float16 [layers, heads, T, T]."""

    array: np.ndarray

    @property
    def n_layers(self) -> int:
        return int(self.array.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.array.shape[1])

    @property
    def n_tokens(self) -> int:
        return int(self.array.shape[2])

    def key_range(self, layer: int, r0: int, r1: int) -> tuple[int, int]:
        return 0, self.n_tokens

    def probs(self, layer: int, heads: Sequence[int], r0: int, r1: int
              ) -> tuple[int, torch.Tensor]:
        import torch

        part = self.array[layer][list(heads), r0:r1]
        return 0, torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))


@dataclass
class LazyAttention:
    """The recorded attention inputs of every layer (``records[l]`` is layer ``l``)."""

    records: list[LayerRecord]

    @property
    def n_layers(self) -> int:
        return len(self.records)

    @property
    def n_heads(self) -> int:
        return int(self.records[0].q.shape[0])

    @property
    def n_tokens(self) -> int:
        return int(self.records[0].q.shape[1])

    @property
    def nbytes(self) -> int:
        masks = {id(r.mask): r.mask for r in self.records if r.mask is not None}
        return int(sum(r.nbytes for r in self.records) + sum(m.numel() for m in masks.values()))

    def key_range(self, layer: int, r0: int, r1: int) -> tuple[int, int]:
        """The keys rows ``r0..r1-1`` can see at most (the whole row without a known shape)."""
        rec = self.records[layer]
        if rec.mask is not None:
            return 0, self.n_tokens
        k1 = r1 if rec.causal else self.n_tokens
        k0 = max(0, r0 - rec.window + 1) if rec.window is not None and rec.causal else 0
        return k0, k1

    def probs(self, layer: int, heads: Sequence[int], r0: int, r1: int
              ) -> tuple[int, torch.Tensor]:
        import torch

        rec = self.records[layer]
        k0, k1 = self.key_range(layer, r0, r1)
        s = scores(rec, list(heads), (r0, r1), (k0, k1))
        mask_(rec, s, r0, k0)
        return k0, torch.softmax(s, dim=-1)


def diagonal(e: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """[heads, R]: ``e[h, r, cols[r]]`` where ``0 <= cols[r] < K``, else 0."""
    import torch

    ok = (cols >= 0) & (cols < e.shape[2])
    got = e.gather(2, cols.clamp(0, e.shape[2] - 1)[None, :, None].expand(e.shape[0], -1, 1))
    return torch.where(ok[None, :], got.squeeze(-1), torch.zeros((), dtype=e.dtype))


@functools.lru_cache(maxsize=8)
def _above(rows: int, cols: int) -> torch.Tensor:
    """Boolean [rows, cols]: True above the diagonal (what a causal row cannot see)."""
    import torch

    return torch.ones((rows, cols), dtype=torch.bool).triu_(1)


def mask_(rec: LayerRecord, scores: torch.Tensor, r0: int, k0: int,
          fill: float = float("-inf")) -> None:
    """Set the scores of the keys rows ``r0..`` cannot see to ``fill``, in place. A causal
    layer without a window only needs it on the chunk's own square (keys before ``r0`` are
    seen by every row of it)."""
    import torch

    rows, keys = scores.shape[1], scores.shape[2]
    if rec.mask is None and rec.window is None:
        if rec.causal and rows > 1:  # the chunk's square is a triangle
            square = scores[:, :, r0 - k0 : r0 - k0 + rows]
            square.masked_fill_(_above(rows, square.shape[2]), fill)
        return
    ok = visible(rec, torch.arange(r0, r0 + rows), k0, k0 + keys)
    if not bool(ok.all()):
        scores.masked_fill_(~ok, fill)


def scores(rec: LayerRecord, heads: list[int], rows: tuple[int, int], keys: tuple[int, int]
           ) -> torch.Tensor:
    """The scores softmax sees, float32 [len(heads), R, K] (scaled, softcapped; unmasked)."""
    if rec.softcap is None:
        return _scores(rec, heads, rows, keys, rec.scaling)
    s = _scores(rec, heads, rows, keys, None)
    return s.mul_(rec.scaling).div_(rec.softcap).tanh_().mul_(rec.softcap)


def _scores(rec: LayerRecord, heads: list[int], rows: tuple[int, int], keys: tuple[int, int],
            scale: float | None) -> torch.Tensor:
    """``(q * scale) k^T`` float32 [len(heads), R, K] for the query rows and keys given (the
    scale applied to the few query rows, not to the scores), without copying the keys per
    query head: heads that share a key head (grouped-query attention) are multiplied
    together, into contiguous slices of one output."""
    import torch

    (r0, r1), (k0, k1) = rows, keys
    group, n_heads = rec.group, int(rec.q.shape[0])
    q_all = rec.q[:, r0:r1] * scale if scale is not None else rec.q[:, r0:r1]
    if heads == list(range(n_heads)):
        kv = rec.k.shape[0]
        q = q_all.contiguous().reshape(kv, group * (r1 - r0), -1)  # heads of one key head
        out = torch.bmm(q, rec.k[:, k0:k1].transpose(1, 2))
        return out.reshape(n_heads, r1 - r0, k1 - k0)
    order = sorted(range(len(heads)), key=lambda i: heads[i] // group)
    out = torch.empty((len(heads), r1 - r0, k1 - k0), dtype=torch.float32)
    start = 0
    while start < len(order):
        kvh = heads[order[start]] // group
        stop = start
        while stop < len(order) and heads[order[stop]] // group == kvh:
            stop += 1
        q = q_all[[heads[i] for i in order[start:stop]]]
        torch.matmul(q, rec.k[kvh, k0:k1].T, out=out[start:stop])
        start = stop
    if order != list(range(len(heads))):
        out = out[torch.as_tensor([order.index(i) for i in range(len(heads))])]
    return out
