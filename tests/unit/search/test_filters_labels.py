"""Filters with the corpus's own labels, in any case, and on document metadata
(exbert.search.filters), on a real corpus of a .jsonl input (tiny model, real spaCy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exbert.errors import InvalidRequest
from exbert.search import Corpus
from exbert.search.filters import FilterMasks, parse_filters

RECORDS = [
    ("The cat sat on the mat.", {"id": "d0", "source": "wiki", "year": 2020}),
    ("Marie lives in Paris with her sister.", {"id": "d1", "source": "News", "year": 2021}),
    ("Dogs bark loudly at night.", {"id": "d2", "source": "wiki", "year": 2020, "ok": True}),
    ("The old man reads a book.", {"id": "d3", "tags": ["a", "b"]}),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny, private_cache) -> Corpus:
    from exbert.corpus import build

    root = tmp_path_factory.mktemp("filters")
    p = root / "in.jsonl"
    p.write_text("".join(json.dumps({"text": t, **m}) + "\n" for t, m in RECORDS), "utf-8")
    build(p, tiny("bert"), root / "out", progress=False)
    return Corpus.open(root / "out")


def _mask(corpus: Corpus, filters: object) -> np.ndarray:
    m = FilterMasks(corpus.parts[0].tables).mask(parse_filters(filters), include_special=False)
    assert m is not None
    return m


def _words(corpus: Corpus, mask: np.ndarray) -> set[str]:
    out = set()
    for tid in np.flatnonzero(mask):
        sid, pos = corpus.sentence_of(int(tid))
        out.add(corpus.sentence_tokens(sid)[pos].text)
    return out


def test_label_values_in_any_case(corpus: Corpus) -> None:
    upper = _mask(corpus, {"pos": "NOUN"})
    assert upper.any()
    assert (_mask(corpus, {"pos": "noun"}) == upper).all()
    assert (_mask(corpus, ["pos=Noun,verb"]) == _mask(corpus, ["pos=NOUN,VERB"])).all()
    assert (_mask(corpus, {"dep": "NSUBJ"}) == _mask(corpus, {"dep": "nsubj"})).all()
    assert (_mask(corpus, {"ent": "gpe"}) == _mask(corpus, {"ent_type": "GPE"})).all()


def test_unknown_label_lists_the_corpus_labels(corpus: Corpus) -> None:
    with pytest.raises(InvalidRequest, match="no token in this corpus has pos nuon") as err:
        _mask(corpus, {"pos": "nuon"})
    assert err.value.status == 422
    assert "NOUN" in err.value.message
    assert err.value.details["known"] == [v for v in corpus.labels["pos"] if v][:80]
    assert "INTJ" not in err.value.details["known"]  # what this corpus has, not a fixed list


def test_document_filters(corpus: Corpus) -> None:
    wiki = _words(corpus, _mask(corpus, ["doc.source=wiki"]))
    assert {"cat", "Dogs"} <= wiki and "Marie" not in wiki and "man" not in wiki
    assert "Marie" in _words(corpus, _mask(corpus, {"doc.source": "news"}))  # no exact: any case
    assert _words(corpus, _mask(corpus, ["doc.year=2021"])) == _words(
        corpus, _mask(corpus, ["doc.id=d1"]))
    assert "Dogs" in _words(corpus, _mask(corpus, ["doc.ok=true"]))
    not_wiki = _words(corpus, _mask(corpus, {"doc.source!": "wiki"}))
    # a document without the field is not "wiki" either
    assert {"Marie", "man"} <= not_wiki and "cat" not in not_wiki
    both = _words(corpus, _mask(corpus, ["doc.source=wiki", "pos=noun"]))
    assert {"cat", "mat"} <= both and not both & {"sat", "the", "Marie", "man", "book"}


def test_document_filter_errors(corpus: Corpus) -> None:
    with pytest.raises(InvalidRequest, match=r"unknown filter field 'source'.*doc\.source"):
        parse_filters(["source=wiki"])
    with pytest.raises(InvalidRequest, match="its documents have the fields: id, ok, source, "
                                             "tags, year"):
        _mask(corpus, ["doc.colour=red"])
    with pytest.raises(InvalidRequest, match="known values in this corpus: wiki, News"):
        _mask(corpus, ["doc.source=blog"])
    assert str(parse_filters({"doc.source": "wiki"})[0]) == "doc.source=wiki"


def test_match_metadata_of_each_sentence(corpus: Corpus) -> None:
    docs = [corpus.tables.document(s) for s in range(corpus.n_sentences)]
    assert docs[0] == {"id": "d0", "source": "wiki", "year": 2020}
    assert docs[2] == {"id": "d2", "source": "wiki", "year": 2020, "ok": True}
    assert docs[3] == {"id": "d3", "tags": '["a", "b"]'}
    assert corpus.manifest.raw["documents"]["fields"] == ["id", "ok", "source", "tags", "year"]
