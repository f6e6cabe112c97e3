"""Filters on the matched token's annotation: ``pos=VERB``, ``ent_type=PERSON,GPE``,
``dep!=punct``, ``is_stop=false``.

Accepted forms: ``None``; a string ``"pos=VERB"``; a list of such strings; a mapping
``{"pos": "VERB"}``, ``{"pos": ["VERB", "AUX"]}``, ``{"is_stop": False}``. Values of one
field are alternatives (OR); different fields must all hold (AND); ``!=`` negates a field.
Special tokens and tokens without a word never match a label filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exbert.errors import InvalidRequest

LABEL_FIELDS = ("pos", "tag", "dep", "ent_type", "ent_iob", "lemma")
BOOL_FIELDS = ("is_stop", "is_punct")
FIELDS = LABEL_FIELDS + BOOL_FIELDS
ALIASES = {"ent": "ent_type", "entity": "ent_type", "upos": "pos", "stop": "is_stop",
           "punct": "is_punct", "iob": "ent_iob"}
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
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in FIELDS:
        raise InvalidRequest(
            f"unknown filter field {name!r}; filter on one of: {', '.join(FIELDS)}",
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
