"""The loaded model: its torch module, fast tokenizer and :class:`~exbert.info.ModelInfo`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from exbert.info import ModelInfo
from exbert.view import DEFAULT_LENS_TOP_K, DEFAULT_PROBE_LENGTH, DEFAULT_TOP_K

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from exbert.analysis import Analysis, LogitLens


@dataclass
class Model:
    """A transformer ready for analysis: the torch module, its fast tokenizer and its info.

    ``lock`` serialises forward passes: a tokenizer and a module are not safe to share between
    threads that run at the same time.
    """

    info: ModelInfo
    module: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def analyze(
        self,
        text: str,
        *,
        text_b: str | None = None,
        mask: Sequence[int] = (),
        top_k: int = DEFAULT_TOP_K,
        attention: Literal["auto", "full", "lazy"] = "auto",
        attention_dtype: Literal["float32", "float16"] = "float32",
        keep_positions: Sequence[int] = (),
    ) -> Analysis:
        """Run the model on ``text`` (and ``text_b``): tokens, attentions, hidden states,
        per-head contexts and predictions. ``attention``: ``"full"`` keeps every layer's
        attention, ``"lazy"`` recomputes it on demand from recorded queries and keys (long
        inputs; hidden states and contexts only at ``keep_positions``), ``"auto"`` picks
        lazy for large inputs. See :func:`exbert.analysis.analyze`."""
        from exbert.analysis import analyze

        return analyze(self, text, text_b=text_b, mask=mask, top_k=top_k, attention=attention,
                       attention_dtype=attention_dtype, keep_positions=keep_positions)

    def analyze_batch(self, texts: Sequence[str], *, top_k: int = 0) -> list[Analysis]:
        """Analyse many single texts in one padded forward pass (used by corpus builds)."""
        from exbert.analysis import analyze_batch

        return analyze_batch(self, texts, top_k=top_k)

    def logit_lens(self, analysis: Analysis, top_k: int = DEFAULT_LENS_TOP_K) -> LogitLens:
        """What every layer already predicts at every token: the model's own final
        normalisation and output head applied to each hidden state (layer 0 = the embeddings,
        layer L = the model's own predictions), top-k only. See
        :func:`exbert.analysis.logit_lens`."""
        from exbert.analysis import logit_lens

        return logit_lens(self, analysis, top_k)

    def head_scores(self, analysis: Analysis) -> dict[str, np.ndarray]:
        """Head detectors: ``{name: float32 [layers, heads]}`` for ``previous_token``,
        ``induction``, ``duplicate_token``, ``first_token``, ``self`` and ``local``. See
        :func:`exbert.analysis.head_scores`."""
        from exbert.analysis import head_scores

        return head_scores(analysis)

    def induction_probe(self, length: int = DEFAULT_PROBE_LENGTH, seed: int = 0) -> Analysis:
        """Analyse ``length`` random tokens repeated twice (induction heads light up on the
        second copy). See :func:`exbert.analysis.induction_probe`."""
        from exbert.analysis import induction_probe

        return induction_probe(self, length, seed)
