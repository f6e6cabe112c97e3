"""Typed results of an analysis. Array shapes are in the field names' docstrings."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from exbert.analysis import summary as summaries
from exbert.analysis import views
from exbert.analysis.attention import AttentionSource, DenseAttention, LazyAttention
from exbert.errors import InvalidRequest
from exbert.view import Layer, layer_to_hidden

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


_BLOCKS_KEPT = 32 * 1024 * 1024  # bytes of other block summaries an analysis remembers


@dataclass
class Analysis:
    """Everything one forward pass tells about a text.

    - ``attentions``: float32 [layers, heads, T, T] (float16 when analysed with
      ``attention_dtype="float16"``); row ``[l, h, i]`` is token i's attention over all
      tokens and sums to 1 (causal models: zeros above the diagonal). ``None`` for a lazy
      analysis (``mode == "lazy"``), which keeps the recorded queries and keys instead
      (``lazy``) and recomputes what is asked: :meth:`attention_rows`, :meth:`attention_cols`,
      :meth:`attention_window`, :meth:`attention_blocks`, :meth:`head_stats` answer the same
      numbers for both modes.
    - ``hidden_states``: float32 [layers + 1, P, hidden]; index 0 is the embedding output,
      index l the output of layer l - 1, exactly as transformers returns them (models with a
      final norm, such as GPT-2, Llama and Gemma, give the last index after that norm).
    - ``contexts``: float32 [layers, P, heads, head_dim]: each head's attention-weighted value
      vectors before the output projection (grouped-query models: per query head).
      ``P`` is T, or for a lazy analysis the ``positions`` kept (:meth:`hidden` and
      :meth:`context` read both by token position).
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
    attentions: np.ndarray | None
    hidden_states: np.ndarray
    contexts: np.ndarray
    predictions: list[list[Prediction]] | None
    predictions_unavailable: str | None = None
    lazy: LazyAttention | None = None
    positions: tuple[int, ...] | None = None
    _stats: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False,
                                                     compare=False)
    _blocks: dict[tuple[int, int, tuple[int, ...] | None], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False)
    _summaries: dict[int, summaries.LayerSummary] = field(default_factory=dict, repr=False,
                                                           compare=False)

    @property
    def mode(self) -> str:
        """``"full"`` (the attention array) or ``"lazy"`` (recomputed on demand)."""
        return "lazy" if self.lazy is not None else "full"

    @property
    def source(self) -> AttentionSource:
        if self.lazy is not None:
            return self.lazy
        assert self.attentions is not None
        return DenseAttention(self.attentions)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_layers(self) -> int:
        return self.source.n_layers

    @property
    def n_heads(self) -> int:
        return self.source.n_heads

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this analysis keeps."""
        kept = self.lazy.nbytes if self.lazy is not None else 0
        if self.attentions is not None:
            kept += self.attentions.nbytes
        kept += sum(b.nbytes for b in self._blocks.values())
        kept += sum(x.nbytes for x in self._summaries.values())
        return int(kept + self.hidden_states.nbytes + self.contexts.nbytes)

    def full_attentions(self, what: str = "this view") -> np.ndarray:
        """``attentions`` [layers, heads, T, T]; :class:`InvalidRequest` for a lazy analysis
        (``what`` needs every layer's full matrix: analyse with ``attention="full"``)."""
        if self.attentions is None:
            raise InvalidRequest(
                f"{what} needs the full attention, and this analysis of {self.n_tokens} tokens "
                "is lazy; analyse with attention='full' (shorter texts), or read rows, windows "
                "and blocks with attention_rows / attention_window / attention_blocks")
        return self.attentions

    def layer_summary(self, layer: int) -> summaries.LayerSummary:
        """A lazy layer's one-pass summary (normalisers, blocks, statistics: see
        :mod:`exbert.analysis.summary`), computed once and kept."""
        if self.lazy is None:
            raise InvalidRequest("layer summaries are kept for lazy analyses only")
        index = views.check_layer(self.source, layer)
        found = self._summaries.get(index)
        if found is None:
            found = self._summaries[index] = summaries.summarise(self.lazy, index)
        return found

    @property
    def summarised(self) -> list[int]:
        """The layers whose summary this (lazy) analysis keeps."""
        return sorted(self._summaries)

    def attention_rows(self, layer: int, heads: Sequence[int] | None, rows: Sequence[int],
                       weights: Sequence[float] | None = None) -> np.ndarray:
        """float32 [len(rows), T]: each row's attention over all tokens at ``layer``, the
        ``heads`` (None: all) mixed by ``weights`` (None: equal; the app's rule)."""
        return views.attention_rows(self.source, layer, heads, rows, weights)

    def attention_cols(self, layer: int, heads: Sequence[int] | None, cols: Sequence[int],
                       weights: Sequence[float] | None = None) -> np.ndarray:
        """float32 [len(cols), T]: the attention each token of ``cols`` receives."""
        if self.lazy is None:
            return views.attention_cols(self.source, layer, heads, cols, weights)
        hs = views.check_heads(self.source, heads)
        wanted = views.check_positions(self.source, cols, "cols")
        w = views.head_weights(weights, len(hs))
        return summaries.exact_cols(self.lazy, views.check_layer(self.source, layer),
                                    self.layer_summary(layer), hs, wanted, w)

    def attention_window(self, layer: int, start: int, stop: int,
                         heads: Sequence[int] | None = None) -> np.ndarray:
        """float32 [len(heads), W, W]: tokens ``start..stop-1`` to each other, per head
        (from the layer's kept normalisers when a lazy analysis has them: W x W work)."""
        index = views.check_layer(self.source, layer)
        if self.lazy is None or index not in self._summaries:
            return views.attention_window(self.source, layer, start, stop, heads)
        hs = views.check_heads(self.source, heads)
        views.attention_window_bounds(self.n_tokens, start, stop)
        import torch

        out: np.ndarray = summaries.exact_probs(
            self.lazy, index, self._summaries[index], hs, torch.arange(start, stop),
            (start, stop)).numpy()
        return out

    def attention_blocks(self, layer: int, bins: int,
                         heads: Sequence[int] | None = None) -> np.ndarray:
        """float32 [len(heads), bins, bins]: the mean attention from each query block to each
        key block (block b = tokens ``b*T//bins .. (b+1)*T//bins - 1``). The last few are
        kept (a pass over a layer's rows each: the overview asks for them again)."""
        index = views.check_layer(self.source, layer)
        hs = views.check_heads(self.source, heads)
        kept = self._summaries.get(index)
        if kept is not None and isinstance(bins, int) and not isinstance(bins, bool) and \
                min(bins, self.n_tokens) == kept.blocks.shape[1]:
            picked: np.ndarray = kept.blocks[hs]
            return picked
        # not summarised yet: the blocks alone are one cheaper pass (the summary follows in
        # the server's background warming)
        key = (index, bins, tuple(hs))
        found = self._blocks.pop(key, None)
        if found is None:
            found = views.attention_blocks(self.source, layer, bins, heads)
        self._blocks[key] = found  # most recent last; the oldest go past the bound
        while len(self._blocks) > 1 and sum(b.nbytes for b in self._blocks.values()) > _BLOCKS_KEPT:
            del self._blocks[next(iter(self._blocks))]
        return found

    def head_stats(self, layers: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Per head, float32 [layers, heads]: ``first_token`` (attention on the first token:
        the sink), ``previous_token``, ``self``, ``mean_distance`` (expected |i - j|),
        ``entropy`` (nats); means over query rows. ``layers``: only these rows (a server
        computes them a layer at a time, letting other requests through). Each layer is
        computed once, then kept."""
        chosen = (list(range(self.n_layers)) if layers is None
                  else [views.check_layer(self.source, x) for x in layers])
        if self.lazy is not None:
            return {name: np.stack([self.layer_summary(x).stats[name] for x in chosen])
                    for name in summaries.STATS}
        missing = [x for x in chosen if x not in self._stats]
        if missing:
            found = views.head_stats(self.source, missing)
            for n, layer in enumerate(missing):
                self._stats[layer] = {k: v[n] for k, v in found.items()}
        return {name: np.stack([self._stats[x][name] for x in chosen]) for name in summaries.STATS}

    def _row_of(self, position: int) -> int:
        if self.positions is None:
            return position
        try:
            return self.positions.index(position)
        except ValueError:
            raise InvalidRequest(
                f"token {position} was not kept by this lazy analysis (kept: "
                f"{list(self.positions)[:20]}); analyse with keep_positions including it",
                token=position) from None

    def hidden(self, layer: Layer, positions: Sequence[int] | None = None) -> np.ndarray:
        """float32 [len(positions), hidden]: the output of ``layer`` ("embeddings": the
        embedding output) at token ``positions`` (None: every kept position)."""
        index = layer_to_hidden(layer, self.hidden_states.shape[0] - 1)
        rows = slice(None) if positions is None else [self._row_of(p) for p in positions]
        out: np.ndarray = self.hidden_states[index, rows]
        return out

    def context(self, layer: int, positions: Sequence[int] | None = None) -> np.ndarray:
        """float32 [len(positions), heads, head_dim]: per-head contexts of ``layer``."""
        rows = slice(None) if positions is None else [self._row_of(p) for p in positions]
        out: np.ndarray = self.contexts[layer, rows]
        return out

    def header(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready data."""
        return {
            "model": self.model,
            "kind": self.kind,
            "text": self.text,
            "text_b": self.text_b,
            "mask": list(self.mask),
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            # flat dataclasses: vars() is a shallow copy, much cheaper than asdict()
            "tokens": [dict(vars(t)) for t in self.tokens],
            "predictions": None
            if self.predictions is None
            else [[dict(vars(p)) for p in row] for row in self.predictions],
            "predictions_unavailable": self.predictions_unavailable,
        }

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """JSON-ready data; with ``arrays`` the attentions (full analyses), hidden states and
        contexts as nested lists (large: prefer the binary server payload for the browser)."""
        data = self.header()
        if arrays:
            if self.attentions is not None:
                data["attentions"] = self.attentions.tolist()
            data["hidden_states"] = self.hidden_states.tolist()
            data["contexts"] = self.contexts.tolist()
        return data

    def summary(self, *, layer: int = -1) -> list[tuple[Token, Token, float]]:
        """For each token, the token it attends to most at ``layer`` (mean over heads)."""
        out = []
        step = 256
        for r0 in range(0, self.n_tokens, step):
            rows = list(range(r0, min(self.n_tokens, r0 + step)))
            mean = self.attention_rows(layer, None, rows)
            best = mean.argmax(axis=-1)
            out += [(self.tokens[i], self.tokens[int(j)], float(mean[k, j]))
                    for k, (i, j) in enumerate(zip(rows, best, strict=True))]
        return out
