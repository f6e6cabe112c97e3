"""The record layouts and the vector-encoding plan shared by the build and the readers.

Structured numpy records (little-endian, packed), one row per sentence / model token / spaCy
word; label ids index the string tables of ``labels.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.corpus import vectors as vec

if TYPE_CHECKING:
    from exbert.models import Model

LABEL_FIELDS = ("lemma", "pos", "tag", "dep", "ent_type", "ent_iob")
FLAG_STOP, FLAG_PUNCT = 1, 2
CHUNK_VECTORS = 1 << 18  # vectors per FAISS file; chunks are searched in parallel


def token_dtype() -> np.dtype[Any]:
    return np.dtype([
        ("sentence", "<i4"), ("position", "<i2"), ("word", "<i4"), ("input_id", "<i4"),
        ("start", "<u2"), ("end", "<u2"), ("special", "u1"),
    ])


def word_dtype() -> np.dtype[Any]:
    return np.dtype([
        ("sentence", "<i4"), ("index", "<i2"), ("start", "<u2"), ("end", "<u2"),
        ("lemma", "<i4"), ("pos", "<u2"), ("tag", "<u2"), ("dep", "<u2"), ("ent_type", "<u2"),
        ("ent_iob", "<u2"), ("head", "<i2"), ("head_token", "<i2"), ("first_token", "<i2"),
        ("ent_span", "<i2"), ("flags", "u1"),
    ])


def sentence_dtype() -> np.dtype[Any]:
    return np.dtype([
        ("text_start", "<i8"), ("text_end", "<i8"), ("token_start", "<i8"),
        ("n_tokens", "<i4"), ("word_start", "<i8"), ("n_words", "<i4"),
        ("unit", "<i4"), ("unit_sentence", "<i4"),
    ])


@dataclass
class Plan:
    """What to store: layer lists and the encoding of each vector kind."""

    layers: list[int]
    n_layers: int
    n_heads: int
    hidden: int
    ctx_width: int
    rot_emb: np.ndarray
    rot_ctx: np.ndarray
    step_emb: float
    step_ctx: float

    @property
    def ctx_layers(self) -> list[int]:
        return [v for v in self.layers if v >= 1]


def make_plan(model: Model, stored: list[int]) -> Plan:
    info = model.info
    width = info.heads * info.head_dim
    return Plan(
        layers=stored,
        n_layers=info.layers,
        n_heads=info.heads,
        hidden=info.hidden_size,
        ctx_width=width,
        rot_emb=vec.rotation(info.hidden_size),
        rot_ctx=vec.rotation(width),
        step_emb=vec.code_step(info.hidden_size),
        step_ctx=vec.code_step(width),
    )
