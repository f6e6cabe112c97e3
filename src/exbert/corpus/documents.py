"""The document table of a corpus: the metadata of each ``.jsonl`` / Parquet record that a
stored sentence comes from (every field besides the text: an id, a source, ...), written at
the end of a build next to the other tables.

Files (both listed in the manifest with their checksums; absent when the input has no
metadata, e.g. ``.txt``, and in corpora built before them)::

    docs.npy    int32 [n_docs, 1 + n_fields]: the record's unit index (the ``unit`` of its
                sentences in sentences.npy, ascending), then per field the id of its value
                in docs.json (-1: the record has no such field)
    docs.json   {"fields": [name, ...], "values": {name: [value, ...]}}: the distinct values
                of each field, as JSON scalars (str, int, float, bool; nested objects and
                lists were JSON-encoded into strings by exbert.corpus.inputs)

The manifest's ``documents`` section names the fields and counts the rows; its ``input``
section counts the skipped bad records (``skipped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.inputs import ReadOptions, Scalar, Skipped, read_records

if TYPE_CHECKING:
    import numpy as np

DOCS_FILE = "docs.npy"
DOCS_VALUES_FILE = "docs.json"
MAX_FIELDS = 256  # more distinct field names than this: the rest are left out


@dataclass
class Documents:
    """What a build wrote of its documents: rows, fields, the skipped bad records."""

    count: int = 0
    fields: list[str] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)

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


def write_documents(folder: Path, files: dict[str, storage.FileRecord], input_path: Path,
                    options: ReadOptions, units: np.ndarray, to_end: bool) -> Documents:
    """Read the input's records again (streamed) and write the document table of the records
    whose unit index is in ``units`` (sorted) into ``folder``, recording the files in
    ``files``. Counts the bad records up to the last stored one (``to_end``: to the end of
    the input). Nothing is written when no record has metadata."""
    import numpy as np

    docs = Documents()
    wanted = np.unique(np.asarray(units, dtype=np.int64))
    last = int(wanted[-1]) if len(wanted) else -1
    ids: dict[str, dict[tuple[str, Scalar], int]] = {}
    values: dict[str, list[Scalar]] = {}
    rows: list[tuple[int, dict[str, int]]] = []
    k = 0
    for rec in read_records(input_path, options, docs.skipped):
        if rec.index > last and not to_end:
            break
        while k < len(wanted) and wanted[k] < rec.index:
            k += 1
        if k >= len(wanted) or wanted[k] != rec.index:
            continue
        row: dict[str, int] = {}
        for name, v in rec.meta.items():
            if name not in ids:
                if len(ids) >= MAX_FIELDS:
                    continue
                ids[name], values[name] = {}, []
            table = ids[name]
            key = (type(v).__name__, v)
            if key not in table:
                table[key] = len(values[name])
                values[name].append(v)
            row[name] = table[key]
        rows.append((rec.index, row))
    names = sorted(ids)
    if not names:
        return docs
    arr = np.full((len(rows), 1 + len(names)), -1, dtype=np.int32)
    for r, (unit, row) in enumerate(rows):
        arr[r, 0] = unit
        for c, name in enumerate(names, 1):
            arr[r, c] = row.get(name, -1)
    files[DOCS_FILE] = storage.write_npy(folder / DOCS_FILE, arr)
    files[DOCS_VALUES_FILE] = storage.write_json(
        folder / DOCS_VALUES_FILE, {"fields": names, "values": {n: values[n] for n in names}})
    storage.fsync_dir(folder)
    docs.count, docs.fields = len(rows), names
    return docs
