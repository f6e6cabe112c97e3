"""Filters over shards (exbert.search.corpus + filters): a corpus of one sentence per shard
answers every label and document filter as the same corpus in one shard does, including
values and document fields that only some shards have; a value no shard has is a 422 listing
the union (tiny model, real spaCy, a .jsonl input)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from exbert.errors import InvalidRequest
from exbert.search import Corpus

RECORDS = [
    ("The cat sat on the mat.", {"id": "d0", "source": "wiki", "year": 2020}),
    ("Marie lives in Paris with her sister.", {"id": "d1", "source": "News", "year": 2021}),
    ("Dogs bark loudly at night.", {"id": "d2", "source": "wiki", "year": 2020, "ok": True}),
    ("The old man reads a book.", {"id": "d3", "tags": ["a", "b"]}),
    ("Berlin is big. It has many parks.", {"id": "d4", "source": "blog"}),
]
FILTERS: list[Any] = [None, {"pos": "NOUN"}, ["doc.source=wiki"], {"doc.source": "news"},
                      ["doc.ok=true"], {"doc.source!": "wiki"}, ["doc.id=d3"],
                      ["ent_type=GPE"], ["doc.year=2021", "pos=propn"], ["lemma=bark"],
                      ["is_punct=true"], ["doc.source=blog,wiki", "pos!=DET"]]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory, tiny: Any, private_cache: Any
            ) -> tuple[Corpus, Corpus]:
    from exbert.corpus import build

    root = tmp_path_factory.mktemp("sharded-filters")
    p = root / "in.jsonl"
    p.write_text("".join(json.dumps({"text": t, **m}) + "\n" for t, m in RECORDS), "utf-8")
    build(p, tiny("bert"), root / "one", progress=False)
    build(p, tiny("bert"), root / "many", shard_sentences=1, progress=False)
    return Corpus.open(root / "one"), Corpus.open(root / "many")


def test_every_filter_as_in_one_shard(corpora: tuple[Corpus, Corpus]) -> None:
    one, many = corpora
    assert len(one.parts) == 1 and len(many.parts) == many.n_sentences == 5
    assert many.tables.documents.fields == one.tables.documents.fields
    rng = np.random.default_rng(0)
    width = one.manifest.model.hidden_size
    for filters in FILTERS:
        for include_special in (False, True):
            v = rng.standard_normal(width).astype(np.float32)
            a = one.search_embedding(v, 1, 200, filters, include_special=include_special)
            b = many.search_embedding(v, 1, 200, filters, include_special=include_special)
            assert a.matches, filters
            assert [m.to_dict() for m in b.matches] == [m.to_dict() for m in a.matches]
            assert b.summary.to_dict() == a.summary.to_dict()


def test_unknown_values_list_every_shard(corpora: tuple[Corpus, Corpus]) -> None:
    _, many = corpora
    v = np.ones(many.manifest.model.hidden_size, dtype=np.float32)
    with pytest.raises(InvalidRequest, match="known values in this corpus: wiki, News, blog"):
        many.search_embedding(v, 1, 5, ["doc.source=forum"])
    with pytest.raises(InvalidRequest, match="its documents have the fields: id, ok, source, "
                                             "tags, year"):
        many.search_embedding(v, 1, 5, ["doc.colour=red"])
    with pytest.raises(InvalidRequest, match="no token in this corpus has pos nuon") as err:
        many.search_embedding(v, 1, 5, {"pos": "nuon"})
    assert set(err.value.details["known"]) == {x for x in many.labels["pos"] if x}
    assert {"NOUN", "PROPN", "VERB"} <= set(many.tables.filter_labels()["pos"])
    docs = [many.tables.document(s) for s in range(many.n_sentences)]
    assert docs[3] == {"id": "d3", "tags": '["a", "b"]'} and docs[4] == {"id": "d4",
                                                                        "source": "blog"}
