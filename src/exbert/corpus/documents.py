"""The document table of a corpus: the metadata of each ``.jsonl`` / Parquet record that a
stored sentence comes from (every field besides the text: an id, a source, ...; with several
inputs also ``file``, the name of its input file, for .txt paragraphs too), written per shard
at the end of a build next to the shard's other tables.

Files of a shard (both listed in its manifest entry with their checksums; absent when its
records have no metadata, e.g. one ``.txt`` input, and in corpora built before them)::

    docs.npy    int32 [n_docs, 1 + n_fields]: the record's unit index (the ``unit`` of its
                sentences in sentences.npy, ascending), then per field the id of its value
                in docs.json (-1: the record has no such field)
    docs.json   {"fields": [name, ...], "values": {name: [value, ...]}}: the distinct values
                of each field, as JSON scalars (str, int, float, bool; nested objects and
                lists were JSON-encoded into strings by exbert.corpus.inputs)

Each shard's entry has a ``documents`` section naming its fields and counting its rows; the
top-level one names the union of the fields and counts all rows; the ``input`` section counts
the skipped bad records (``skipped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.input_set import input_records
from exbert.corpus.inputs import ReadOptions, Record, Scalar, Skipped

if TYPE_CHECKING:
    import numpy as np

    from exbert.corpus.config import BuildConfig

DOCS_FILE = "docs.npy"
DOCS_VALUES_FILE = "docs.json"
MAX_FIELDS = 256  # more distinct field names than this: the rest are left out


@dataclass
class Documents:
    """What a build wrote of its documents: rows, fields, the skipped bad records."""

    count: int = 0
    fields: list[str] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    per_shard: list[dict[str, Any] | None] = field(default_factory=list)

    def section(self) -> dict[str, Any]:
        """The manifest's ``documents`` section."""
        return {"count": self.count, "fields": self.fields,
                "files": [DOCS_FILE, DOCS_VALUES_FILE]}


def value_text(v: Scalar) -> str:
    """A metadata value as a filter compares it: ``true``/``false``, numbers as JSON."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    import json

    return json.dumps(v)


@dataclass
class ShardUnits:
    """A shard's folder and the ``unit`` of each of its sentences (ascending)."""

    folder: Path
    units: np.ndarray


class _Table:
    """The document rows of one shard being collected."""

    def __init__(self) -> None:
        self.ids: dict[str, dict[tuple[str, Scalar], int]] = {}
        self.values: dict[str, list[Scalar]] = {}
        self.rows: list[tuple[int, dict[str, int]]] = []

    def add(self, rec: Record) -> None:
        row: dict[str, int] = {}
        for name, v in rec.meta.items():
            if name not in self.ids:
                if len(self.ids) >= MAX_FIELDS:
                    continue
                self.ids[name], self.values[name] = {}, []
            table = self.ids[name]
            key = (type(v).__name__, v)
            if key not in table:
                table[key] = len(self.values[name])
                self.values[name].append(v)
            row[name] = table[key]
        self.rows.append((rec.index, row))

    def write(self, folder: Path, files: dict[str, Any]) -> dict[str, Any] | None:
        """Write docs.npy and docs.json into ``folder`` (recorded in ``files``); returns the
        shard's ``documents`` section, None when no record has metadata."""
        import numpy as np

        names = sorted(self.ids)
        if not names:
            return None
        arr = np.full((len(self.rows), 1 + len(names)), -1, dtype=np.int32)
        for r, (unit, row) in enumerate(self.rows):
            arr[r, 0] = unit
            for c, name in enumerate(names, 1):
                arr[r, c] = row.get(name, -1)
        files[DOCS_FILE] = storage.write_npy(folder / DOCS_FILE, arr).to_dict()
        files[DOCS_VALUES_FILE] = storage.write_json(
            folder / DOCS_VALUES_FILE,
            {"fields": names, "values": {n: self.values[n] for n in names}}).to_dict()
        return {"count": len(self.rows), "fields": names, "files": [DOCS_FILE, DOCS_VALUES_FILE]}


def write_shard_documents(config: BuildConfig, shards: list[ShardUnits],
                          files: list[dict[str, Any]], to_end: bool) -> Documents:
    """Read the inputs' records once (streamed) and write into each shard's folder the
    document table of the records its sentences come from (one shard's rows in memory at a
    time), recording the files in that shard's ``files``. Counts the bad records up to the
    last stored one (``to_end``: to the end of the inputs)."""
    import numpy as np

    docs = Documents()
    reading = ReadOptions(text_field=config.text_field)
    records = input_records([Path(p) for p in config.paths], reading, docs.skipped)
    pending = next(records, None)
    fields: set[str] = set()
    for shard, shard_files in zip(shards, files, strict=True):
        wanted = np.unique(np.asarray(shard.units, dtype=np.int64))
        table = _Table()
        last = int(wanted[-1]) if len(wanted) else -1
        while pending is not None and pending.index <= last:
            k = int(np.searchsorted(wanted, pending.index))
            if k < len(wanted) and wanted[k] == pending.index:
                table.add(pending)
            if pending.index == last:  # a unit may go on in the next shard
                break
            pending = next(records, None)
        section = table.write(shard.folder, shard_files)
        docs.per_shard.append(section)
        if section is not None:
            docs.count += section["count"]
            fields.update(section["fields"])
    if to_end:
        for _ in records:
            pass
    records.close()
    docs.fields = sorted(fields)
    return docs
