"""Search results and the summaries the views draw, all JSON-ready through ``to_dict()``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

SUMMARY_FIELDS = ("pos", "dep", "ent_type")


@dataclass(frozen=True)
class CorpusToken:
    """A model token of a corpus sentence with its word's annotation (``None`` fields for
    special tokens and whitespace-only tokens). ``start``/``end``: character offsets into the
    sentence text; ``word``: index of the spaCy word in the sentence; ``head``: the index of
    that word's syntactic head word, ``head_token`` the position of the head word's first
    model token; ``ent_type`` is "" outside entities."""

    text: str
    start: int
    end: int
    special: bool
    word: int | None
    lemma: str | None
    pos: str | None
    tag: str | None
    dep: str | None
    head: int | None
    head_token: int | None
    ent_type: str | None
    ent_iob: str | None
    is_stop: bool | None
    is_punct: bool | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MaxAttention:
    """Where the matched token's attention is strongest, for the selected heads at the
    searched layer (the sum of the selected heads' attention), among the sentence's
    non-special tokens unless the search counted them (``special_attention``). ``out``: the
    position the match attends to most (argmax of its row); ``inward`` (``"in"`` in JSON):
    the position that attends most to the match (argmax of its column). Weights are means
    over the selected heads, of the attention as the model gave it (not renormalised)."""

    out: int
    out_weight: float
    inward: int = field(metadata={"json": "in"})
    in_weight: float

    def to_dict(self) -> dict[str, Any]:
        return {f.metadata.get("json", f.name): getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Match:
    """One match of a search: its rank and cosine ``score``, where it is (``sentence_id``, the
    corpus-wide ``token_id``, its ``position`` in the sentence), the sentence's ``text`` and
    annotated ``tokens``, the match's max attention (None when not available) and the
    ``document`` metadata of the record the sentence comes from (.jsonl / Parquet fields
    besides the text; None when the corpus keeps none)."""

    rank: int
    score: float
    sentence_id: int
    token_id: int
    position: int
    text: str
    tokens: list[CorpusToken]
    max_attention: MaxAttention | None
    document: dict[str, str | int | float | bool] | None = None

    @property
    def token(self) -> CorpusToken:
        return self.tokens[self.position]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "sentence_id": self.sentence_id,
            "token_id": self.token_id,
            "position": self.position,
            "text": self.text,
            "tokens": [t.to_dict() for t in self.tokens],
            "max_attention": None if self.max_attention is None else self.max_attention.to_dict(),
            "document": self.document,
        }


def _cell(m: Match, position: int, offset: int) -> dict[str, Any] | None:
    if not 0 <= position < len(m.tokens):
        return None
    t = m.tokens[position]
    return {"offset": offset, "position": position, "text": t.text, "special": t.special,
            "pos": t.pos, "dep": t.dep, "ent_type": t.ent_type}


def _histogram(values: list[str | None]) -> dict[str, int]:
    counts = Counter("" if v is None else v for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class Summary:
    """exBERT's colour matrix (one row per match, offsets -window..+window) and the
    histograms of POS/DEP/entity over the matched tokens and over their max-attention
    (outward) tokens. Special tokens count as label "" in histograms."""

    window: int
    rows: list[list[dict[str, Any] | None]]
    matched: dict[str, dict[str, int]]
    max_attention: dict[str, dict[str, int]] | None

    @classmethod
    def of(cls, matches: list[Match], window: int) -> Summary:
        offsets = range(-window, window + 1)
        rows = [[_cell(m, m.position + o, o) for o in offsets] for m in matches]
        matched = {f: _histogram([getattr(m.token, f) for m in matches]) for f in SUMMARY_FIELDS}
        with_attn = [m for m in matches if m.max_attention is not None]
        max_attention = None
        if with_attn:
            max_attention = {
                f: _histogram([getattr(m.tokens[m.max_attention.out], f)  # type: ignore[union-attr]
                               for m in with_attn])
                for f in SUMMARY_FIELDS
            }
        return cls(window, rows, matched, max_attention)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "offsets": list(range(-self.window, self.window + 1)),
            "rows": self.rows,
            "histograms": {"matched": self.matched, "max_attention": self.max_attention},
        }


@dataclass
class SearchResult:
    """The k nearest corpus tokens of a query, with the summaries of the views."""

    corpus: str
    model: str
    by: str
    layer: int | str  # transformer layer 0..L-1 or "embeddings" (exbert.view)
    heads: list[int] | None
    k: int
    filters: list[str]
    exact: bool
    matches: list[Match]
    summary: Summary
    attention_heads: list[int]
    special_attention: bool = False
    max_attention_unavailable: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "model": self.model,
            "by": self.by,
            "layer": self.layer,
            "heads": self.heads,
            "k": self.k,
            "filters": self.filters,
            "exact": self.exact,
            "attention_heads": self.attention_heads,
            "special_attention": self.special_attention,
            "max_attention_unavailable": self.max_attention_unavailable,
            "seconds": round(self.seconds, 6),
            "matches": [m.to_dict() for m in self.matches],
            "summary": self.summary.to_dict(),
        }
