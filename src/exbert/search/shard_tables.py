"""The token tables of a corpus as a whole, over its shards' parts (:mod:`exbert.search.part`):
the union of the shards' labels and document values (what filters accept), the document of a
global sentence id, and the record arrays ``sentences``, ``tokens`` and ``words`` with GLOBAL
ids (for a one-shard corpus, that shard's memory-mapped arrays; for several, concatenated
once on first use, with sentence, token, word and text offsets and label ids remapped to the
union's: memory of the order of the tables, meant for tests and tools, not for searches)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exbert.corpus.layout import LABEL_FIELDS
from exbert.search.filters import DOC_PREFIX, Condition, check_conditions

if TYPE_CHECKING:
    import numpy as np


def union_lists(lists: Sequence[dict[str, list[str]]]) -> dict[str, list[str]]:
    """Per key the values of the first list, then the values the next ones add, in order."""
    out: dict[str, list[str]] = {}
    for d in lists:
        for key, values in d.items():
            have = out.setdefault(key, [])
            seen = set(have)
            for v in values:
                if v not in seen:
                    have.append(v)
                    seen.add(v)
    return out


class _Documents:
    """What the server reads of a corpus's document table: its field names."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields


class ShardTables:
    """The tables of a corpus over its parts. ``token_offsets`` / ``sentence_offsets``:
    int64 [parts + 1], the cumulative counts."""

    def __init__(self, parts: Sequence[Any], token_offsets: np.ndarray,
                 sentence_offsets: np.ndarray) -> None:
        self._parts = list(parts)
        self._tok = token_offsets
        self._sent = sentence_offsets
        self.labels: dict[str, list[str]] = union_lists([p.labels() for p in self._parts])
        fields = union_lists([{"": p.document_fields()} for p in self._parts])
        self.documents = _Documents(sorted(fields.get("", [])))  # as one shard lists them
        self._document_values: dict[str, list[str]] | None = None
        self.has_special = any(p.has_special() for p in self._parts)
        self._lock = threading.Lock()
        self._checked: set[tuple[Condition, ...]] = set()
        self._arrays: dict[str, np.ndarray] = {}

    @property
    def document_values(self) -> dict[str, list[str]]:
        """Per document field the union of its shards' values (as filters compare them);
        gathered on first use (a filter on document metadata)."""
        with self._lock:
            if self._document_values is None:
                values = union_lists([p.document_values() for p in self._parts])
                self._document_values = {f: values[f] for f in sorted(values)}
            return self._document_values

    def check(self, conditions: tuple[Condition, ...]) -> None:
        """422 for a filter no shard can match (:func:`check_conditions` on the union)."""
        if conditions in self._checked:
            return
        docs = any(c.field.startswith(DOC_PREFIX) for c in conditions)
        check_conditions(conditions, self.labels, self.document_values if docs else {})
        with self._lock:
            if len(self._checked) > 256:
                self._checked.clear()
            self._checked.add(conditions)

    def filter_labels(self, fields: tuple[str, ...] = ("pos", "tag", "dep", "ent_type",
                                                       "ent_iob")) -> dict[str, list[str]]:
        """The labels this corpus has per annotation field (any of its shards)."""
        return {f: [v for v in self.labels.get(f, []) if v] for f in fields}

    def part_of_sentence(self, sid: int) -> tuple[int, int]:
        """(part index, local sentence id) of a global sentence id."""
        import numpy as np

        sid = int(sid)
        if not 0 <= sid < int(self._sent[-1]):
            raise IndexError(f"sentence id {sid} out of range")
        p = int(np.searchsorted(self._sent, sid, side="right")) - 1
        return p, sid - int(self._sent[p])

    def document(self, sid: int) -> dict[str, str | int | float | bool] | None:
        p, local = self.part_of_sentence(sid)
        doc: dict[str, str | int | float | bool] | None = self._parts[p].document(local)
        return doc

    @property
    def sentences(self) -> np.ndarray:
        return self._array("sentences")

    @property
    def tokens(self) -> np.ndarray:
        return self._array("tokens")

    @property
    def words(self) -> np.ndarray:
        return self._array("words")

    def _array(self, name: str) -> np.ndarray:
        if len(self._parts) == 1:
            arr: np.ndarray = self._parts[0].table(name)
            return arr
        with self._lock:
            if not self._arrays:
                self._arrays = self._concatenate()
            return self._arrays[name]

    def _concatenate(self) -> dict[str, np.ndarray]:
        import numpy as np

        out: dict[str, list[np.ndarray]] = {"sentences": [], "tokens": [], "words": []}
        text = words = 0
        for i, p in enumerate(self._parts):
            s = np.array(p.table("sentences"))
            t = np.array(p.table("tokens"))
            w = np.array(p.table("words"))
            sent, tok = int(self._sent[i]), int(self._tok[i])
            s["token_start"] += tok
            s["word_start"] += words
            end = int(s["text_end"].max()) if len(s) else 0
            s["text_start"] += text
            s["text_end"] += text
            t["sentence"] += sent
            t["word"] = np.where(t["word"] >= 0, t["word"] + words, -1)
            w["sentence"] += sent
            own = p.labels()
            for field in LABEL_FIELDS:
                if field in own and len(w):
                    index = {v: j for j, v in enumerate(self.labels[field])}
                    remap = np.array([index[v] for v in own[field]] or [0], dtype=np.int64)
                    w[field] = remap[np.asarray(w[field], dtype=np.int64)]
            text += end
            words += len(w)
            out["sentences"].append(s)
            out["tokens"].append(t)
            out["words"].append(w)
        return {k: np.concatenate(v) for k, v in out.items()}
