"""``--workers N``: spaCy in N child processes (each loads the pipeline once), annotating
blocks of input units (:mod:`exbert.corpus.blocks`; block ``b`` goes to worker ``b % N``, so
each worker handles its blocks in order), the sentences delivered in input order. Every
worker has at most AHEAD_BLOCKS blocks queued and a reader thread that buffers up to
READ_AHEAD / N sentences, so annotation runs ahead of the forward pass by a bounded amount.
The sentences are exactly those of one :class:`~exbert.corpus.spacy_process.SpacyProcess`
(whole units are annotated; only the first block skips the cursor's sentences).
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exbert.corpus.blocks import BLOCK_UNITS, BLOCK_UNITS_ENV
from exbert.corpus.inputs import ReadOptions
from exbert.corpus.spacy_process import (
    READ_AHEAD,
    SPARE,
    parse_line,
    spawn_worker,
    stop_worker,
)

AHEAD_BLOCKS = 2  # blocks queued per worker


class _Worker:
    """One spaCy child, its reader thread and the lines it has read."""

    def __init__(self, pipeline: str, options: ReadOptions | None, buffered: int) -> None:
        self.proc = spawn_worker(pipeline, options)
        self.lines: queue.Queue[bytes] = queue.Queue(maxsize=max(16, buffered))
        self.outstanding = 0  # blocks sent whose end the reader has not seen
        self.closed = False
        self.thread: threading.Thread | None = None

    def start(self) -> dict[str, Any]:
        meta: dict[str, Any] = parse_line(self.proc, self.proc.stdout.readline())["meta"]
        self.thread = threading.Thread(target=self._read, daemon=True,
                                       name="exbert-spacy-block-reader")
        self.thread.start()
        return meta

    def send(self, job: dict[str, Any]) -> None:
        self.outstanding += 1
        self.proc.stdin.write(json.dumps(job).encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def _read(self) -> None:
        while not self.closed:
            try:
                line = self.proc.stdout.readline()
            except (OSError, ValueError):
                line = b""
            if line.startswith(b'{"done"'):
                self.outstanding -= 1
            while not self.closed:
                try:
                    self.lines.put(line, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if not line or line.startswith(b'{"error"'):
                return

    @property
    def busy(self) -> bool:
        return self.outstanding > 0 and not self.lines.full()

    def close(self) -> None:
        self.closed = True
        stop_worker(self.proc)


class ParallelSpacy:
    """A :class:`~exbert.corpus.sources.SentenceStream` over ``workers`` spaCy children."""

    def __init__(self, pipeline: str, read_options: ReadOptions | None, workers: int) -> None:
        self._workers = [_Worker(pipeline, read_options, READ_AHEAD // workers)
                         for _ in range(workers)]
        metas = [w.start() for w in self._workers]  # the children load in parallel
        self.meta: dict[str, Any] = metas[0]
        self._job: dict[str, Any] = {}
        self._current = self._sent = self._consumed = 0
        self._limit: int | None = None
        self._ended = False
        self.block_units = int(os.environ.get(BLOCK_UNITS_ENV) or BLOCK_UNITS)

    def run(self, inputs: Sequence[Path], cursor: tuple[int, int], min_words: int,
            wanted: int | None = None) -> None:
        self._job = {"inputs": [str(p) for p in inputs], "cursor": list(cursor),
                     "min_words": min_words, "block_units": self.block_units}
        self._limit = None if wanted is None else wanted + SPARE
        self._top_up()

    def _dispatch(self) -> None:
        block = self._sent
        self._workers[block % len(self._workers)].send({**self._job, "block": block})
        self._sent += 1

    def _top_up(self) -> None:
        if self._sent <= self._current:
            self._dispatch()
        while (self._sent < self._current + AHEAD_BLOCKS * len(self._workers)
               and (self._limit is None or self._consumed < self._limit)):
            self._dispatch()

    def next(self) -> dict[str, Any] | None:
        while not self._ended:
            worker = self._workers[self._current % len(self._workers)]
            msg = parse_line(worker.proc, worker.lines.get())
            if "s" in msg:
                self._consumed += 1
                sentence: dict[str, Any] = msg["s"]
                return sentence
            if msg.get("eof"):
                self._ended = True
                break
            self._current += 1
            self._top_up()
        return None

    @property
    def busy(self) -> bool:
        return not self._ended and any(w.busy for w in self._workers)

    def close(self) -> None:
        for w in self._workers:
            w.close()
