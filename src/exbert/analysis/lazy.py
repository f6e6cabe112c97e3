"""The lazy forward: one pass with efficient attention that records queries and keys
(:mod:`exbert.analysis.record`), predictions in chunks, hidden states and contexts only at the
positions asked for. Nothing of size T x T or T x vocabulary is ever held.

Memory at T tokens: the records, ``layers x (heads + kv_heads) x T x head_dim`` float32
(SmolLM2 at 8,192 tokens: 755 MB), plus the forward's own working set (one layer's
activations), plus the kept hidden states when ``keep_positions`` is given (transformers
returns every layer's [T, hidden] then: they are dropped once the positions are taken).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.analysis.attention import LazyAttention
from exbert.analysis.encode import Encoded, forward_params, mask_positions
from exbert.analysis.hooks import record_contexts
from exbert.analysis.predict import top_predictions
from exbert.analysis.record import recording
from exbert.analysis.types import Analysis, ModelHandle, Prediction
from exbert.errors import InvalidRequest, ModelLoadError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LazyRequest:
    """What a lazy analysis was asked besides the model and the encoding."""

    text: str
    text_b: str | None
    mask: Sequence[int]
    top_k: int
    keep_positions: tuple[int, ...]


def _inputs(model: ModelHandle, enc: Encoded) -> dict[str, Any]:
    import torch

    n = len(enc.input_ids)
    kwargs: dict[str, Any] = {"input_ids": torch.tensor([enc.input_ids]),
                              "attention_mask": torch.ones((1, n), dtype=torch.long)}
    if enc.token_type_ids is not None:
        kwargs["token_type_ids"] = torch.tensor([enc.token_type_ids])
    if model.device.type != "cpu":
        kwargs = {k: v.to(model.device) for k, v in kwargs.items()}
    return kwargs


def _head(model: ModelHandle) -> tuple[Any, Any] | None:
    """(base model, LM head) of a causal LM whose logits are ``head(base(x).last_hidden_state)``
    (Llama, GPT-2, Gemma...: their forward does exactly this, then softcaps for Gemma): the
    head then runs on chunks of positions. None for other models (masked LMs apply a transform
    first; their positions are few)."""
    info, module = model.info, model.module
    if info.kind != "autoregressive" or not info.has_lm_head:
        return None
    head = module.get_output_embeddings()
    base = getattr(module, "base_model", None)
    if head is None or base is None or base is module:
        return None
    return base, head


def _checked(records: list[Any], layers: int, name: str) -> LazyAttention:
    if len(records) != layers:
        raise ModelLoadError(
            f"{name}: recorded {len(records)} attention layers of {layers}; this architecture "
            "does not compute attention through transformers' AttentionInterface, so only "
            "attention='full' works for it", model=name,
        )
    return LazyAttention(records)


def lazy_analyze(model: ModelHandle, enc: Encoded, req: LazyRequest) -> Analysis:
    """Analyse one encoded input lazily (see the module docstring)."""
    import torch

    info, n = model.info, len(enc.input_ids)
    keep = sorted(set(req.keep_positions))
    if any(not 0 <= p < n for p in keep):
        raise InvalidRequest(f"keep_positions must be token positions 0..{n - 1}",
                             keep_positions=str(keep[:20]))
    kwargs = _inputs(model, enc)
    split = _head(model) if req.top_k > 0 else None
    module = split[0] if split else model.module
    if "use_cache" in forward_params(module):
        kwargs["use_cache"] = False
    contexts_cm = record_contexts(model.module, info.heads, keep) if keep else nullcontext()
    with model.lock, torch.inference_mode(), recording(model.module) as rec, contexts_cm as ctx:
        out = module(**kwargs, output_hidden_states=bool(keep))
        attention = _checked(rec.layers, info.layers, info.name)
        predictions, reason = _predict(model, out, split, req.top_k, n)
        hidden = _kept_hidden(out, keep, info)
        contexts = _kept_contexts(ctx, keep, info)
    return Analysis(
        model=info.name, kind=info.kind, text=req.text, text_b=req.text_b,
        mask=tuple(sorted(set(mask_positions(req.mask)))), tokens=enc.tokens,
        input_ids=enc.input_ids, attentions=None, hidden_states=hidden, contexts=contexts,
        predictions=predictions, predictions_unavailable=reason, lazy=attention,
        positions=tuple(keep),
    )


def _predict(model: ModelHandle, out: Any, split: tuple[Any, Any] | None, top_k: int,
             n: int) -> tuple[list[list[Prediction]] | None, str | None]:
    info = model.info
    if not info.has_lm_head:
        return None, f"{info.name} has no language-model head, so it makes no predictions"
    if top_k <= 0:
        return None, "predictions not requested (top_k=0)"
    k = min(top_k, info.vocab_size)
    if split is None:
        logits = out.logits[0]
        return top_predictions(model, lambda r0, r1: logits[r0:r1], n, k), None
    last, head = out.last_hidden_state[0], split[1]
    cap = getattr(model.module.config, "final_logit_softcapping", None)

    def chunk(r0: int, r1: int) -> torch.Tensor:
        logits = head(last[r0:r1])
        if cap:
            logits = (logits / cap).tanh() * cap
        return logits

    return top_predictions(model, chunk, n, k), None


def _kept_hidden(out: Any, keep: list[int], info: Any) -> np.ndarray:
    """float32 [layers + 1, len(keep), hidden] at the kept positions."""
    states = out.hidden_states if keep else None
    if not states:
        return np.zeros((info.layers + 1, 0, info.hidden_size), dtype=np.float32)
    return np.stack([s[0, keep].float().cpu().numpy() for s in states])


def _kept_contexts(ctx: Any, keep: list[int], info: Any) -> np.ndarray:
    """float32 [layers, len(keep), heads, head_dim] at the kept positions."""
    if ctx is None or not keep:
        return np.zeros((info.layers, 0, info.heads, info.head_dim), dtype=np.float32)
    layers = ctx.layers(info.layers)
    width = int(layers[0].shape[-1])
    arr = np.stack([c[0].float().cpu().numpy() for c in layers])
    return arr.reshape(info.layers, len(keep), info.heads, width // info.heads)
