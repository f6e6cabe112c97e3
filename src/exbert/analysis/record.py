"""Recording what each attention layer computes, through transformers' ``AttentionInterface``.

A forward in lazy mode runs the stock model code with ``config._attn_implementation`` set to
``"exbert_record"``: an attention function registered with transformers that stores the exact
queries and keys the model hands to attention (after rotary embeddings and q/k norms), with
what shapes the scores (scaling, causal and sliding-window masks, softcapping, grouped-query
sharing), then computes the layer's output with PyTorch's scaled-dot-product attention (the
same code as ``attn_implementation="sdpa"``). No ``[T, T]`` matrix is built.

The masks are checked, not assumed: where the model passes a mask tensor, sampled rows of it
are compared with the mask that (causal, window) describes; a mask that differs is kept as a
boolean tensor (shared between the layers that use it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exbert.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

IMPLEMENTATION = "exbert_record"

# The recorder of the forward running in this thread (a context variable, not shared state:
# each forward sets it for its own duration).
_ACTIVE: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "exbert_attention_recorder", default=None
)


@dataclass
class LayerRecord:
    """One attention call: ``q`` float32 [heads, T, d], ``k`` float32 [kv_heads, T, d]; query
    head ``h`` reads key head ``h // group``. ``causal``/``window`` describe the mask
    (key j is visible from query i when ``j <= i`` if causal, and ``j > i - window`` if
    windowed); ``mask`` is the model's own boolean mask [T, T] when it differs from that."""

    q: torch.Tensor
    k: torch.Tensor
    scaling: float
    causal: bool
    window: int | None = None
    softcap: float | None = None
    mask: torch.Tensor | None = None

    @property
    def group(self) -> int:
        return int(self.q.shape[0] // self.k.shape[0])

    @property
    def nbytes(self) -> int:
        own = self.q.numel() * self.q.element_size() + self.k.numel() * self.k.element_size()
        return int(own)


@dataclass
class Recorder:
    """The records of one forward pass, in call order (ALBERT's shared layer records each call)."""

    layers: list[LayerRecord] = field(default_factory=list)
    _masks: dict[tuple[int, bool, int | None], torch.Tensor | None] = field(default_factory=dict)

    def add(self, module: Any, query: torch.Tensor, key: torch.Tensor,
            attention_mask: torch.Tensor | None, options: dict[str, Any]) -> None:
        if query.shape[0] != 1:
            raise ModelLoadError("lazy attention records one sequence at a time")
        t = int(query.shape[2])
        scaling = options.get("scaling")
        if scaling is None:
            scaling = float(query.shape[-1]) ** -0.5
        is_causal = options.get("is_causal")
        if is_causal is None:
            is_causal = bool(getattr(module, "is_causal", True))
        window = options.get("sliding_window") or None
        softcap = options.get("softcap")
        record = LayerRecord(q=_own(query[0]), k=_own(key[0]), scaling=float(scaling),
                             causal=bool(is_causal), window=int(window) if window else None,
                             softcap=float(softcap) if softcap else None)
        if attention_mask is not None:
            record.mask = self._checked_mask(attention_mask, record, t)
        self.layers.append(record)

    def _checked_mask(self, mask: torch.Tensor, record: LayerRecord, t: int) -> torch.Tensor | None:
        """None when ``mask`` is what ``record``'s (causal, window) describe, else the mask as a
        boolean [T, T] (one tensor per distinct mask object)."""
        import torch

        ident = (id(mask), record.causal, record.window)  # the verdict depends on both
        if ident in self._masks:
            return self._masks[ident]
        plane = mask[0, 0] if mask.dim() == 4 else mask
        allowed = plane if plane.dtype == torch.bool else plane > torch.finfo(plane.dtype).min / 2
        if tuple(allowed.shape) != (t, t):
            allowed = allowed.expand(t, t)
        rows = sorted({0, 1, t // 3, t // 2, t - 2, t - 1, min(t - 1, (record.window or 0))}
                      & set(range(t)))
        expected = visible(record, torch.tensor(rows), 0, t)
        kept = None if torch.equal(allowed[rows], expected) else allowed.clone()
        self._masks[ident] = kept
        return kept


def visible(record: LayerRecord, rows: torch.Tensor, k0: int, k1: int) -> torch.Tensor:
    """Boolean [len(rows), k1 - k0]: which keys ``k0..k1-1`` each query row sees."""
    import torch

    if record.mask is not None:
        return record.mask[rows][:, k0:k1]
    keys = torch.arange(k0, k1)
    ok = torch.ones((len(rows), k1 - k0), dtype=torch.bool)
    if record.causal:
        ok &= keys[None, :] <= rows[:, None]
    if record.window is not None:
        ok &= keys[None, :] > rows[:, None] - record.window
    return ok


def _own(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 in its own compact storage (a view would keep a larger buffer alive,
    e.g. GPT-2's fused q/k/v projection)."""
    import torch

    x = x.detach()
    if x.device.type != "cpu" or x.dtype != torch.float32:  # recomputed on the CPU
        return x.to("cpu", torch.float32).contiguous()
    if not x.is_contiguous() or x.untyped_storage().nbytes() > x.numel() * x.element_size():
        return x.contiguous().clone() if x.is_contiguous() else x.contiguous()
    return x


def _record_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[Any, None]:
    """The registered attention function: record, then the stock SDPA forward."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    recorder = _ACTIVE.get()
    if recorder is not None:
        recorder.add(module, query, key, attention_mask, kwargs)
    if kwargs.get("softcap") is not None:  # SDPA has no softcapping: eager for this layer
        from transformers.models.gemma2.modeling_gemma2 import eager_attention_forward

        t = query.shape[2]
        if attention_mask is None and getattr(module, "is_causal", True) and t > 1:
            # SDPA's masks leave a plain causal mask to is_causal; eager needs it spelled out
            attention_mask = torch.ones((t, t), dtype=torch.bool).tril_()[None, None]
        if attention_mask is not None and attention_mask.dtype == torch.bool:  # SDPA's format
            attention_mask = torch.zeros_like(attention_mask, dtype=query.dtype).masked_fill_(
                ~attention_mask, torch.finfo(query.dtype).min)
        out, _ = eager_attention_forward(module, query, key, value, attention_mask, **kwargs)
        return out, None
    kwargs.pop("output_attentions", None)
    out, _ = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return out, None


def register() -> None:
    """Register the recording attention (and SDPA's mask format for it) with transformers;
    idempotent."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if IMPLEMENTATION not in AttentionInterface._global_mapping:
        AttentionInterface.register(IMPLEMENTATION, _record_attention)
    if IMPLEMENTATION not in AttentionMaskInterface._global_mapping:
        AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


def _configs(module: Any) -> list[Any]:
    """Every distinct config object the module's submodules read the implementation from."""
    seen: dict[int, Any] = {}
    for m in module.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation"):
            seen.setdefault(id(cfg), cfg)
    return list(seen.values())


@contextmanager
def attention_implementation(module: Any, name: str) -> Iterator[None]:
    """Run ``module`` with ``name`` as its attention implementation, restored afterwards
    (callers hold the model's lock: the module is not shared meanwhile)."""
    configs = _configs(module)
    before = [c._attn_implementation for c in configs]
    for c in configs:
        c._attn_implementation = name
    try:
        yield
    finally:
        for c, b in zip(configs, before, strict=True):
            c._attn_implementation = b


@contextmanager
def recording(module: Any) -> Iterator[Recorder]:
    """Record every attention call of forwards of ``module`` inside the block."""
    register()
    recorder = Recorder()
    token = _ACTIVE.set(recorder)
    try:
        with attention_implementation(module, IMPLEMENTATION):
            yield recorder
    finally:
        _ACTIVE.reset(token)
