"""The file names, record layouts and vector-encoding plan shared by the build (which
writes them) and the readers in :mod:`exbert.search`.

Structured numpy records (little-endian, packed), one row per sentence / model token / spaCy
word; label ids index the string tables of ``labels.json``. The folder layout is described in
:mod:`exbert.corpus.manifest`.
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

SENTENCES_FILE = "sentences.npy"
TOKENS_FILE = "tokens.npy"
WORDS_FILE = "words.npy"
TEXT_FILE = "text.bin"
LABELS_FILE = "labels.json"
HEADS_FILE = "heads.json"
ATTENTION_KINDS = ("attn", "attnw")  # argmaxes int16 [N, 2H+2], their weights float16


def layer_key(kind: str, layer: int) -> str:
    """``"emb_L03"``: the name stem of one stored layer of one kind (a vector kind or an
    attention kind)."""
    return f"{kind}_L{layer:02d}"


def layer_file(kind: str, layer: int) -> str:
    """``"attn_L03.npy"``: a per-layer array (the attention arrays)."""
    return f"{layer_key(kind, layer)}.npy"


def chunk_file(key: str, chunk: int) -> str:
    """``"emb_L03.c0000.faiss"``: chunk ``chunk`` (CHUNK_VECTORS vectors each) of the exact
    index of ``key`` (:func:`layer_key`)."""
    return f"{key}.c{chunk:04d}.faiss"


def ivf_file(key: str) -> str:
    """``"ivf_emb_L03.faiss"``: the optional approximate index of ``key``."""
    return f"ivf_{key}.faiss"


def rotation_file(width: int) -> str:
    """``"rotation_384.npy"``: the float32 [D, D] rotation of vectors of width D."""
    return f"rotation_{width}.npy"


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
    causal: bool = False  # an autoregressive model (head counts see only earlier tokens)
    vectors: str = "sq8"  # "sq8" or "pq" (see exbert.corpus.shard_files)

    @property
    def ctx_layers(self) -> list[int]:
        return [v for v in self.layers if v >= 1]


def make_plan(model: Model, stored: list[int], vectors: str = "sq8") -> Plan:
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
        causal=info.kind == "autoregressive",
        vectors=vectors,
    )
