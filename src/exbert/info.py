"""What a model is: :class:`ModelInfo`, the one source of this shape.

Every stage reads it; the server's ``ModelInfo`` schema is derived from its public fields
(:mod:`exbert.server.schemas`), the OpenAPI schema from that, and the frontend's type from the
OpenAPI schema. No heavy imports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Kind = Literal["bidirectional", "autoregressive"]

DEFAULT_MAX_TOKENS = 32_768
"""Default cap of one analysis (capped again by the model's positions): long inputs analyse
lazily (``attention="auto"``), so the cap is the model's own limit for every shipped model."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model is: its shape, its vocabulary and what it can do.

    ``max_tokens`` is the effective limit of one analysis: the smaller of the model's positions
    and the cap given to :func:`exbert.load` (``max_tokens=``; by default the model's limit).
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
    notes: str = ""
    """What exbert changed about the model, in words (e.g. a masked-LM head it fitted, and
    how); empty for a model used as published."""
    source: str = field(default="", metadata={"private": True})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["special_tokens"] = list(self.special_tokens)
        return d

    def public_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the private fields (``source`` may be a local path):
        what clients of the server see."""
        private = {f.name for f in fields(self) if f.metadata.get("private")}
        return {k: v for k, v in self.to_dict().items() if k not in private}
