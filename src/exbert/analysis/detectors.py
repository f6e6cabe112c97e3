"""Head detectors: how much of its attention each head puts on a pattern.

For each detector a pattern says, per query token i, which key tokens j it is about and whether
it applies to i at all; a head's score is the attention mass on the pattern's keys, averaged over
the query tokens where the pattern applies (NaN where it applies to none):

- ``previous_token``: j = i - 1 (every query but the first);
- ``induction`` (Olsson et al. 2022): j = k + 1 for every earlier occurrence k of token i's id
  with k + 1 < i (queries with such an occurrence; special tokens are neither queries nor
  occurrences);
- ``duplicate_token``: every earlier j < i with token i's id (queries with one; special tokens
  neither queries nor keys);
- ``first_token``: j = 0 (every query: the attention sink);
- ``self``: j = i (every query);
- ``local``: |i - j| <= 2 (every query).

``first_token`` and ``self`` are the numbers of :meth:`Analysis.head_stats`;
``previous_token`` is its number times T / (T - 1) (head_stats averages over every row, the
first included, which has no previous token).

The attention is read through an :class:`~exbert.analysis.attention.AttentionSource` a chunk of
query rows at a time (all heads of a layer), so full and lazy analyses give the same numbers
and the peak memory is one chunk; :func:`scores_from_attention` runs the same code on a plain
[layers, heads, T, T] array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.analysis.attention import AttentionSource, DenseAttention, chunk_rows, diagonal
from exbert.analysis.types import Analysis

if TYPE_CHECKING:
    import torch

DETECTORS = ("previous_token", "induction", "duplicate_token", "first_token", "self", "local")
"""The detectors of :func:`head_scores`, in the order views list them."""

LOCAL_SPAN = 2
"""``local``: keys within this many tokens of the query, either side."""


def head_scores(analysis: Analysis) -> dict[str, np.ndarray]:
    """``{detector: float32 [layers, heads]}``: the mean attention mass a head puts on the
    detector's pattern over the query tokens where the pattern applies (NaN where it applies to
    none). Full and lazy analyses give the same numbers."""
    special = [t.special for t in analysis.tokens]
    return source_scores(analysis.source, analysis.input_ids, special)


def scores_from_attention(attentions: np.ndarray, input_ids: Sequence[int],
                          special: Sequence[bool]) -> dict[str, np.ndarray]:
    """:func:`head_scores` of a plain float [layers, heads, T, T] attention array, with the
    tokens' ids and special flags (each of length T)."""
    return source_scores(DenseAttention(np.asarray(attentions)), input_ids, special)


def _occurrences(ids: np.ndarray, special: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query token: does an earlier non-special token have its id (``duplicate``), does one
    at k <= i - 2 (``induction``: its next token k + 1 is before i)? Special queries: never."""
    t = len(ids)
    first_seen: dict[int, int] = {}
    dup = np.zeros(t, dtype=bool)
    ind = np.zeros(t, dtype=bool)
    for i in range(t):
        if special[i]:
            continue
        k = first_seen.setdefault(int(ids[i]), i)
        dup[i] = k < i
        ind[i] = k <= i - 2
    return dup, ind


def applies(input_ids: Sequence[int], special: Sequence[bool]) -> dict[str, np.ndarray]:
    """``{detector: bool [T]}``: the query tokens each detector's pattern applies to."""
    ids = np.asarray(input_ids, dtype=np.int64)
    flags = np.asarray(special, dtype=bool)
    t = len(ids)
    every = np.ones(t, dtype=bool)
    dup, ind = _occurrences(ids, flags)
    return {"previous_token": np.arange(t) >= 1, "induction": ind, "duplicate_token": dup,
            "first_token": every, "self": every, "local": every}


def _pattern_masses(p: torch.Tensor, r0: int, k0: int, ids: torch.Tensor,
                    keyable: torch.Tensor) -> dict[str, torch.Tensor]:
    """[heads, R] per detector: the mass rows ``r0..`` put on their pattern's keys (keys
    ``k0..k0 + K - 1``). ``ids``: the tokens' ids with special tokens as -1; ``keyable``: ids
    with special tokens as -2 (so a special query matches nothing)."""
    import torch

    rows, keys = p.shape[1], p.shape[2]
    i = torch.arange(r0, r0 + rows)
    j = torch.arange(k0, k0 + keys)
    before = j[None, :] < i[:, None]
    q = ids[r0 : r0 + rows, None]
    dup = (keyable[None, k0 : k0 + keys] == q) & before
    prev_ids = torch.cat([torch.full((1,), -2, dtype=ids.dtype), keyable[:-1]])
    ind = (prev_ids[None, k0 : k0 + keys] == q) & before
    local = sum(diagonal(p, i + d - k0) for d in range(-LOCAL_SPAN, LOCAL_SPAN + 1))
    assert isinstance(local, torch.Tensor)
    return {
        "previous_token": diagonal(p, i - 1 - k0),
        "induction": torch.einsum("hrk,rk->hr", p, ind.to(p.dtype)),
        "duplicate_token": torch.einsum("hrk,rk->hr", p, dup.to(p.dtype)),
        "first_token": p[:, :, 0] if k0 == 0 else torch.zeros(p.shape[:2]),
        "self": diagonal(p, i - k0),
        "local": local,
    }


def source_scores(src: AttentionSource, input_ids: Sequence[int], special: Sequence[bool]
                  ) -> dict[str, np.ndarray]:
    """:func:`head_scores` of any attention source (full or lazy), ids and special flags."""
    import torch

    t, n_heads = src.n_tokens, src.n_heads
    if len(input_ids) != t or len(special) != t:
        raise ValueError(f"{len(input_ids)} ids and {len(special)} flags for {t} tokens")
    where = applies(input_ids, special)
    flags = torch.as_tensor(np.asarray(special, dtype=bool))
    raw = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    ids = torch.where(flags, torch.tensor(-1), raw)
    keyable = torch.where(flags, torch.tensor(-2), raw)
    weight = {name: torch.as_tensor(w, dtype=torch.float64) for name, w in where.items()}
    sums = {name: np.zeros((src.n_layers, n_heads), dtype=np.float64) for name in DETECTORS}
    heads = list(range(n_heads))
    step = chunk_rows(n_heads, t)
    for layer in range(src.n_layers):
        for r0 in range(0, t, step):
            r1 = min(t, r0 + step)
            k0, p = src.probs(layer, heads, r0, r1)
            for name, mass in _pattern_masses(p, r0, k0, ids, keyable).items():
                sums[name][layer] += (mass.to(torch.float64) @ weight[name][r0:r1]).numpy()
    out = {}
    for name in DETECTORS:
        n = int(where[name].sum())
        out[name] = (sums[name] / n if n else np.full_like(sums[name], np.nan)).astype(np.float32)
    return out


def head_scores_json(scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """:func:`head_scores`' answer as JSON (GET .../head-scores, the exports):
    ``{names, layers, heads, scores: {name: [[...]]}}``, each score the shortest decimal that
    reads back as the same float32, NaN as null."""
    names = list(scores)
    arrays = [np.asarray(scores[n], dtype=np.float32) for n in names]
    n_layers, n_heads = arrays[0].shape if arrays else (0, 0)
    return {
        "names": names, "layers": int(n_layers), "heads": int(n_heads),
        "scores": {n: [[float(str(v)) if np.isfinite(v) else None for v in row] for row in x]
                   for n, x in zip(names, arrays, strict=True)},
    }
