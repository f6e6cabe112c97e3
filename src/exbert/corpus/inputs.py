"""Reading a build's input, streamed (never the whole file in memory): its units of text and,
for ``.jsonl`` and Parquet, each record's other fields as document metadata.

Formats:

- ``.txt``: paragraphs separated by blank lines; inside a paragraph, runs of whitespace (hard
  line wraps) become one space. spaCy splits each paragraph into sentences.
- ``.jsonl``: one JSON object per line; its text field (``"text"``, or ``text_field``) is one
  unit of search, never split. Every other field is document metadata.
- ``.parquet``: one row per unit: the text column (``text``, or ``text_field``) and the other
  columns as metadata, read by record batches with pyarrow (``pip install 'exbert[parquet]'``).

Metadata values: strings, integers, floats and booleans are kept as they are; nested objects
and lists are kept JSON-encoded as strings; nulls (and non-finite floats) are left out.

A bad record (not UTF-8, not valid JSON, not an object, no text field, a text that is not a
string or is empty) is skipped and counted in :class:`Skipped`; with ``strict`` it stops the
read with :class:`CorpusInputError` naming the file and the line (or row). Blank lines are
not records. The unit index counts the good records only, so it is the same for every read.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from exbert.errors import CorpusBuildError, CorpusError, CorpusInputError

MAX_UNIT_CHARS = 200_000
OPTIONS_ENV = "EXBERT_INPUT_OPTIONS"  # the read options of the spaCy child process
PARQUET_BATCH_ROWS = 1024
_BLANK = frozenset(" \t\r\f\v")

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Unit:
    """A paragraph (.txt) or record (.jsonl, .parquet) and whether spaCy should split it."""

    index: int
    text: str
    split: bool


@dataclass(frozen=True)
class Record:
    """A good record of a .jsonl or Parquet input: its unit ``index``, its ``line`` (1-based
    line or row number), its text (whitespace collapsed) and its metadata."""

    index: int
    line: int
    text: str
    meta: dict[str, Scalar]


@dataclass(frozen=True)
class ReadOptions:
    """``text_field``: the field (column) holding the text; ``strict``: stop at the first bad
    record instead of skipping it."""

    text_field: str = "text"
    strict: bool = False

    def to_env(self) -> str:
        return json.dumps({"text_field": self.text_field, "strict": self.strict})

    @classmethod
    def from_env(cls) -> ReadOptions:
        raw = os.environ.get(OPTIONS_ENV)
        if not raw:
            return cls()
        d = json.loads(raw)
        return cls(text_field=str(d.get("text_field", "text")), strict=bool(d.get("strict")))


@dataclass
class Skipped:
    """The bad records a read skipped: how many, the first one and up to five, in words
    (recorded in the manifest's ``input.skipped``)."""

    count: int = 0
    first: str | None = None
    examples: list[str] = field(default_factory=list)

    def add(self, where: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where
        if len(self.examples) < 5:
            self.examples.append(where)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.count, "first": self.first, "examples": list(self.examples)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Skipped:
        return cls(int(d.get("lines") or 0), d.get("first"), list(d.get("examples") or []))

    def summary(self) -> str:
        """``skipped 3 lines (first: line 12: no "text")`` or ""."""
        if not self.count:
            return ""
        return f"skipped {self.count} line{'s' if self.count != 1 else ''} (first: {self.first})"


def input_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".txt", ".text", ".md"):
        return "txt"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise CorpusError(
        f"{path}: unknown input format {suffix or '(no suffix)'}; give a .txt file "
        "(paragraphs separated by blank lines), a .jsonl file with a \"text\" field per line "
        "or a .parquet file with a text column",
        path=str(path),
    )


def read_units(path: str | os.PathLike[str] | Sequence[Path], start: int = 0,
               options: ReadOptions | None = None) -> Iterator[Unit]:
    """The units of ``path`` (or of several paths, numbered across them in order) from unit
    index ``start`` on. ``options`` default to those the parent process put in the
    environment (the spaCy child), else :class:`ReadOptions`."""
    if not isinstance(path, str | os.PathLike):
        offset = 0
        for p in path:
            count = 0
            for u in read_units(Path(p), 0, options):
                count = u.index + 1
                if offset + u.index >= start:
                    yield Unit(offset + u.index, u.text, u.split)
            offset += count
        return
    path = Path(path)
    fmt = input_format(path)
    options = options or ReadOptions.from_env()
    if fmt == "txt":
        yield from _txt_units(path, start)
        return
    for r in read_records(path, options, start=start):
        yield Unit(r.index, r.text, False)


def read_records(path: Path, options: ReadOptions, skipped: Skipped | None = None, *,
                 start: int = 0, meta: bool = True) -> Generator[Record, None, None]:
    """The good records of a .jsonl or Parquet input from unit index ``start`` on; the bad
    ones before are counted in ``skipped`` (or raise, with ``options.strict``)."""
    fmt = input_format(path)
    rows = _parquet_rows(path, options) if fmt == "parquet" else _jsonl_rows(path)
    where = "row" if fmt == "parquet" else "line"
    index = 0
    for lineno, row, _ in rows:
        text, why = _text_of(row, options.text_field)
        if why is not None:
            if options.strict:
                raise CorpusInputError(
                    f"{path}:{lineno}: {why}; each {where} needs a non-empty string "
                    f"{options.text_field!r} (build without --strict to skip bad {where}s)",
                    path=str(path), line=lineno, reason=why,
                )
            if skipped is not None:
                skipped.add(f"{where} {lineno}: {why}")
            continue
        assert text is not None
        if index >= start:
            md = _metadata(row, options.text_field) if meta else {}
            yield Record(index, lineno, text, md)
        index += 1


@dataclass(frozen=True)
class InputSample:
    """The texts of the first units of an input and the ``share`` of the whole input they
    are (by bytes for text files, by rows for Parquet): what a build's token estimate
    extrapolates from."""

    texts: list[str]
    share: float
    split: bool


def sample(path: Path, options: ReadOptions, max_chars: int = 200_000) -> InputSample:
    """The first units of ``path`` up to ``max_chars`` characters of text (bad records are
    passed over, never raised)."""
    fmt = input_format(path)
    texts: list[str] = []
    chars = 0
    if fmt == "txt":
        size = max(1, path.stat().st_size)
        for u in _txt_units(path, 0):
            texts.append(u.text)
            chars += len(u.text)
            if chars >= max_chars:
                used = sum(len(t.encode("utf-8")) + 1 for t in texts)
                return InputSample(texts, min(1.0, used / size), True)
        return InputSample(texts, 1.0, True)
    if fmt == "parquet":
        total = max(1, int(_parquet_file(path).metadata.num_rows))
        rows = _parquet_rows(path, options)
    else:
        total = max(1, path.stat().st_size)
        rows = _jsonl_rows(path)
    done = 0
    for _, row, weight in rows:
        done += weight
        text, _why = _text_of(row, options.text_field)
        if text is not None:
            texts.append(text)
            chars += len(text)
            if chars >= max_chars:
                return InputSample(texts, min(1.0, done / total), False)
    return InputSample(texts, 1.0, False)


# --- txt ----------------------------------------------------------------------------------------


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CorpusBuildError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc


def _txt_lines(path: Path) -> Iterator[str]:
    offset = 0
    with _open(path) as f:
        for raw in f:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusInputError(
                    f"{path}: not UTF-8 text (byte {offset + exc.start}); convert it to UTF-8 "
                    "first", path=str(path),
                ) from exc
            offset += len(raw)
            yield line[:-1] if line.endswith("\n") else line


def _txt_units(path: Path, start: int) -> Iterator[Unit]:
    yield from paragraph_units(_txt_lines(path), start)


def text_units(raw: str, start: int = 0) -> Iterator[Unit]:
    """The units of a .txt input held in a string (as :func:`read_units` reads a file)."""
    yield from paragraph_units(raw.replace("\r\n", "\n").split("\n"), start)


def paragraph_units(lines: Iterable[str], start: int) -> Iterator[Unit]:
    """Paragraphs (separated by blank lines) of ``lines`` (without their newlines), each
    with runs of whitespace collapsed, very long ones cut; from unit index ``start`` on."""
    index = 0
    block: list[str] = []

    def flush() -> Iterator[Unit]:
        nonlocal index
        for piece in _cut(" ".join(" ".join(block).split())):
            if not piece:
                continue
            if index >= start:
                yield Unit(index, piece, True)
            index += 1
        block.clear()

    for line in lines:
        if all(c in _BLANK for c in line):
            yield from flush()
        else:
            block.append(line)
    yield from flush()


def _cut(text: str) -> list[str]:
    """Very long paragraphs (no blank lines in a file) in pieces spaCy handles well."""
    if len(text) <= MAX_UNIT_CHARS:
        return [text]
    out, begin = [], 0
    while begin < len(text):
        end = min(len(text), begin + MAX_UNIT_CHARS)
        if end < len(text):
            cut = text.rfind(". ", begin, end)
            end = cut + 1 if cut > begin else end
        out.append(text[begin:end].strip())
        begin = end
    return out


# --- records ------------------------------------------------------------------------------------

_NOT_UTF8 = object()
_NOT_JSON = object()


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any, int]]:
    """(line number, parsed JSON or a marker of why not, bytes of the line)."""
    with _open(path) as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield lineno, _NOT_UTF8, len(raw)
                continue
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line), len(raw)
            except ValueError:
                yield lineno, _NOT_JSON, len(raw)


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CorpusError(
            "reading Parquet input needs pyarrow: pip install 'exbert[parquet]'",
        ) from exc
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise CorpusBuildError(f"{path}: not a readable Parquet file ({exc})",
                               path=str(path)) from exc


def _parquet_rows(path: Path, options: ReadOptions) -> Iterator[tuple[int, Any, int]]:
    """(row number, the row as a dict, 1), one record batch in memory at a time."""
    pf = _parquet_file(path)
    names = list(pf.schema_arrow.names)
    if options.text_field not in names:
        raise CorpusInputError(
            f"{path}: no column {options.text_field!r} (columns: {', '.join(names)}); name "
            "the text column with --text-field", path=str(path), columns=names,
        )
    row = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for record in batch.to_pylist():  # one batch of rows at a time
            row += 1
            yield row, record, 1


def _text_of(row: Any, text_field: str) -> tuple[str | None, str | None]:
    """(the record's text with whitespace collapsed, None) or (None, why it is bad)."""
    if row is _NOT_UTF8:
        return None, "not UTF-8"
    if row is _NOT_JSON:
        return None, "not a JSON object (invalid JSON)"
    if not isinstance(row, dict):
        return None, f"not a JSON object (a {type(row).__name__})"
    if row.get(text_field) is None:
        return None, f"no {json.dumps(text_field)}"
    text = row[text_field]
    if not isinstance(text, str):
        return None, f"{json.dumps(text_field)} is not a string"
    text = " ".join(text.split())
    if not text:
        return None, f"empty {json.dumps(text_field)}"
    return text, None


def metadata_value(value: Any) -> Scalar | None:
    """A metadata value as kept: scalars as they are, objects and lists JSON-encoded, dates
    and other types as their string; None for null and non-finite floats."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


_KEY = re.compile(r"[^\x00-\x1f]{1,200}")


def _metadata(row: dict[str, Any], text_field: str) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for key, value in row.items():
        if key == text_field or not isinstance(key, str) or not _KEY.fullmatch(key):
            continue
        v = metadata_value(value)
        if v is not None:
            out[key] = v
    return out
