"""Checkpoints of a build: shards of consecutive sentences, each written atomically into
``OUT.partial/shards/NNNNNN/`` once complete, and found again by a resumed build.

The checkpoint shards ARE the final shards: a shard folder holds exactly the files of one
shard of the published corpus (:mod:`exbert.corpus.shard_files`: tables with shard-local ids,
``labels.json``, the rotation, FAISS chunk files per stored key, attention arrays,
``heads.json``) plus ``meta.json`` (counts, the spaCy cursors around it, whether it is the
last, and the files' sizes and sha256, chunk lists and rotation, so that finishing reads
nothing back). :mod:`exbert.corpus.finalize` adds the per-shard document tables and IVF
indexes; publication renames the whole ``shards`` folder into the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus.shard_files import write_files

if TYPE_CHECKING:
    from exbert.corpus.layout import Plan
    from exbert.corpus.reduce import BatchResult

META = "meta.json"

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


def write_shard(shards_dir: Path, shard: Shard, plan: Plan, last: bool) -> dict[str, Any]:
    """Write one finished shard atomically (a private tmp folder, fsync, rename) in the final
    shard format (:mod:`exbert.corpus.shard_files`); returns its metadata (``meta.json``:
    counts, cursors, ``files`` with their sizes and sha256, ``chunks``, ``pq``,
    ``rotation``). Idempotent: a shard whose folder is already complete (a retried task)
    is not written again, its metadata is returned."""
    final = shard_dir(shards_dir, shard.index)
    done = _existing(final)
    if done is not None:
        return done
    tmp = shards_dir / f".tmp-{final.name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        folder = storage.RecordedFolder(tmp)
        written = write_files(folder, shard.sentences, shard.batches, plan)
        meta = {
            "index": shard.index,
            "sentences": written.sentences,
            "tokens": written.tokens,
            "words": written.words,
            "skipped_long": shard.skipped,
            "first_cursor": list(shard.sentences[0].cursor),
            "next_cursor": list(shard.next_cursor),
            "text_sha256": hashlib.sha256(written.text).hexdigest(),
            "last": last,
            "files": {k: v.to_dict() for k, v in sorted(folder.files.items())},
            "chunks": written.chunks,
            "pq": written.pq,
            "rotation": written.rotation,
        }
        storage.write_json(tmp / META, meta)
        try:
            storage.publish_dir(tmp, final)
        except OSError:
            done = _existing(final)  # another writer of the same shard finished first
            if done is None:
                raise
            return done
    finally:
        storage.remove_tree(tmp)
    return meta


def _existing(folder: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads((folder / META).read_text())
        return meta
    except (OSError, ValueError):
        return None


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
