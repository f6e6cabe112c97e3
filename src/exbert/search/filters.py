"""Filters on the matched token's annotation: ``pos=VERB``, ``ent_type=PERSON,GPE``,
``dep!=punct``, ``is_stop=false``, and on the metadata of its document (the fields of a
.jsonl / Parquet record besides the text) with the prefix ``doc.``: ``doc.source=wiki``.

Accepted forms: ``None``; a string ``"pos=VERB"``; a list of such strings; a mapping
``{"pos": "VERB"}``, ``{"pos": ["VERB", "AUX"]}``, ``{"is_stop": False}``. Values of one
field are alternatives (OR); different fields must all hold (AND); ``!=`` negates a field.
Special tokens and tokens without a word never match a label filter.

Values are compared with the corpus's own labels (those its spaCy pipeline gave, stored in
``labels.json``): POS, tag, dependency and entity labels ignoring case (``noun`` is ``NOUN``);
lemmas and metadata values exactly when the corpus has that value, else ignoring case.
Metadata values compare as text (``true``/``false``, numbers as JSON: ``doc.year=2020``); a
negated metadata condition (``doc.source!=wiki``) also holds for documents without the field.
A value the corpus does not have is a 422 that lists the values it has. In a sharded corpus the
values are checked against the union of its shards' (:func:`check_conditions`); a shard that
lacks a value (or a document field) just has no token matching it (``FilterMasks(strict=False)``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from exbert.corpus.layout import FLAG_PUNCT, FLAG_STOP
from exbert.errors import InvalidRequest

if TYPE_CHECKING:
    import numpy as np

    from exbert.search.tables import CorpusTables

LABEL_FIELDS = ("pos", "tag", "dep", "ent_type", "ent_iob", "lemma")
BOOL_FIELDS = ("is_stop", "is_punct")
FIELDS = LABEL_FIELDS + BOOL_FIELDS
ALIASES = {"ent": "ent_type", "entity": "ent_type", "upos": "pos", "stop": "is_stop",
           "punct": "is_punct", "iob": "ent_iob"}
CASELESS_FIELDS = ("pos", "tag", "dep", "ent_type", "ent_iob")
DOC_PREFIX = "doc."
_DOC_NAME = re.compile(r"[^=!,\x00-\x1f]{1,200}")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
MAX_FILTER_VALUES = 64


@dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[str, ...]
    negate: bool = False

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negate else '='}{','.join(self.values)}"


def _field(name: str) -> str:
    """The canonical field: an annotation field, or ``doc.<name>`` for document metadata."""
    raw = name.strip()
    if raw.lower().startswith(DOC_PREFIX) and _DOC_NAME.fullmatch(raw[len(DOC_PREFIX):]):
        return DOC_PREFIX + raw[len(DOC_PREFIX):]
    key = ALIASES.get(raw.lower(), raw.lower())
    if key not in FIELDS:
        hint = (f", or doc.{raw} for a field of the document's metadata"
                if _DOC_NAME.fullmatch(raw) else "")
        raise InvalidRequest(
            f"unknown filter field {name!r}; filter on one of: {', '.join(FIELDS)}{hint}",
            field=name,
        )
    return key


def _values(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, bool):
        items = ["true" if value else "false"]
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, Sequence):
        items = [str(v).strip() for v in value]
    else:
        items = [str(value)]
    items = [v for v in items if v != ""] if key in BOOL_FIELDS else items
    if not items or len(items) > MAX_FILTER_VALUES:
        raise InvalidRequest(f"filter {key!r} needs between 1 and {MAX_FILTER_VALUES} values")
    if key in BOOL_FIELDS:
        out = []
        for v in items:
            low = v.lower()
            if low not in _TRUE | _FALSE:
                raise InvalidRequest(f"filter {key} takes true or false, not {v!r}", field=key)
            out.append("true" if low in _TRUE else "false")
        return tuple(dict.fromkeys(out))
    return tuple(dict.fromkeys(items))


def parse_filters(filters: Any) -> list[Condition]:
    """Canonical conditions (sorted by field) from any accepted form."""
    if filters is None:
        return []
    conditions: list[Condition] = []
    if isinstance(filters, str):
        filters = [filters]
    if isinstance(filters, Mapping):
        for name, value in filters.items():
            negate = str(name).endswith("!")
            key = _field(str(name).rstrip("!"))
            conditions.append(Condition(key, _values(key, value), negate))
    elif isinstance(filters, Sequence):
        for item in filters:
            if not isinstance(item, str) or "=" not in item:
                raise InvalidRequest(
                    f"a filter looks like field=value (pos=VERB) or field!=value, not {item!r}"
                )
            name, _, value = item.partition("=")
            negate = name.endswith("!")
            key = _field(name.rstrip("!"))
            conditions.append(Condition(key, _values(key, value), negate))
    else:
        raise InvalidRequest("filters must be a mapping, a list of 'field=value' or a string")
    fields = [c.field for c in conditions]
    if len(set(fields)) != len(fields):
        raise InvalidRequest("each filter field may appear once (list alternatives: pos=NOUN,VERB)")
    return sorted(conditions, key=lambda c: c.field)


_FLAG_BITS = {"is_stop": FLAG_STOP, "is_punct": FLAG_PUNCT}


class FilterMasks:
    """Boolean masks [n_tokens] of the corpus tokens a result may be, for parsed conditions;
    the most recent ones are kept (a user refines a search with the same filters)."""

    KEEP = 16

    def __init__(self, tables: CorpusTables, strict: bool = True) -> None:
        self._tables = tables
        self._strict = strict
        self._lock = threading.Lock()
        self._masks: OrderedDict[tuple[Any, ...], np.ndarray | None] = OrderedDict()

    def mask(self, conditions: list[Condition], include_special: bool) -> np.ndarray | None:
        """The mask of ``conditions`` (None when every token may match). Special tokens are
        excluded unless ``include_special``."""
        key = (tuple(conditions), include_special)
        with self._lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        mask = self._compute(conditions, include_special)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > self.KEEP:
                self._masks.popitem(last=False)
        return mask

    def _compute(self, conditions: list[Condition], include_special: bool
                 ) -> np.ndarray | None:
        import numpy as np

        t = self._tables
        mask: np.ndarray | None = None
        if not include_special and t.has_special:
            mask = ~np.asarray(t.tokens["special"], dtype=bool)
        for c in conditions:
            sel, has = self._select(c)
            sel = (~sel if c.negate else sel) & has
            mask = sel if mask is None else mask & sel
        return mask

    def _select(self, c: Condition) -> tuple[np.ndarray, np.ndarray]:
        """(tokens whose word has one of ``c.values``, tokens that have a word)."""
        import numpy as np

        t = self._tables
        if c.field.startswith(DOC_PREFIX):
            return self._select_document(c)
        if c.field in BOOL_FIELDS:
            flags = t.labels_of_tokens("flags")
            state = (flags & _FLAG_BITS[c.field]) != 0
            sel = np.zeros(len(flags), dtype=bool)
            for v in c.values:
                sel |= state == (v == "true")
            return sel, flags >= 0
        table = t.labels.get(c.field, [])
        ids = _matching(table, c, c.field in CASELESS_FIELDS, c.field, self._strict)
        labels = t.labels_of_tokens(c.field)
        return np.isin(labels, ids), labels >= 0

    def _select_document(self, c: Condition) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        t = self._tables
        name = c.field[len(DOC_PREFIX):]
        fields = t.documents.fields
        if name not in fields:
            close = [f for f in fields if f.casefold() == name.casefold()]
            if not close and not self._strict:  # no document here has the field
                n = len(t.tokens)
                return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
            if not close:
                _unknown_field(name, list(fields))
            name = close[0]
        ids = _matching(t.documents.value_texts(name), c, False, name, self._strict)
        values = t.document_ids_of_tokens(name)
        # a negated condition also holds for documents without the field
        return np.isin(values, ids), np.ones(len(values), dtype=bool)


def check_conditions(conditions: Sequence[Condition], labels: Mapping[str, list[str]],
                     documents: Mapping[str, list[str]]) -> None:
    """422 (as :class:`FilterMasks` raises it) for a condition no token can match: a label
    value not in ``labels`` {field: values} or a document field or value not in
    ``documents`` {field: value texts} (a sharded corpus passes the union of its shards)."""
    for c in conditions:
        if c.field in BOOL_FIELDS:
            continue
        if not c.field.startswith(DOC_PREFIX):
            _matching(labels.get(c.field, []), c, c.field in CASELESS_FIELDS, c.field)
            continue
        name = c.field[len(DOC_PREFIX):]
        fields = list(documents)
        close = [f for f in fields if f == name] or [
            f for f in fields if f.casefold() == name.casefold()]
        if not close:
            _unknown_field(name, fields)
        _matching(documents[close[0]], c, False, close[0])


def _unknown_field(name: str, fields: list[str]) -> NoReturn:
    """422 for a ``doc.<name>`` filter on a field no document of the corpus has."""
    have = (f"its documents have the fields: {', '.join(fields)}" if fields else
            "it keeps no document metadata (build it from .jsonl or Parquet records with "
            "fields besides the text)")
    raise InvalidRequest(
        f"unknown filter field {name!r} in this corpus; filter on one of: "
        f"{', '.join(FIELDS)}; {have}", field=name, document_fields=fields)


def _matching(table: list[str], c: Condition, caseless: bool, what: str,
              strict: bool = True) -> np.ndarray:
    """The ids in ``table`` that ``c``'s values name: equal ignoring case (``caseless``), or
    exactly when the table has the value, else ignoring case. 422 when no value of a
    positive condition names any (listing the table's values), unless not ``strict``."""
    import numpy as np

    folded: dict[str, list[int]] = {}
    exact: dict[str, int] = {}
    for i, v in enumerate(table):
        folded.setdefault(v.casefold(), []).append(i)
        exact.setdefault(v, i)
    ids: list[int] = []
    unknown = []
    for v in c.values:
        if not caseless and v in exact:
            ids.append(exact[v])
        elif v.casefold() in folded:
            ids += folded[v.casefold()]
        else:
            unknown.append(v)
    if strict and unknown and len(unknown) == len(c.values) and not c.negate:
        shown = [v for v in table if v][:80]
        more = " ..." if len(table) > len(shown) + ("" in table) else ""
        raise InvalidRequest(
            f"no token in this corpus has {what} {', '.join(unknown)}; known values in this "
            f"corpus: {', '.join(shown)}{more}",
            field=c.field, values=list(c.values), known=shown,
        )
    return np.array(sorted(set(ids)), dtype=np.int64)
