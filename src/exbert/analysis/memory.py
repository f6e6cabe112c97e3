"""How much memory an analysis takes, and which mode ``attention="auto"`` picks.

Estimates are upper bounds of what one analysis adds to the loaded model, in bytes, from the
model's shape and the token count: the server admits work against its memory budget with them,
and ``attention="full"`` is refused when its attention tensor alone would pass
:data:`~exbert.view.MAX_FULL_ATTENTION_BYTES`.
"""

from __future__ import annotations

from typing import Literal

from exbert.errors import AttentionTooLarge, InvalidInput
from exbert.info import ModelInfo
from exbert.view import AUTO_LAZY_BYTES, MAX_FULL_ATTENTION_BYTES

Mode = Literal["full", "lazy"]
AttentionMode = Literal["auto", "full", "lazy"]
MODES = ("auto", "full", "lazy")

_F32 = 4
_CHUNK = 64 * 1024 * 1024  # analysis.attention.CHUNK_BYTES: one block of recomputed rows


def full_attention_bytes(info: ModelInfo, n_tokens: int) -> int:
    """The float32 [layers, heads, T, T] tensor of a full analysis."""
    return info.layers * info.heads * n_tokens * n_tokens * _F32


def _activations(info: ModelInfo, n_tokens: int) -> int:
    """The forward's working set besides attention: a few hidden-size and MLP-size buffers per
    token (the MLP is at most ~8x the hidden size in the supported families), and the
    predictions' chunked logits."""
    per_token = (12 * info.hidden_size + 2 * 8 * info.hidden_size) * _F32
    return per_token * n_tokens + 64 * info.vocab_size * _F32


def estimate_bytes(info: ModelInfo, n_tokens: int, mode: Mode) -> int:
    """Peak bytes that analysing ``n_tokens`` tokens in ``mode`` adds to the loaded model."""
    t, width = n_tokens, info.heads * info.head_dim
    if mode == "lazy":
        records = info.layers * (info.heads + info.kv_heads) * info.head_dim * t * _F32
        # every layer's [T, hidden] while positions are kept (a search); a boolean [T, T] mask
        # that sliding-window layers get from transformers; the layer summaries kept later
        kept = (info.layers + 1) * t * info.hidden_size * _F32
        summaries = info.layers * info.heads * (t + 256 * 256) * _F32
        return records + kept + t * t + summaries + _activations(info, t) + 2 * _CHUNK
    kept = (info.layers + 1) * t * info.hidden_size * _F32 + info.layers * t * width * _F32
    logits = t * info.vocab_size * _F32 if info.has_lm_head else 0
    # eager keeps every layer's weights, the analysis copies them once (float32 or float16)
    return 2 * full_attention_bytes(info, t) + 2 * kept + logits + _activations(info, t)


def resolve_mode(info: ModelInfo, n_tokens: int, attention: str) -> Mode:
    """``"full"`` or ``"lazy"`` for ``attention``; ``"auto"`` is lazy when the full attention
    would pass :data:`~exbert.view.AUTO_LAZY_BYTES`. :class:`AttentionTooLarge` when "full"
    is asked past :data:`~exbert.view.MAX_FULL_ATTENTION_BYTES`."""
    if attention not in MODES:
        raise InvalidInput(f"attention must be one of {', '.join(MODES)}, not {attention!r}",
                           attention=str(attention))
    size = full_attention_bytes(info, n_tokens)
    if attention == "auto":
        return "lazy" if size > AUTO_LAZY_BYTES else "full"
    if attention == "full" and size > MAX_FULL_ATTENTION_BYTES:
        raise AttentionTooLarge(
            f"full attention for {n_tokens} tokens on {info.name} is {info.layers} layers x "
            f"{info.heads} heads x {n_tokens}^2 floats = {size / 2**30:.1f} GiB, over the "
            f"{MAX_FULL_ATTENTION_BYTES / 2**30:.0f} GiB limit; use attention='lazy' (or "
            "'auto'), which recomputes rows on demand",
            tokens=n_tokens, bytes=size, limit=MAX_FULL_ATTENTION_BYTES,
        )
    return "lazy" if attention == "lazy" else "full"
