"""Top-k predictions per token, in chunks of positions (bounded memory at any length)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from exbert.analysis.types import ModelHandle, Prediction
from exbert.errors import InvalidInput
from exbert.view import MAX_TOP_K

if TYPE_CHECKING:
    import torch


def check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise InvalidInput(f"top_k must be an integer, not {top_k!r}", top_k=str(top_k))
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be between 0 and {MAX_TOP_K}", top_k=top_k)


_PREDICTION_CHUNK = 32  # rows of logits per softmax: [32, V] stays in cache (V ~ 50k-260k)


def top_predictions(model: ModelHandle, logits: Callable[[int, int], torch.Tensor], rows: int,
                    top_k: int) -> list[list[Prediction]]:
    """Top-k per position of one sequence, with their softmax probabilities; ``logits(r0,
    r1)`` gives the logits [r1 - r0, V] of positions ``r0..r1-1`` (a slice of the model's
    logits, or the LM head applied to a chunk of hidden states: long inputs never hold the
    whole [T, V]).

    Done in chunks of rows: a fused softmax over a cache-sized block, then a gather of the
    top k, is faster than ``logsumexp`` over the whole [T, V], whose temporaries are large
    for big vocabularies.
    """
    import torch

    probs = torch.empty((rows, top_k), dtype=torch.float32)
    indices = torch.empty((rows, top_k), dtype=torch.long)
    for start in range(0, rows, _PREDICTION_CHUNK):
        block = logits(start, min(rows, start + _PREDICTION_CHUNK))
        top = torch.topk(block, top_k, dim=-1).indices
        indices[start : start + _PREDICTION_CHUNK] = top
        probs[start : start + _PREDICTION_CHUNK] = torch.softmax(
            block, dim=-1, dtype=torch.float32
        ).gather(-1, top)
    unique = sorted(set(indices.flatten().tolist()))
    texts = dict(zip(unique, model.tokenizer.batch_decode([[i] for i in unique]), strict=True))
    return [
        [Prediction(texts[i], q, i) for i, q in zip(row_i, row_p, strict=True)]
        for row_i, row_p in zip(indices.tolist(), probs.tolist(), strict=True)
    ]


