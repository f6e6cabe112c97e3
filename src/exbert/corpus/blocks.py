"""Annotating a build's input in blocks of consecutive units (``--workers N`` and ``--ray``):
the units of block ``b`` of a run starting at cursor ``(u0, k)`` are ``u0 + b * BLOCK_UNITS``
up to the next block's first, the first block skipping the first ``k`` kept sentences of
unit ``u0``. Whole units are annotated, so the sentences of the blocks, in block order, are
exactly those one spaCy process streams from the same cursor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from exbert.corpus import annotate as ann
from exbert.corpus.input_set import read_inputs
from exbert.corpus.inputs import ReadOptions, Unit

BLOCK_UNITS = 64  # input units (paragraphs, records) per block
BLOCK_UNITS_ENV = "EXBERT_CORPUS_BLOCK_UNITS"  # test hook: another block size


def block_range(cursor: tuple[int, int], block: int,
                size: int = BLOCK_UNITS) -> tuple[int, int, int]:
    """(first unit, stop unit, sentences of the first unit to skip) of ``block`` (blocks of
    ``size`` units)."""
    start = cursor[0] + block * size
    return start, start + size, cursor[1] if block == 0 else 0


class BlockReader:
    """The units of ``inputs`` block after block: one reader kept open while the blocks asked
    for go forward (a worker that annotates every N-th block reads the input once)."""

    def __init__(self, inputs: Sequence[Path], options: ReadOptions | None = None) -> None:
        self.inputs, self.options = list(inputs), options
        self._it: Iterator[Unit] | None = None
        self._peek: Unit | None = None
        self._at = 0  # no unit before this index is left in the reader

    def units(self, start: int, stop: int) -> tuple[list[Unit], bool]:
        """The units ``start <= index < stop``, and whether the input ends before ``stop``."""
        if self._it is None or start < self._at:
            self._it, self._peek = read_inputs(self.inputs, 0, self.options), None
        out: list[Unit] = []
        while True:
            u, self._peek = self._peek or next(self._it, None), None
            if u is None:
                self._at = stop
                return out, True
            if u.index < start:
                continue
            if u.index >= stop:
                self._peek, self._at = u, stop
                return out, False
            out.append(u)


def annotate_block(nlp: Any, reader: BlockReader, cursor: tuple[int, int], block: int,
                   min_words: int, size: int = BLOCK_UNITS
                   ) -> tuple[list[dict[str, Any]], bool]:
    """The sentences (as dicts of :class:`~exbert.corpus.annotate.Sentence` fields) of
    ``block`` (of ``size`` units) of a run from ``cursor``, and whether the input ends in
    it."""
    start, stop, skip = block_range(cursor, block, size)
    units, eof = reader.units(start, stop)
    sentences = [dataclasses.asdict(s)
                 for s in ann.annotate(nlp, iter(units), min_words=min_words, skip_first=skip)]
    return sentences, eof
