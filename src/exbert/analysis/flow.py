"""Max-flow through a layered attention graph (attention flow, Abnar & Zuidema 2020).

The graph has nodes ``(m, a)`` for layers ``m = 0..D`` and tokens ``a``; edge
``(m + 1, a) -> (m, b)`` has capacity ``caps[m, a, b]``. :func:`layered_max_flow` answers, for
every pair of tokens, the max-flow from ``(D, i)`` to ``(0, j)``: T x T max-flow problems.

They are solved together, as tensors, by push-relabel (Goldberg & Tarjan), with what the
layered shape allows:

- Each problem keeps only its *live* tokens, those on some path from its source to its sink
  (a causal model's pair (i, j) only tokens j..i: most pairs are small), padded with other
  tokens to a multiple of T / 4; problems of one size form a batch [problems, D, k, k].
- A layer's nodes share no edge, so a whole layer of every problem of a batch is discharged at
  once (push along admissible edges, proportionally to their residual capacity, then relabel
  the nodes still holding excess), the layers visited in sweeps down and up the graph; exact
  distance labels (a breadth-first relaxation of the residual graph) start the run and are
  refreshed between sweeps.
- A problem stops as soon as its sink holds the capacity of its smaller trivial cut (all edges
  out of the source or all edges into the sink: no flow can be larger, and the preflow's sink
  excess is the value of a flow), or when no node that can still reach the sink holds excess
  (then the preflow is maximal).

Values are within :data:`CUT_TOLERANCE` of the maximum (float64 arithmetic). Cost (see
``benchmarks/bench_lenses.py``): T = 16 under a second, T = 32 a few seconds, T = 64 through 30
layers about half a minute on two CPU cores; peak memory a few batches of 32 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

TOLERANCE = 1e-9
"""Excess and residual capacity below this count as zero."""

CUT_TOLERANCE = 1e-5
"""A problem whose sink is this close to its smaller trivial cut is done (the flow is within
this of the maximum)."""

_EPS = 1e-12
_SWEEPS = 4  # sweeps down and up the layers between exact relabellings
_MAX_ROUNDS = 100_000
_BATCH_EDGES = 4_000_000  # edges of one batch of problems (float64: 32 MB per tensor)


def layered_max_flow(caps: np.ndarray) -> np.ndarray:
    """float64 [T, T]: ``out[i, j]`` the max-flow from ``(D, i)`` to ``(0, j)`` of the layered
    graph with capacities ``caps`` (float, [D, T, T], non-negative; edge layer ``m`` joins
    node layer ``m + 1`` (rows) to node layer ``m`` (columns))."""
    import torch

    c = torch.from_numpy(np.asarray(caps, dtype=np.float64))
    if c.ndim != 3 or c.shape[1] != c.shape[2] or bool((c < 0).any()):
        raise ValueError("caps must be non-negative, [layers, T, T]")
    d, t = int(c.shape[0]), int(c.shape[1])
    c = torch.where(c > _EPS, c, 0.0)
    out = np.zeros((t, t), dtype=np.float64)
    if d == 1:
        out[:] = c[0].numpy()
        return out
    groups: dict[int, list[tuple[int, int, list[int], list[bool]]]] = {}
    grain = max(8, t // 4)
    for i, j, live in _live_sets(c):
        size = min(t, -(-len(live) // grain) * grain)
        padded, alive = _padded(live, size), set(live)
        groups.setdefault(size, []).append((i, j, padded, [x in alive for x in padded]))
    for k, problems in sorted(groups.items()):
        step = max(1, _BATCH_EDGES // (d * k * k))
        for s in range(0, len(problems), step):
            part = problems[s : s + step]
            idx = torch.tensor([p[2] for p in part], dtype=torch.long)  # [B, k]
            sub = _gather(c, idx)
            src = torch.tensor([p[2].index(p[0]) for p in part])
            snk = torch.tensor([p[2].index(p[1]) for p in part])
            real = torch.tensor([p[3] for p in part])
            values = _solve(sub, src, snk, real).numpy()
            for (i, j, _, _), v in zip(part, values, strict=True):
                out[i, j] = v
    return out


def _live_sets(c: torch.Tensor) -> list[tuple[int, int, list[int]]]:
    """(i, j, live tokens) of every pair with a path from (D, i) to (0, j): the tokens that
    are, at some layer, both reachable from the source and able to reach the sink."""
    import torch

    d, t = int(c.shape[0]), int(c.shape[1])
    edge = (c > 0).to(torch.float32)
    eye = torch.eye(t)
    down = [eye]  # down[m][i, a]: (D, i) reaches (D - m, a)
    for m in range(d):
        down.append((down[-1] @ edge[d - 1 - m] > 0).to(torch.float32))
    up = [eye]  # up[m][a, j]: (m, a) reaches (0, j)
    for m in range(d):
        up.append((edge[m] @ up[-1] > 0).to(torch.float32))
    # live[i, j, a]: some layer m (1..D-1) with (D, i) -> (m, a) -> (0, j)
    live = torch.zeros((t, t, t), dtype=torch.bool)
    for m in range(1, d):
        live |= (down[d - m][:, None, :] > 0) & (up[m].T[None, :, :] > 0)
    found = down[d] > 0
    out = []
    for i, j in zip(*np.nonzero(found.numpy()), strict=True):
        tokens = torch.nonzero(live[i, j]).flatten().tolist()
        for x in (int(i), int(j)):
            if x not in tokens:
                tokens.append(x)
        out.append((int(i), int(j), sorted(tokens)))
    return out


def _padded(live: list[int], size: int) -> list[int]:
    """``live`` and other tokens up to ``size`` distinct ones: batches of one size cost fewer
    steps than many small ones. A token that is not live is harmless: no flow reaches it or
    it cannot reach the sink (its height stays past every active node's)."""
    taken = set(live)
    extra = [x for x in range(size) if x not in taken][: size - len(live)]  # enough: size <= T
    return sorted(live + extra)


def _gather(c: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """[B, D, k, k]: each problem's capacities among its live tokens."""
    b, k = idx.shape
    rows = c[:, idx]  # [D, B, k, T]
    sub = rows.gather(3, idx[None, :, None, :].expand(c.shape[0], b, k, k))
    return sub.permute(1, 0, 2, 3).contiguous()


class _State:
    """One batch of problems: capacities ``c`` [B, D, k, k], flows ``f`` (same), excess ``e``
    and heights ``h`` [B, D + 1, k]; node layer D holds the sources, layer 0 the sinks."""

    def __init__(self, c: torch.Tensor, src: torch.Tensor, snk: torch.Tensor,
                 real: torch.Tensor) -> None:
        import torch

        b, d, k, _ = c.shape
        self.c, self.d, self.n = c, d, (d + 1) * k
        self.rows = torch.arange(b)
        self.f = torch.zeros_like(c)
        self.e = torch.zeros((b, d + 1, k), dtype=c.dtype)
        self.snk = snk
        top = c[self.rows, d - 1, src]  # [B, k]: the source's edges
        self.f[self.rows, d - 1, src] = top
        self.e[:, d - 1] = top
        bottom = c[self.rows, 0, :, snk]  # [B, k]: the edges into the sink
        # the trivial cuts, over the live tokens only (``real``: not padding)
        self.bound = torch.minimum((top * real).sum(1), (bottom * real).sum(1)) - CUT_TOLERANCE
        self.h = torch.zeros((b, d + 1, k), dtype=torch.float32)
        self.ids = torch.arange(b)  # each problem's place in the batch it came in

    def keep(self, left: torch.Tensor) -> None:
        """Drop the problems not ``left``."""
        import torch

        self.ids = self.ids[left]
        self.c, self.f, self.e, self.h = self.c[left], self.f[left], self.e[left], self.h[left]
        self.snk, self.bound = self.snk[left], self.bound[left]
        self.rows = torch.arange(int(left.sum()))

    def relabel_all(self) -> None:
        """Exact distances to the sink in the residual graph (``n``: cannot reach it)."""
        import torch

        b, k, n = self.c.shape[0], self.c.shape[2], self.n
        h = torch.full((b, self.d + 1, k), float(n), dtype=torch.float32)
        h[self.rows, 0, self.snk] = 0
        masks = (self.c - self.f > TOLERANCE, self.f > TOLERANCE)
        while True:
            before = h.clone()
            for m in [*range(1, self.d), *range(self.d - 1, 0, -1)]:
                h[:, m] = torch.minimum(h[:, m], self._reach(h, m, masks) + 1)
            if torch.equal(h, before):
                break
        self.h = h.clamp_(max=n)
        self.h[:, self.d] = n

    def _reach(self, h: torch.Tensor, m: int,
               masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """[B, k]: the lowest height among layer-m nodes' residual neighbours (``masks``: the
        residual edges down and up, [B, D, k, k], when already known)."""
        import torch

        big = torch.tensor(float(self.n), dtype=h.dtype)
        if masks is None:
            down, up = self.c[:, m - 1] - self.f[:, m - 1] > TOLERANCE, self.f[:, m] > TOLERANCE
        else:
            down, up = masks[0][:, m - 1], masks[1][:, m]
        below = torch.where(down, h[:, m - 1, None, :], big).amin(2)
        above = torch.where(up, h[:, m + 1, :, None], big).amin(1)
        return torch.minimum(below, above)

    def discharge(self, m: int) -> bool:
        """Push layer m's excess along admissible edges, then relabel what stays. Whether any
        node of the layer was active."""
        import torch

        e, h, n = self.e[:, m], self.h, self.n
        active = (e > TOLERANCE) & (h[:, m] < n)
        if not bool(active.any()):
            return False
        res_down = self.c[:, m - 1] - self.f[:, m - 1]  # [B, k(m), k(m-1)]
        ok_down = (res_down > TOLERANCE) & (h[:, m, :, None] == h[:, m - 1, None, :] + 1)
        down = torch.where(ok_down, res_down, 0.0)
        res_up = self.f[:, m]  # [B, k(m+1), k(m)]: pushing up cancels flow
        ok_up = (res_up > TOLERANCE) & (h[:, m, None, :] == h[:, m + 1, :, None] + 1)
        up = torch.where(ok_up, res_up, 0.0)
        room = down.sum(2) + up.sum(1)
        ratio = torch.where(active & (room > 0), (e / room.clamp(min=_EPS)).clamp(max=1.0), 0.0)
        down.mul_(ratio[:, :, None])
        up.mul_(ratio[:, None, :])
        self.f[:, m - 1] += down
        self.f[:, m] -= up
        self.e[:, m - 1] += down.sum(1)
        self.e[:, m + 1] += up.sum(2)
        self.e[:, m] -= down.sum(2) + up.sum(1)
        stuck = active & (self.e[:, m] > TOLERANCE)
        if bool(stuck.any()):
            lowest = (self._reach(h, m) + 1).clamp(max=n)
            h[:, m] = torch.where(stuck, torch.maximum(h[:, m], lowest), h[:, m])
        return True

    def unfinished(self) -> torch.Tensor:
        """Bool [B]: problems whose sink is below the trivial cut and that have excess on a
        node that can still reach the sink."""
        inner = self.e[:, 1 : self.d]
        live = ((inner > TOLERANCE) & (self.h[:, 1 : self.d] < self.n)).flatten(1).any(1)
        return live & (self.e[self.rows, 0, self.snk] < self.bound)


def _solve(c: torch.Tensor, src: torch.Tensor, snk: torch.Tensor, real: torch.Tensor
           ) -> torch.Tensor:
    """float64 [B]: the max-flow of each problem of a batch."""
    import torch

    st = _State(c, src, snk, real)
    value = torch.zeros(c.shape[0], dtype=c.dtype)
    order = [*range(st.d - 1, 0, -1), *range(2, st.d - 1)]
    for _ in range(_MAX_ROUNDS):
        st.relabel_all()
        left = st.unfinished()
        if not bool(left.all()):
            done = ~left
            value[st.ids[done]] = st.e[st.rows[done], 0, st.snk[done]]
            if not bool(left.any()):
                return value
            st.keep(left)
        for _ in range(_SWEEPS):
            moved = [st.discharge(m) for m in order]  # every layer, in order
            if not any(moved):
                break
    # not reached in practice (push-relabel ends); the sinks hold a flow's value regardless
    value[st.ids] = st.e[st.rows, 0, st.snk]
    return value
