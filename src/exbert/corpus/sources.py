"""Where a build's annotated sentences come from: a :class:`SentenceStream` (spaCy in one
child process, :class:`~exbert.corpus.spacy_process.SpacyProcess`; in N processes,
:mod:`exbert.corpus.parallel`; or in Ray) and the annotation cache that lets a second build
of the same text (another model) skip spaCy."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus.inputs import ReadOptions
from exbert.corpus.spacy_process import READ_AHEAD, SPARE, SpacyProcess

log = logging.getLogger(__name__)

ANNOTATE_VERSION = 1  # bump when annotate.py changes what it extracts

__all__ = ["ANNOTATE_VERSION", "READ_AHEAD", "SPARE", "SentenceSource", "SentenceStream",
           "SpacyProcess", "StreamFactory"]


def _installed_version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except (metadata.PackageNotFoundError, ValueError):
        return None


class SentenceStream(Protocol):
    """Annotated sentences from spaCy, wherever it runs: ``meta`` (the pipeline's
    metadata), ``run(inputs, cursor, min_words, wanted)`` (start at ``cursor``), ``next()``
    (the next sentence as a dict of :class:`~exbert.corpus.annotate.Sentence` fields, None at
    the end), ``busy`` (annotating on this machine now), ``close()``. Implementations:
    :class:`SpacyProcess`, :class:`exbert.corpus.parallel.ParallelSpacy` (``--workers N``),
    the Ray Data stage of ``exbert.corpus.ray_build`` (``--ray``)."""

    meta: dict[str, Any]

    def run(self, inputs: Sequence[Path], cursor: tuple[int, int], min_words: int,
            wanted: int | None = None) -> None: ...

    def next(self) -> dict[str, Any] | None: ...

    @property
    def busy(self) -> bool: ...

    def close(self) -> None: ...


#: Makes the build's stream of sentences (called at most once, only when spaCy must run).
StreamFactory = Callable[[], SentenceStream]


class SentenceSource:
    """Annotated sentences of the inputs, from the annotation cache and/or a
    :class:`SentenceStream` (``stream``: its factory; default one :class:`SpacyProcess`).

    The cache (``cache_root()/annotations``) holds the sentences finished builds consumed,
    keyed by the inputs' sha256, the pipeline and its version, ``min_words`` and the format:
    building the same text for another model (the demo's two models, a rebuild after a
    model change) skips spaCy for the sentences it already has, and continues with spaCy
    after them. The cache is a JSON-lines file plus a sidecar with its size and sha256
    (written last); a damaged cache is ignored and rewritten. It is read streamed.

    While building, the sentences of each shard are kept in ``record_dir/NNNNNN.jsonl``
    (:meth:`cut`); :meth:`commit` assembles the cache from them, streamed, so a resumed
    build writes it like a fresh one.
    """

    def __init__(self, pipeline: str, inputs: Path | Sequence[Path], input_sha256: str,
                 fmt: str, min_words: int, cache_dir: Path | None,
                 read_options: ReadOptions | None = None,
                 stream: StreamFactory | None = None) -> None:
        self.pipeline = pipeline
        self.read_options = read_options or ReadOptions()
        self.inputs = [inputs] if isinstance(inputs, Path) else list(inputs)
        self.min_words = min_words
        self._factory: StreamFactory = stream or (
            lambda: SpacyProcess(pipeline, self.read_options))
        self._child: SentenceStream | None = None
        self._cache_dir = cache_dir
        self._cache_lines: Iterator[bytes] | None = None
        self._cache_meta: dict[str, Any] | None = None
        self._record_dir: Path | None = None
        self._pending: list[bytes] = []
        self._complete = False
        self._after_cache: tuple[int, int] = (0, 0)
        self._start: tuple[int, int] = (0, 0)
        self._wanted: int | None = None
        self.cached_sentences = 0
        version = _installed_version(pipeline)
        key = json.dumps({"input": input_sha256, "pipeline": pipeline, "version": version,
                          "spacy": _installed_version("spacy"), "min_words": min_words,
                          "format": fmt, "annotate": ANNOTATE_VERSION,
                          **({"text_field": self.read_options.text_field}
                             if self.read_options.text_field != "text" else {})},
                         sort_keys=True)
        self._key = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
        if version is None:  # not an installed package: its version, hence the key, is unknown
            self._cache_dir = None
        if self._cache_dir is not None:
            self._cache_meta = self._read_cache_meta()
        if self._cache_meta is not None:
            self.meta: dict[str, Any] = dict(self._cache_meta["meta"])
        else:
            self._child = self._factory()
            self.meta = self._child.meta

    # cache files
    def _paths(self) -> tuple[Path, Path]:
        assert self._cache_dir is not None
        return self._cache_dir / f"{self._key}.jsonl", self._cache_dir / f"{self._key}.json"

    def _read_cache_meta(self) -> dict[str, Any] | None:
        data, side = self._paths()
        try:
            meta: dict[str, Any] = json.loads(side.read_text(encoding="utf-8"))
            if (data.stat().st_size != meta["size"]
                    or storage.sha256_file(data) != meta["sha256"]):
                raise ValueError("annotation cache does not match its sidecar")
            return meta
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a damaged annotation cache %s: %s", data, exc)
            return None

    def run(self, cursor: tuple[int, int], wanted: int | None = None,
            first_shard: int = 0) -> None:
        """Stream sentences from ``cursor`` on (cached ones first). ``wanted``: how many
        sentences the build expects to take (see :meth:`SpacyProcess.run`).
        ``first_shard``: the shard they start (kept sentences of later shards, left by an
        interrupted build, are removed)."""
        if self._record_dir is not None:
            for child in self._record_dir.iterdir():
                stem = child.name.split(".")[0]
                if not (stem.isdigit() and child.suffix == ".jsonl"
                        and int(stem) < first_shard):
                    child.unlink()
        self._start = cursor
        self._wanted = wanted
        if self._cache_meta is not None:
            data, _ = self._paths()
            self._cache_lines = _lines(data)
            self._after_cache = tuple(self._cache_meta["next_cursor"])  # type: ignore[assignment]
            self._complete = bool(self._cache_meta["complete"])
        else:
            self._spacy_from(cursor)

    def record(self, folder: Path) -> None:
        """Keep the sentences of each shard in ``folder`` (:meth:`cut`), for the cache."""
        if self._cache_dir is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self._record_dir = folder

    def cut(self, shard: int) -> None:
        """The sentences taken since the last cut make up shard ``shard``: write them."""
        if self._record_dir is not None:
            storage.write_stream(self._record_dir / f"{shard:06d}.jsonl",
                                 (line + b"\n" for line in self._pending))
        self._pending = []

    def _spacy_from(self, cursor: tuple[int, int]) -> None:
        if self._child is None:
            self._child = self._factory()
        wanted = None if self._wanted is None else max(0, self._wanted - self.cached_sentences)
        self._child.run(self.inputs, cursor, self.min_words, wanted)

    @property
    def spacy_busy(self) -> bool:
        """spaCy is annotating on this machine right now (see :attr:`SpacyProcess.busy`)."""
        return self._child is not None and self._child.busy

    def next(self) -> ann.Sentence | None:
        d = self._next_dict()
        if d is None:
            return None
        if self._record_dir is not None:
            self._pending.append(json.dumps(d, ensure_ascii=False).encode("utf-8"))
        return _sentence(d)

    def _next_dict(self) -> dict[str, Any] | None:
        while self._cache_lines is not None:
            line = next(self._cache_lines, None)
            if line is None:
                self._cache_lines = None
                if self._complete:
                    return None
                self._spacy_from(max(self._start, self._after_cache))
                break
            d: dict[str, Any] = json.loads(line)
            if tuple(d["cursor"]) < self._start:
                continue
            self.cached_sentences += 1
            return d
        if self._child is None:
            return None
        got = self._child.next()
        if got is None:
            self._complete = True
        return got

    def commit(self, shards: int, complete: bool) -> None:
        """After a successful build of ``shards`` shards: write the cache from their kept
        sentences (streamed), unless the cache already holds as many. ``complete``: they
        are all the input's sentences."""
        if self._cache_dir is None or self._record_dir is None or shards == 0:
            return
        files = [self._record_dir / f"{i:06d}.jsonl" for i in range(shards)]
        if not all(f.is_file() for f in files):
            return
        data, side = self._paths()
        tail = _Tail()
        try:
            lines = sum(1 for _ in _Tail().through(files))
            if lines == 0 or (self._cache_meta is not None
                              and int(self._cache_meta.get("sentences", 0)) >= lines):
                return  # the cache holds as many already
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            rec = storage.write_stream(data, tail.through(files))
            last = json.loads(tail.last)["cursor"]
            storage.write_json(side, {
                "size": rec.size, "sha256": rec.sha256, "sentences": tail.lines,
                "next_cursor": [last[0], last[1] + 1],
                "complete": complete or self._complete,
                "meta": self.meta, "inputs": [str(p) for p in self.inputs],
            })
            storage.fsync_dir(self._cache_dir)
        except (OSError, ValueError) as exc:
            log.warning("could not write the annotation cache %s: %s", data, exc)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()


class _Tail:
    """Counts the lines streamed through it and keeps the last one."""

    def __init__(self) -> None:
        self.lines = 0
        self.last = b""

    def through(self, files: list[Path]) -> Iterator[bytes]:
        for f in files:
            with open(f, "rb") as fh:
                for line in fh:
                    self.lines += 1
                    self.last = line
                    yield line


def _lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path`` (without newlines), read streamed."""
    with open(path, "rb") as f:
        for line in f:
            yield line.rstrip(b"\n")


def _sentence(d: dict[str, Any]) -> ann.Sentence:
    d = dict(d)
    d["cursor"] = tuple(d["cursor"])
    return ann.Sentence(**d)
