"""Where a build's annotated sentences come from: spaCy in a child process, and the
annotation cache that lets a second build of the same text (another model) skip spaCy."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus.inputs import OPTIONS_ENV, ReadOptions
from exbert.errors import CorpusBuildError, CorpusError

log = logging.getLogger(__name__)

ANNOTATE_VERSION = 1  # bump when annotate.py changes what it extracts


READ_AHEAD = 20_000  # annotated sentences the parent buffers ahead of the forward pass
SPARE = 16  # sentences read beyond what a build with a sentence limit said it wants


class SpacyProcess:
    """spaCy in a child process (``python -m exbert.corpus.spacy_worker``: no GIL shared with
    the forward pass, nothing of the parent imported), streaming annotated sentences as JSON
    lines over a pipe. The child reports the pipeline's metadata at once; :meth:`run` starts
    the stream at a cursor; :meth:`next` returns the next sentence's JSON, or None at the
    end.

    A reader thread drains the pipe into a queue of up to READ_AHEAD sentences, so spaCy
    runs ahead of the forward pass and finishes early instead of being throttled by the
    pipe; :attr:`busy` tells the build when spaCy has stopped using its core (done, or the
    queue is full) and the forward pass can take every core.
    """

    def __init__(self, pipeline: str, read_options: ReadOptions | None = None) -> None:
        import subprocess

        env = dict(os.environ)
        env[OPTIONS_ENV] = (read_options or ReadOptions()).to_env()  # the text field, strict
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
        src = str(Path(__file__).resolve().parents[2])  # the folder holding `exbert`
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "exbert.corpus.spacy_worker", pipeline],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=1 << 16,
        )
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=READ_AHEAD)
        self._reader: threading.Thread | None = None
        self._closed = False
        self._more = threading.Condition()
        self._limit: int | None = None
        self._produced = self._consumed = 0
        self._waiting = False
        assert self._proc.stdout is not None
        self.meta: dict[str, Any] = self._parse(self._proc.stdout.readline())["meta"]

    def _parse(self, line: bytes) -> dict[str, Any]:
        if not line:
            code = self._proc.wait(timeout=30)
            raise CorpusBuildError(
                f"the spaCy process ended unexpectedly (exit status {code}; out of memory?)")
        msg: dict[str, Any] = json.loads(line)
        if "error" in msg:
            cls = CorpusError if msg.get("kind") == "corpus" else CorpusBuildError
            raise cls(str(msg["error"]))
        return msg

    def run(self, input_path: Path, cursor: tuple[int, int], min_words: int,
            wanted: int | None = None) -> None:
        """Start the stream at ``cursor``. ``wanted``: how many sentences the build expects
        to take; the reader then stops SPARE sentences beyond what was taken (spaCy stops
        soon after: the pipe fills), instead of annotating the rest of the input."""
        assert self._proc.stdin is not None and self._reader is None
        self._limit = None if wanted is None else wanted + SPARE
        job = {"input": str(input_path), "cursor": list(cursor), "min_words": min_words}
        self._proc.stdin.write(json.dumps(job).encode("utf-8") + b"\n")
        self._proc.stdin.flush()
        self._reader = threading.Thread(target=self._read_ahead, daemon=True,
                                        name="exbert-spacy-reader")
        self._reader.start()

    def _read_ahead(self) -> None:
        assert self._proc.stdout is not None
        while True:
            with self._more:
                while (not self._closed and self._limit is not None
                       and self._produced >= self._limit):
                    self._waiting = True
                    self._more.wait(0.5)
                self._waiting = False
            try:
                line = b"" if self._closed else self._proc.stdout.readline()
            except (OSError, ValueError):  # closed under us
                line = b""
            while not self._closed:
                try:
                    self._queue.put(line, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self._produced += 1
            if self._closed or not line.startswith(b'{"s"'):  # end, error or EOF
                return

    @property
    def busy(self) -> bool:
        """spaCy is annotating: its stream runs, and the reader is not holding it back
        (read-ahead queue full, or ``wanted`` sentences reached)."""
        return (self._reader is not None and self._reader.is_alive()
                and not self._waiting and not self._queue.full())

    def next(self) -> dict[str, Any] | None:
        self._consumed += 1
        if self._limit is not None and self._consumed + SPARE > self._limit:
            with self._more:  # the build wants more than it said (sentences were skipped)
                self._limit = self._consumed + SPARE
                self._more.notify()
        msg = self._parse(self._queue.get())
        if msg.get("end"):
            return None
        sentence: dict[str, Any] = msg["s"]
        return sentence

    def close(self) -> None:
        self._closed = True
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if self._proc.poll() is None:
            self._proc.terminate()
        with contextlib.suppress(Exception):
            self._proc.wait(timeout=10)


def _installed_version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except (metadata.PackageNotFoundError, ValueError):
        return None


class SentenceSource:
    """Annotated sentences of an input, from the annotation cache and/or spaCy.

    The cache (``cache_root()/annotations``) holds the sentences a finished build consumed,
    keyed by the input's sha256, the pipeline and its version, ``min_words`` and the format:
    building the same text for another model (the demo's two models, a rebuild after a
    model change) skips spaCy for the sentences it already has, and continues with spaCy
    after them. The cache is a JSON-lines file plus a sidecar with its size and sha256
    (written last); a damaged cache is ignored and rewritten.
    """

    def __init__(self, pipeline: str, input_path: Path, input_sha256: str, fmt: str,
                 min_words: int, cache_dir: Path | None,
                 read_options: ReadOptions | None = None) -> None:
        self.pipeline = pipeline
        self.read_options = read_options or ReadOptions()
        self.input_path = input_path
        self.min_words = min_words
        self._child: SpacyProcess | None = None
        self._cache_dir = cache_dir
        self._cache_lines: Iterator[bytes] | None = None
        self._cache_meta: dict[str, Any] | None = None
        self._recorded: list[bytes] = []
        self._record = False
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
            self._child = SpacyProcess(pipeline, self.read_options)
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

    def run(self, cursor: tuple[int, int], wanted: int | None = None) -> None:
        """Stream sentences from ``cursor`` on (cached ones first). ``wanted``: how many
        sentences the build expects to take (see :meth:`SpacyProcess.run`)."""
        self._start = cursor
        self._wanted = wanted
        if self._cache_meta is not None:
            data, _ = self._paths()
            self._cache_lines = iter(data.read_bytes().splitlines())
            self._after_cache = tuple(self._cache_meta["next_cursor"])  # type: ignore[assignment]
            self._complete = bool(self._cache_meta["complete"])
            # new sentences extend the cache only if they continue where it ends
            self._record = cursor <= self._after_cache
        else:
            self._record = cursor == (0, 0)
            self._spacy_from(cursor)

    def _spacy_from(self, cursor: tuple[int, int]) -> None:
        if self._child is None:
            self._child = SpacyProcess(self.pipeline, self.read_options)
        wanted = None if self._wanted is None else max(0, self._wanted - self.cached_sentences)
        self._child.run(self.input_path, cursor, self.min_words, wanted)

    @property
    def spacy_busy(self) -> bool:
        """spaCy is annotating in its child process right now (see :attr:`SpacyProcess.busy`)."""
        return self._child is not None and self._child.busy

    def next(self) -> ann.Sentence | None:
        while self._cache_lines is not None:
            line = next(self._cache_lines, None)
            if line is None:
                self._cache_lines = None
                if self._complete:
                    return None
                self._spacy_from(max(self._start, self._after_cache))
                break
            d = json.loads(line)
            if tuple(d["cursor"]) < self._start:
                continue
            self.cached_sentences += 1
            return _sentence(d)
        if self._child is None:
            return None
        d = self._child.next()
        if d is None:
            self._complete = True
            return None
        if self._record:
            self._recorded.append(json.dumps(d, ensure_ascii=False).encode("utf-8"))
        return _sentence(d)

    def commit(self) -> None:
        """After a successful build: extend the cache with the sentences spaCy produced."""
        if self._cache_dir is None or not self._record or not self._recorded:
            return
        data, side = self._paths()
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            old = data.read_bytes().splitlines() if self._cache_meta is not None else []
            lines = [*old, *self._recorded]
            last = json.loads(lines[-1])["cursor"]
            rec = storage.write_stream(data, (line + b"\n" for line in lines))
            storage.write_json(side, {
                "size": rec.size, "sha256": rec.sha256, "sentences": len(lines),
                "next_cursor": [last[0], last[1] + 1], "complete": self._complete,
                "meta": self.meta, "input": str(self.input_path),
            })
            storage.fsync_dir(self._cache_dir)
        except OSError as exc:
            log.warning("could not write the annotation cache %s: %s", data, exc)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()


def _sentence(d: dict[str, Any]) -> ann.Sentence:
    d = dict(d)
    d["cursor"] = tuple(d["cursor"])
    return ann.Sentence(**d)
