"""Per-head contexts from stock transformers modules, with forward hooks (no fork).

A head's context is ``softmax(QK^T) V`` for that head, before the attention output projection.
Every supported architecture feeds the concatenated heads ``[batch, T, heads * head_dim]`` into
one linear output projection, so a forward *pre*-hook on that projection sees the contexts.
Hooks record in call order, which also covers models that reuse one layer (ALBERT).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from exbert.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

# <attention module>.<output projection>, per family:
#   BERT/RoBERTa/MiniLM/ELECTRA  attention.output.dense   DistilBERT  attention.out_lin
#   ALBERT                       attention.dense          GPT-2       attn.c_proj
#   Llama/Gemma/Mistral/Qwen...  self_attn.o_proj         BART/OPT... self_attn.out_proj
_OUT_PROJ = re.compile(
    r"(?:^|\.)(?:attention|attn|self_attn|self_attention)\."
    r"(?:output\.dense|out_lin|dense|c_proj|o_proj|out_proj)$"
)


def output_projections(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The attention output projections of ``module`` in definition order (cached per module:
    walking hundreds of submodules with the regex on every call adds up)."""
    found = _PROJECTIONS.get(module)
    if found is None:
        found = [(n, m) for n, m in module.named_modules() if _OUT_PROJ.search(n)]
        _PROJECTIONS[module] = found
    return list(found)


_PROJECTIONS: weakref.WeakKeyDictionary[Any, list[tuple[str, Any]]] = weakref.WeakKeyDictionary()


class ContextRecorder:
    """Collects each attention layer's context input, in the order the layers run."""

    def __init__(self, heads: int, positions: list[int] | None = None) -> None:
        self.heads = heads
        self.positions = positions
        self.captured: list[torch.Tensor] = []

    def __call__(self, _module: Any, args: tuple[Any, ...]) -> None:
        x = args[0]  # [batch, T, heads * head_dim]
        if self.positions is not None:  # only these tokens' contexts (lazy analyses)
            x = x[:, self.positions].clone()
        self.captured.append(x.detach())

    def layers(self, layers: int) -> list[torch.Tensor]:
        """The captured contexts, one [batch, T, heads * head_dim] tensor per layer."""
        if len(self.captured) != layers:
            raise ModelLoadError(
                f"captured {len(self.captured)} attention contexts for {layers} layers; "
                "this architecture's attention output projection is not recognised"
            )
        return list(self.captured)


@contextmanager
def record_contexts(module: torch.nn.Module, heads: int,
                    positions: list[int] | None = None) -> Iterator[ContextRecorder]:
    """Record each layer's per-head contexts ([batch, T, heads * head_dim], or only the token
    ``positions`` when given) during the forwards inside the block."""
    projections = output_projections(module)
    if not projections:
        raise ModelLoadError(
            f"{type(module).__name__}: no attention output projection found; "
            "per-head contexts are not supported for this architecture"
        )
    recorder = ContextRecorder(heads, positions)
    handles = [m.register_forward_pre_hook(recorder) for _, m in projections]
    try:
        yield recorder
    finally:
        for h in handles:
            h.remove()
