"""The document table of a published corpus (see :mod:`exbert.corpus.documents`): the
metadata of the record each sentence comes from, and per token the value ids a filter on a
metadata field compares (``source=wiki``, ``doc.id=42``). Corpora without it (``.txt``
input, or built before it) have no fields and no metadata."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from exbert.corpus.documents import DOCS_FILE, DOCS_VALUES_FILE, value_text

if TYPE_CHECKING:
    import numpy as np

    from exbert.search.files import CorpusFiles


class DocumentTable:
    """``fields`` (names), per field its distinct ``values``, and per sentence its row."""

    def __init__(self, files: CorpusFiles, sentence_units: np.ndarray) -> None:
        import numpy as np

        section = files.manifest.raw.get("documents") or {}
        self.fields: list[str] = []
        self.values: dict[str, list[Any]] = {}
        self._rows: np.ndarray | None = None
        self._units = sentence_units
        self._of_sentence: np.ndarray | None = None
        self._lock = threading.Lock()
        self._texts: dict[str, list[str]] = {}
        if not section or DOCS_FILE not in files.manifest.files:
            return
        meta = files.json(DOCS_VALUES_FILE)
        self.fields = [str(f) for f in meta["fields"]]
        self.values = {str(k): list(v) for k, v in meta["values"].items()}
        rows = files.npy(DOCS_FILE, int(section["count"]))
        if rows.ndim != 2 or rows.shape[1] != 1 + len(self.fields):
            files.corrupt(DOCS_FILE, f"shape {rows.shape}, expected [n, {1 + len(self.fields)}]")
        self._rows = np.asarray(rows)

    def __bool__(self) -> bool:
        return self._rows is not None

    def row_of_sentences(self) -> np.ndarray:
        """int64 [n_sentences]: each sentence's document row, -1 for none."""
        import numpy as np

        with self._lock:
            if self._of_sentence is None:
                units = np.asarray(self._units, dtype=np.int64)
                if self._rows is None or not len(self._rows):
                    self._of_sentence = np.full(len(units), -1, dtype=np.int64)
                else:
                    doc_units = self._rows[:, 0].astype(np.int64)
                    at = np.clip(np.searchsorted(doc_units, units), 0, len(doc_units) - 1)
                    self._of_sentence = np.where(doc_units[at] == units, at, -1)
            return self._of_sentence

    def of_sentence(self, sid: int) -> dict[str, Any] | None:
        """The metadata of sentence ``sid``'s document (None: no document table)."""
        if self._rows is None:
            return None
        row = int(self.row_of_sentences()[int(sid)])
        if row < 0:
            return {}
        ids = self._rows[row, 1:]
        return {f: self.values[f][int(i)] for f, i in zip(self.fields, ids, strict=True)
                if int(i) >= 0}

    def value_texts(self, name: str) -> list[str]:
        """The values of field ``name`` as filters compare them (strings)."""
        with self._lock:
            if name not in self._texts:
                self._texts[name] = [value_text(v) for v in self.values[name]]
            return self._texts[name]

    def ids_of_sentences(self, name: str) -> np.ndarray:
        """int64 [n_sentences]: the value id of field ``name`` of each sentence's document
        (-1: none)."""
        import numpy as np

        assert self._rows is not None
        col = self._rows[:, 1 + self.fields.index(name)].astype(np.int64)
        rows = self.row_of_sentences()
        return np.where(rows >= 0, col[np.maximum(rows, 0)], -1)
