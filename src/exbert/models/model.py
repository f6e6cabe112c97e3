"""The loaded model and its description."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from exbert.analysis import Analysis

Kind = Literal["bidirectional", "autoregressive"]

DEFAULT_MAX_TOKENS = 512


@dataclass(frozen=True)
class ModelInfo:
    """What a model is: its shape, its vocabulary and what it can do.

    ``max_tokens`` is the effective limit of one analysis: the smaller of the model's positions
    and the memory cap (attention is ``layers x heads x T^2`` floats).
    """

    name: str
    kind: Kind
    architecture: str
    model_type: str
    layers: int
    heads: int
    kv_heads: int
    hidden_size: int
    head_dim: int
    vocab_size: int
    max_positions: int
    max_tokens: int
    special_tokens: tuple[str, ...]
    has_lm_head: bool
    mask_token: str | None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["special_tokens"] = list(self.special_tokens)
        return d


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
        top_k: int = 5,
        attention_dtype: Literal["float32", "float16"] = "float32",
    ) -> Analysis:
        """Run the model on ``text`` (and ``text_b``): tokens, attentions, hidden states,
        per-head contexts and predictions. See :func:`exbert.analysis.analyze`."""
        from exbert.analysis import analyze

        return analyze(self, text, text_b=text_b, mask=mask, top_k=top_k,
                       attention_dtype=attention_dtype)

    def analyze_batch(self, texts: Sequence[str], *, top_k: int = 0) -> list[Analysis]:
        """Analyse many single texts in one padded forward pass (used by corpus builds)."""
        from exbert.analysis import analyze_batch

        return analyze_batch(self, texts, top_k=top_k)
