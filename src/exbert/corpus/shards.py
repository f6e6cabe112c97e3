"""Checkpoints of a build: shards of consecutive sentences, each written atomically into
``OUT.partial/shards/NNNNNN/`` once complete, and found again by a resumed build.

A shard folder holds its own records (``sentences.npy`` with the per-sentence counts of
:data:`SHARD_SENTENCE_DTYPE`, ``tokens.npy``, ``words.npy``, ``text.bin``, shard-local label
tables ``labels.json``), the codes ``emb_L<l>.npy`` / ``ctx_L<l>.npy`` [N, D] uint8, the
attention arrays ``attn_L<l>.npy`` / ``attnw_L<l>.npy`` [N, 2H+2] and ``meta.json`` (counts,
the spaCy cursors around it, whether it is the last). :mod:`exbert.corpus.merge` and
:mod:`exbert.corpus.finalize` assemble the shards into the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus.layout import (
    ATTENTION_KINDS,
    FLAG_PUNCT,
    FLAG_STOP,
    LABEL_FIELDS,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    Plan,
    layer_file,
    token_dtype,
    word_dtype,
)
from exbert.errors import CorpusBuildError

if TYPE_CHECKING:
    import numpy as np

    from exbert.corpus.reduce import BatchResult

META = "meta.json"
SHARD_SENTENCE_DTYPE = [("n_tokens", "<i4"), ("n_words", "<i4"), ("text_bytes", "<i8"),
                        ("unit", "<i4"), ("unit_sentence", "<i4")]

#: Test hook: seconds to sleep after each shard checkpoint (makes kill tests deterministic).
_SHARD_SLEEP_ENV = "EXBERT_CORPUS_TEST_SHARD_SLEEP"


def shard_dir(shards_dir: Path, index: int) -> Path:
    return shards_dir / f"{index:06d}"


@dataclass
class Shard:
    """The sentences of one checkpoint and, once run, their reduced forward batches (in
    length-sorted batch order; :func:`write_shard` restores the sentence order)."""

    index: int
    sentences: list[ann.Sentence]
    next_cursor: tuple[int, int]
    skipped: int
    batches: list[BatchResult] = field(default_factory=list)


class _Labels:
    """String -> id tables of one shard (made global at finalisation)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, int]] = {f: {} for f in LABEL_FIELDS}

    def ids(self, name: str, values: list[str]) -> list[int]:
        table = self.tables[name]
        return [table.setdefault(v, len(table)) for v in values]

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(table) for name, table in self.tables.items()}


@dataclass
class _Records:
    sentences: np.ndarray  # SHARD_SENTENCE_DTYPE [S]
    tokens: np.ndarray  # token_dtype [N], shard-local sentence and word ids
    words: np.ndarray  # word_dtype [W], shard-local sentence ids and label ids
    text: bytes
    labels: _Labels


def _locate(shard: Shard) -> tuple[list[tuple[BatchResult, int]], np.ndarray]:
    """Per sentence (shard order) its batch and place in it, and the permutation int [N]
    that takes the token rows of the concatenated batches to shard order."""
    import numpy as np

    where: dict[int, tuple[BatchResult, int, int]] = {}
    offset = 0
    for br in shard.batches:
        for k, order in enumerate(br.orders):
            where[order] = (br, k, offset)
            offset += len(br.encs[k].input_ids)
    located = [where[i] for i in range(len(shard.sentences))]
    perm = np.concatenate([np.arange(o, o + len(br.encs[k].input_ids)) for br, k, o in located])
    return [(br, k) for br, k, _ in located], perm


def _records(shard: Shard, located: list[tuple[BatchResult, int]]) -> _Records:
    """The sentence, token and word records of the shard, in sentence order."""
    import numpy as np

    labels = _Labels()
    n_tok = sum(len(br.encs[k].input_ids) for br, k in located)
    n_words = sum(s.n_words for s in shard.sentences)
    sent = np.zeros(len(shard.sentences), dtype=SHARD_SENTENCE_DTYPE)
    tokens = np.zeros(n_tok, dtype=token_dtype())
    words = np.zeros(n_words, dtype=word_dtype())
    texts = []
    t0 = w0 = 0
    for s_i, (s, (br, k)) in enumerate(zip(shard.sentences, located, strict=True)):
        enc, word_of = br.encs[k], br.word_of[k]
        data = s.text.encode("utf-8")
        texts.append(data)
        n, m = len(enc.input_ids), s.n_words
        sent[s_i] = (n, m, len(data), s.cursor[0], s.cursor[1])
        tk = tokens[t0 : t0 + n]
        tk["sentence"] = s_i
        tk["position"] = np.arange(n)
        tk["word"] = word_of
        tk["input_id"] = enc.input_ids
        tk["start"] = [x.start for x in enc.tokens]
        tk["end"] = [x.end for x in enc.tokens]
        tk["special"] = [x.special for x in enc.tokens]
        first = np.full(m, n, dtype=np.int64)  # first model token of each word
        aligned = np.flatnonzero(word_of >= 0)
        np.minimum.at(first, word_of[aligned].astype(np.int64), aligned)
        first[first == n] = -1
        wd = words[w0 : w0 + m]
        wd["sentence"] = s_i
        wd["index"] = np.arange(m)
        wd["start"] = s.starts
        wd["end"] = s.ends
        for f in LABEL_FIELDS:
            wd[f] = labels.ids(f, getattr(s, f))
        wd["head"] = s.head
        wd["head_token"] = first[np.asarray(s.head, dtype=np.int64)] if m else []
        wd["first_token"] = first
        wd["ent_span"] = s.ent_span
        wd["flags"] = [FLAG_STOP * st + FLAG_PUNCT * pu
                       for st, pu in zip(s.is_stop, s.is_punct, strict=True)]
        t0, w0 = t0 + n, w0 + m
    return _Records(sent, tokens, words, b"".join(texts), labels)


def write_shard(shards_dir: Path, shard: Shard, plan: Plan, last: bool) -> dict[str, Any]:
    """Write one finished shard atomically (tmp folder, fsync, rename); returns its
    metadata (``meta.json``)."""
    import numpy as np

    located, perm = _locate(shard)
    final = shard_dir(shards_dir, shard.index)
    tmp = shards_dir / f".tmp-{final.name}"
    storage.remove_tree(tmp)
    tmp.mkdir(parents=True)
    rec = _records(shard, located)
    storage.write_npy(tmp / SENTENCES_FILE, rec.sentences)
    storage.write_npy(tmp / TOKENS_FILE, rec.tokens)
    storage.write_npy(tmp / WORDS_FILE, rec.words)
    storage.write_bytes(tmp / TEXT_FILE, rec.text)
    storage.write_json(tmp / LABELS_FILE, rec.labels.to_dict())

    def rows(kind: str, layer: int) -> np.ndarray:
        parts: list[np.ndarray] = [getattr(br, kind)[layer] for br in shard.batches]
        out: np.ndarray = np.concatenate(parts)[perm]
        return out

    for layer in plan.layers:
        storage.write_npy(tmp / layer_file("emb", layer), rows("emb", layer))
    for layer in plan.ctx_layers:
        for kind in ("ctx", *ATTENTION_KINDS):
            storage.write_npy(tmp / layer_file(kind, layer), rows(kind, layer))
    meta = {
        "index": shard.index,
        "sentences": len(shard.sentences),
        "tokens": len(perm),
        "words": len(rec.words),
        "skipped_long": shard.skipped,
        "first_cursor": list(shard.sentences[0].cursor),
        "next_cursor": list(shard.next_cursor),
        "text_sha256": hashlib.sha256(rec.text).hexdigest(),
        "last": last,
    }
    storage.write_json(tmp / META, meta)
    storage.publish_dir(tmp, final)
    return meta


def completed_shards(shards_dir: Path) -> list[dict[str, Any]]:
    """Metadata of the finished shards 0..k-1 (contiguous); leftovers are removed."""
    metas: list[dict[str, Any]] = []
    if not shards_dir.is_dir():
        return metas
    for child in sorted(shards_dir.iterdir()):
        if child.name.startswith(".tmp-"):
            storage.remove_tree(child)
    index = 0
    while (shard_dir(shards_dir, index) / META).is_file():
        try:
            metas.append(json.loads((shard_dir(shards_dir, index) / META).read_text()))
        except ValueError:
            break
        index += 1
    for child in shards_dir.iterdir():
        if child.name.isdigit() and int(child.name) >= len(metas):
            storage.remove_tree(child)
    return metas


def mark_last(shards_dir: Path, metas: list[dict[str, Any]]) -> None:
    """The input ended exactly at a shard boundary: mark the end durably."""
    if metas and not metas[-1].get("last"):
        metas[-1]["last"] = True
        storage.write_json(shard_dir(shards_dir, len(metas) - 1) / META, metas[-1])


def read_checkpoint(folder: Path, fname: str) -> np.ndarray:
    """A shard's ``.npy`` memory-mapped; :class:`CorpusBuildError` when unreadable."""
    import numpy as np

    try:
        arr: np.ndarray = np.load(folder / fname, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        partial = folder.parent.parent
        raise CorpusBuildError(
            f"checkpoint {folder / fname} is unreadable ({exc}); delete {partial} and build "
            "again", path=str(folder),
        ) from exc
    return arr


class ShardWriter:
    """Writes finished shards on one background thread, in order, appending each one's
    metadata to ``metas``; the forward pass goes on meanwhile."""

    def __init__(self, shards_dir: Path, plan: Plan, metas: list[dict[str, Any]]) -> None:
        self._shards_dir, self._plan, self._metas = shards_dir, plan, metas
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exbert-corpus-store")
        self._pending: deque[Future[Any]] = deque()
        self._sleep = float(os.environ.get(_SHARD_SLEEP_ENV, "0") or 0)

    def submit(self, shard: Shard, last: bool) -> None:
        self._pending.append(self._pool.submit(self._checkpoint, shard, last))

    def drain(self, keep: int) -> None:
        """Wait until at most ``keep`` shards are still being written (raises their error)."""
        while len(self._pending) > keep:
            self._pending.popleft().result()

    def close(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pool.shutdown(wait=True)

    def _checkpoint(self, shard: Shard, last: bool) -> None:
        meta = write_shard(self._shards_dir, shard, self._plan, last)
        self._metas.append(meta)
        shard.batches.clear()
        if self._sleep:
            time.sleep(self._sleep)
