"""One forward pass, turned into an :class:`Analysis`.

Flow: :func:`~exbert.analysis.encode.encode` (text -> token ids and offsets, checks limits)
-> :func:`forward_batch` (padded batch -> attentions, hidden states, contexts, logits as
tensors) -> :func:`_collect` (tensors of one sequence -> numpy arrays and predictions). The
corpus build uses the first two stages directly (:func:`encode_texts`, :func:`forward_batch`)
and reduces the tensors itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from exbert.analysis.encode import (
    Encoded,
    apply_mask,
    encode,
    encode_texts,
    forward_params,
    mask_positions,
)
from exbert.analysis.hooks import record_contexts
from exbert.analysis.lazy import LazyRequest, lazy_analyze
from exbert.analysis.memory import AttentionMode, resolve_mode
from exbert.analysis.predict import check_top_k, top_predictions
from exbert.analysis.types import Analysis, ModelHandle, Prediction
from exbert.errors import ExbertError, InvalidInput, ModelLoadError
from exbert.view import DEFAULT_TOP_K, MAX_TOP_K

if TYPE_CHECKING:
    import torch

__all__ = ["MAX_TOP_K", "BatchOutputs", "Encoded", "analyze", "analyze_batch", "encode",
           "encode_texts", "forward_batch"]


@dataclass(frozen=True)
class _Request:
    """What :func:`analyze` was asked besides the model and the encoding."""

    text: str
    text_b: str | None = None
    mask: Sequence[int] = ()
    top_k: int = 0
    attention_dtype: str = "float32"


@dataclass
class BatchOutputs:
    """Batched per-layer tensors, as the model returned them (no copies yet):
    attentions L x [B, H, T, T], hidden L+1 x [B, T, D], contexts L x [B, T, H * dh],
    logits [B, T, V] or None."""

    attentions: tuple[torch.Tensor, ...]
    hidden: tuple[torch.Tensor, ...]
    contexts: list[torch.Tensor]
    logits: torch.Tensor | None


def forward_batch(model: ModelHandle, batch: Sequence[Encoded], *,
                  logits: bool = True) -> BatchOutputs:
    """One padded forward pass. Without ``logits`` the language-model head is skipped (the
    base model gives the same attentions, hidden states and contexts for less work)."""
    import torch

    info = model.info
    module = model.module if logits or not info.has_lm_head else model.module.base_model
    width = max(len(e.input_ids) for e in batch)
    pad = model.tokenizer.pad_token_id
    pad = 0 if pad is None else int(pad)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attn_mask = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        attn_mask[row, :n] = 1
        if e.token_type_ids is not None:
            types[row, :n] = torch.tensor(e.token_type_ids)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": attn_mask}
    if batch[0].token_type_ids is not None:
        kwargs["token_type_ids"] = types
    if "use_cache" in forward_params(module):
        kwargs["use_cache"] = False  # a causal LM's key/value cache serves generation only
    device = model.device
    if device.type != "cpu":
        kwargs = {k: v.to(device) if hasattr(v, "to") else v for k, v in kwargs.items()}
    with model.lock, torch.inference_mode(), record_contexts(model.module, info.heads) as rec:
        out = module(**kwargs, output_attentions=True, output_hidden_states=True)
        contexts = rec.layers(info.layers)
    if not out.attentions or len(out.attentions) != info.layers:
        raise ModelLoadError(
            f"{info.name}: the model returned {len(out.attentions or ())} attention maps for "
            f"{info.layers} layers (attentions need attn_implementation='eager')"
        )
    return BatchOutputs(
        attentions=tuple(out.attentions),
        hidden=tuple(out.hidden_states),
        contexts=contexts,
        logits=out.logits if info.has_lm_head and logits else None,
    )


def _stack(layers: Sequence[torch.Tensor], row: int, shape: tuple[int, ...],
           dtype: Any = np.float32) -> np.ndarray:
    """``layers[i][row]`` cropped to ``shape[1:]``, stacked as one new array of ``dtype``
    (float32, or float16 for the server's attention frames: half the bytes to write, and
    the frame is then a plain copy).

    The result is allocated by numpy, which asks the kernel for huge pages on large arrays:
    filling it is faster than a fresh ``torch.stack`` (page faults dominate on large
    attentions; benchmarks/bench_analyze.py measures it).
    """
    import torch

    crop = tuple(slice(0, d) for d in shape[1:])
    out = np.empty(shape, dtype=dtype)
    for i, layer in enumerate(layers):
        part = layer[row][crop].detach()
        if part.device.type != "cpu":
            part = part.cpu()
        if out.dtype == np.float32 and part.dtype == torch.float32:
            out[i] = part.numpy()
        else:  # torch converts much faster than numpy on subnormal-heavy attention
            torch.from_numpy(out[i]).copy_(part)
    return out


def _collect(model: ModelHandle, out: BatchOutputs, row: int, enc: Encoded,
             req: _Request) -> Analysis:
    """Row ``row`` of the batch tensors as an :class:`Analysis` (numpy copies)."""
    n, top_k = len(enc.input_ids), req.top_k
    info = model.info
    # Widths as the tensors have them (heads * head_dim is what the output projection sees).
    width = int(out.contexts[0].shape[-1])
    hidden = int(out.hidden[0].shape[-1])
    heads = int(out.attentions[0].shape[1])
    predictions: list[list[Prediction]] | None = None
    reason: str | None = None
    if out.logits is not None and top_k > 0:
        logits = out.logits[row, :n]
        predictions = top_predictions(model, lambda r0, r1: logits[r0:r1], n,
                                      min(top_k, info.vocab_size))
    elif not info.has_lm_head:
        reason = f"{info.name} has no language-model head, so it makes no predictions"
    else:
        reason = "predictions not requested (top_k=0)"
    return Analysis(
        model=info.name,
        kind=info.kind,
        text=req.text,
        text_b=req.text_b,
        mask=tuple(sorted(set(mask_positions(req.mask)))),
        tokens=enc.tokens,
        input_ids=enc.input_ids,
        attentions=_stack(out.attentions, row, (info.layers, heads, n, n),
                          np.dtype(req.attention_dtype)),
        hidden_states=_stack(out.hidden, row, (len(out.hidden), n, hidden)),
        contexts=_stack(out.contexts, row, (info.layers, n, width)).reshape(
            info.layers, n, heads, width // heads
        ),
        predictions=predictions,
        predictions_unavailable=reason,
    )


def analyze(
    model: ModelHandle,
    text: str,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    top_k: int = DEFAULT_TOP_K,
    attention: AttentionMode = "auto",
    attention_dtype: Literal["float32", "float16"] = "float32",
    keep_positions: Sequence[int] = (),
) -> Analysis:
    """Analyse ``text`` (with ``text_b`` as the pair's second sentence), masking the token
    positions in ``mask`` (bidirectional models), with ``top_k`` predictions per token.

    ``attention``: ``"full"`` keeps every layer's [heads, T, T] attention (and every hidden
    state and context); ``"lazy"`` records the queries and keys instead and recomputes any
    rows, windows, blocks or statistics on demand (hidden states and contexts only at
    ``keep_positions``); ``"auto"`` is lazy when the full attention would pass
    :data:`exbert.view.AUTO_LAZY_BYTES`. ``attention_dtype="float16"`` stores a full
    analysis' attentions at half precision (what the server sends)."""
    check_top_k(top_k)
    if attention_dtype not in ("float32", "float16"):
        raise InvalidInput("attention_dtype must be 'float32' or 'float16'",
                           attention_dtype=str(attention_dtype))
    enc = apply_mask(model, encode(model, text, text_b), mask)
    mode = resolve_mode(model.info, len(enc.input_ids), attention)
    if mode == "lazy":
        return lazy_analyze(model, enc, LazyRequest(text, text_b, mask, top_k,
                                                    tuple(keep_positions)))
    out = forward_batch(model, [enc], logits=top_k > 0)
    return _collect(model, out, 0, enc, _Request(text, text_b, mask, top_k, attention_dtype))


def analyze_batch(model: ModelHandle, texts: Sequence[str], *, top_k: int = 0) -> list[Analysis]:
    """Analyse single texts together in one padded forward pass; results in input order."""
    check_top_k(top_k)
    if not texts:
        return []
    encs: list[Encoded] = []
    for e in encode_texts(model, texts):
        if isinstance(e, ExbertError):
            raise e
        encs.append(e)
    out = forward_batch(model, encs, logits=top_k > 0)
    return [
        _collect(model, out, i, e, _Request(t, top_k=top_k))
        for i, (t, e) in enumerate(zip(texts, encs, strict=True))
    ]
