"""Typed results of an analysis. Array shapes are in the field names' docstrings."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

    from exbert.info import ModelInfo


class ModelHandle(Protocol):
    """What the analysis needs of a loaded model (:class:`exbert.models.Model` is one): the
    torch module, its fast tokenizer, its :class:`~exbert.info.ModelInfo`, and the lock that
    serialises forward passes. The analysis stage never imports :mod:`exbert.models`."""

    info: ModelInfo
    module: Any
    tokenizer: Any
    lock: threading.Lock

    @property
    def device(self) -> torch.device: ...


@dataclass(frozen=True)
class Token:
    """One model token.

    ``start``/``end``: character offsets into the text of its segment (``text`` for segment 0,
    ``text_b`` for segment 1), from the fast tokenizer's offsets; ``start == end`` for special
    tokens. ``text``: the covered characters (the token string for special tokens).
    ``continues``: the token is a piece of the word that the token before it is in (the ``s``
    of WordPiece's ``eclipse ##s``, the ``inates`` of byte-level ``predom inates``), by the
    tokenizer's word ids; never after whitespace, punctuation or a special token (see
    :func:`exbert.analysis.encode.continues`). ``text`` stays the covered characters: views
    draw the join (the app a muted ``##``, the CLI ``##s``).
    """

    text: str
    start: int
    end: int
    special: bool
    segment: int = 0
    masked: bool = False
    continues: bool = False


@dataclass(frozen=True)
class Prediction:
    """A vocabulary entry and its probability."""

    token: str
    prob: float
    token_id: int = -1


@dataclass
class Analysis:
    """Everything one forward pass tells about a text.

    - ``attentions``: float32 [layers, heads, T, T] (float16 when analysed with
      ``attention_dtype="float16"``); row ``[l, h, i]`` is token i's attention over all
      tokens and sums to 1 (causal models: zeros above the diagonal).
    - ``hidden_states``: float32 [layers + 1, T, hidden]; index 0 is the embedding output,
      index l the output of layer l, exactly as transformers returns them (models with a final
      norm, such as GPT-2, Llama and Gemma, give the last index after that norm).
    - ``contexts``: float32 [layers, T, heads, head_dim]: each head's attention-weighted value
      vectors before the output projection (grouped-query models: per query head).
    - ``predictions``: per token its top-k; for bidirectional models the distribution *at* the
      token, for autoregressive ones the distribution of the *next* token. ``None`` (with
      ``predictions_unavailable`` saying why) when the model has no LM head.
    """

    model: str
    kind: str
    text: str
    text_b: str | None
    mask: tuple[int, ...]
    tokens: list[Token]
    input_ids: list[int]
    attentions: np.ndarray
    hidden_states: np.ndarray
    contexts: np.ndarray
    predictions: list[list[Prediction]] | None
    predictions_unavailable: str | None = None

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def header(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready data."""
        return {
            "model": self.model,
            "kind": self.kind,
            "text": self.text,
            "text_b": self.text_b,
            "mask": list(self.mask),
            "n_layers": int(self.attentions.shape[0]),
            "n_heads": int(self.attentions.shape[1]),
            # flat dataclasses: vars() is a shallow copy, much cheaper than asdict()
            "tokens": [dict(vars(t)) for t in self.tokens],
            "predictions": None
            if self.predictions is None
            else [[dict(vars(p)) for p in row] for row in self.predictions],
            "predictions_unavailable": self.predictions_unavailable,
        }

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """JSON-ready data; with ``arrays`` the attentions, hidden states and contexts as
        nested lists (large: prefer the binary server payload for the browser)."""
        data = self.header()
        if arrays:
            data["attentions"] = self.attentions.tolist()
            data["hidden_states"] = self.hidden_states.tolist()
            data["contexts"] = self.contexts.tolist()
        return data

    def summary(self, *, layer: int = -1) -> list[tuple[Token, Token, float]]:
        """For each token, the token it attends to most at ``layer`` (mean over heads)."""
        mean = self.attentions[layer].mean(axis=0)
        best = mean.argmax(axis=-1)
        return [(t, self.tokens[int(j)], float(mean[i, j])) for i, (t, j) in
                enumerate(zip(self.tokens, best, strict=True))]
