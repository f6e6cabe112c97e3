"""The inputs of a build: one path, or a list of files, globs and folders (folders searched
recursively for the readable suffixes), resolved into a sorted, deduplicated list of files
(:func:`expand_inputs`); their units numbered globally across the files in that order
(:func:`read_inputs`), their records with a ``file`` field when there are several
(:func:`input_records`) and one combined sha256 (:func:`combined_sha256`).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

from exbert.corpus.inputs import (
    ReadOptions,
    Record,
    Skipped,
    Unit,
    input_format,
    read_records,
    read_units,
)
from exbert.errors import CorpusError

SUFFIXES = (".txt", ".text", ".md", ".jsonl", ".ndjson", ".parquet", ".pq")
_MAGIC = frozenset("*?[")

InputArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def expand_inputs(inputs: InputArg) -> list[Path]:
    """The input files of ``inputs`` (a path, or a list of files, globs and folders), resolved,
    sorted within each argument and deduplicated in order. :class:`CorpusError` for an
    argument that matches nothing, an empty folder or an unknown suffix."""
    args = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not args:
        raise CorpusError("no input given: name one or more .txt, .jsonl or .parquet files, "
                          "globs or folders")
    out: list[Path] = []
    seen: set[Path] = set()
    for arg in args:
        text = os.fspath(arg)
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p.resolve() for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise CorpusError(f"{path}: the folder holds no .txt, .jsonl or .parquet file",
                                  path=str(path))
        elif path.is_file():  # a file whose name has glob characters is that file
            found = [path.resolve()]
        elif any(c in _MAGIC for c in text):
            found = sorted(Path(p).resolve() for p in glob.glob(os.path.expanduser(text),
                                                                recursive=True)
                           if Path(p).is_file())
            if not found:
                raise CorpusError(f"{text}: no input file matches", path=text)
        else:
            raise CorpusError(f"{path}: no such input file", path=str(path))
        for p in found:
            input_format(p)  # CorpusError for an unknown suffix
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def combined_sha256(shas: Sequence[str]) -> str:
    """One input's sha256, or the sha256 of the inputs' sha256s (in order)."""
    if len(shas) == 1:
        return shas[0]
    return hashlib.sha256("\n".join(shas).encode("ascii")).hexdigest()


def input_format_of(paths: Sequence[Path]) -> str:
    """The format of the inputs: ``txt``, ``jsonl`` or ``parquet``, or ``mixed``."""
    formats = {input_format(p) for p in paths}
    return formats.pop() if len(formats) == 1 else "mixed"


def read_inputs(paths: Sequence[Path], start: int = 0,
                options: ReadOptions | None = None) -> Iterator[Unit]:
    """The units of all ``paths`` in order, numbered globally, from unit ``start`` on."""
    return read_units(list(paths), start, options)


class _Named(Skipped):
    """Counts into ``target``, each place prefixed with the file's name."""

    def __init__(self, target: Skipped, name: str) -> None:
        super().__init__()
        self.target, self.name = target, name

    def add(self, where: str) -> None:
        self.target.add(f"{self.name} {where}")


def input_records(paths: Sequence[Path], options: ReadOptions,
                  skipped: Skipped | None = None) -> Generator[Record, None, None]:
    """The records of ``paths`` with their global unit index. One input: its .jsonl /
    Parquet records. Several: every unit (a .txt paragraph too), its metadata with
    ``file`` (the file's name) added; bad records counted with the file's name."""
    several = len(paths) > 1
    offset = 0
    for p in paths:
        count = 0
        if input_format(p) == "txt":
            if not several:
                continue
            for u in read_units(p, 0, options):
                count = u.index + 1
                yield Record(offset + u.index, 0, "", {"file": p.name})
        else:
            named = _Named(skipped, p.name) if (several and skipped is not None) else skipped
            for r in read_records(p, options, named):
                count = r.index + 1
                meta = {"file": p.name, **r.meta} if several else r.meta
                yield Record(offset + r.index, r.line, r.text, meta)
        offset += count
