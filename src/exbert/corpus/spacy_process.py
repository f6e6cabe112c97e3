"""spaCy in one child process (``python -m exbert.corpus.spacy_worker``), streaming the
annotated sentences of a build's inputs: :class:`SpacyProcess`, and the helpers that start,
read and stop such children (also used by :mod:`exbert.corpus.parallel`)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exbert.corpus.inputs import OPTIONS_ENV, ReadOptions
from exbert.errors import CorpusBuildError, CorpusError

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
        self._proc = spawn_worker(pipeline, read_options)
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
        return parse_line(self._proc, line)

    def run(self, inputs: Sequence[Path], cursor: tuple[int, int], min_words: int,
            wanted: int | None = None) -> None:
        """Start the stream at ``cursor``. ``wanted``: how many sentences the build expects
        to take; the reader then stops SPARE sentences beyond what was taken (spaCy stops
        soon after: the pipe fills), instead of annotating the rest of the input."""
        assert self._proc.stdin is not None and self._reader is None
        self._limit = None if wanted is None else wanted + SPARE
        job = {"inputs": [str(p) for p in inputs], "cursor": list(cursor),
               "min_words": min_words}
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
        stop_worker(self._proc)


def spawn_worker(pipeline: str, read_options: ReadOptions | None) -> Any:
    """A started ``python -m exbert.corpus.spacy_worker`` child (stdin/stdout pipes)."""
    import subprocess

    env = dict(os.environ)
    env[OPTIONS_ENV] = (read_options or ReadOptions()).to_env()  # the text field, strict
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    src = str(Path(__file__).resolve().parents[2])  # the folder holding `exbert`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "exbert.corpus.spacy_worker", pipeline],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=1 << 16,
    )


def parse_line(proc: Any, line: bytes) -> dict[str, Any]:
    """One JSON line of a spaCy child; its error raised (EOF: the child died)."""
    if not line:
        code = proc.wait(timeout=30)
        raise CorpusBuildError(
            f"the spaCy process ended unexpectedly (exit status {code}; out of memory?)")
    msg: dict[str, Any] = json.loads(line)
    if "error" in msg:
        cls = CorpusError if msg.get("kind") == "corpus" else CorpusBuildError
        raise cls(str(msg["error"]))
    return msg


def stop_worker(proc: Any) -> None:
    for stream in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()
    if proc.poll() is None:
        proc.terminate()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)
