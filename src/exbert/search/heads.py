"""Head discovery, the read side: the head counts of a corpus (``heads.json``, computed at
build time by :func:`exbert.corpus.head_counts.head_counts`, which defines the relations) as
scores and rankings. The score of a head for a relation is ``count / eligible`` (a fraction
in [0, 1]); heads are ranked by it. Layers are numbered as everywhere in exbert
(:mod:`exbert.view`: transformer layer ``0..L-1``); ``heads.json`` keeps the stored
hidden-state indices ``1..L``, converted when read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exbert.corpus.head_counts import DESCRIPTIONS
from exbert.errors import CorpusCorrupt
from exbert.view import hidden_to_layer


@dataclass(frozen=True)
class HeadRanking:
    """The head-discovery matrices of a corpus: ``scores[relation][k][head]`` for transformer
    layer ``layers[k]`` (``0..L-1``)."""

    layers: list[int]
    heads: int
    relations: list[str]
    counts: dict[str, list[list[int]]]
    eligible: dict[str, int]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadRanking:
        return cls(
            layers=[_attention_layer(v) for v in d["layers"]],
            heads=int(d["heads"]),
            relations=[str(r) for r in d["relations"]],
            counts={str(k): [[int(c) for c in row] for row in v] for k, v in d["counts"].items()},
            eligible={str(k): int(v) for k, v in d["eligible"].items()},
        )

    def scores(self, relation: str) -> list[list[float]]:
        total = max(1, self.eligible.get(relation, 0))
        return [[c / total for c in row] for row in self.counts[relation]]

    def ranked(self, relation: str, top: int | None = None) -> list[dict[str, Any]]:
        """Heads by decreasing score: ``{"layer", "head", "score", "count"}``."""
        total = max(1, self.eligible.get(relation, 0))
        cells = [
            {"layer": layer, "head": h, "score": c / total, "count": c}
            for layer, row in zip(self.layers, self.counts[relation], strict=True)
            for h, c in enumerate(row)
        ]
        cells.sort(key=lambda x: (-x["score"], x["layer"], x["head"]))
        return cells[:top] if top is not None else cells

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        """JSON-ready: per relation its [layers x heads] score matrix, counts, the number of
        eligible tokens and the ``top`` heads."""
        return {
            "layers": self.layers,
            "heads": self.heads,
            "relations": {
                r: {
                    "description": DESCRIPTIONS.get(r, r),
                    "eligible": self.eligible.get(r, 0),
                    "scores": self.scores(r),
                    "counts": self.counts[r],
                    "top": self.ranked(r, top),
                }
                for r in self.relations
            },
        }


def _attention_layer(stored: Any) -> int:
    """The layer of a stored attention layer (hidden-state index ``1..L``)."""
    layer = hidden_to_layer(int(stored))
    if not isinstance(layer, int):
        raise CorpusCorrupt("heads.json lists the embeddings, which have no attention")
    return layer


def sum_heads(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``heads.json`` of a corpus from its shards' (counts and eligible are additive);
    :class:`CorpusCorrupt` when the shards disagree on layers, heads or relations."""
    if len(docs) == 1:
        return docs[0]
    first = docs[0]
    counts = {str(r): [[int(c) for c in row] for row in v] for r, v in first["counts"].items()}
    eligible = {str(r): int(v) for r, v in first["eligible"].items()}
    for d in docs[1:]:
        if (d["layers"], d["heads"], d["relations"]) != (first["layers"], first["heads"],
                                                         first["relations"]):
            raise CorpusCorrupt("heads.json differs in layers, heads or relations between "
                                "shards")
        for r, rows in d["counts"].items():
            counts[r] = [[a + int(b) for a, b in zip(x, y, strict=True)]
                         for x, y in zip(counts[r], rows, strict=True)]
        for r, v in d["eligible"].items():
            eligible[r] = eligible.get(r, 0) + int(v)
    return {**first, "counts": counts, "eligible": eligible}
