"""Document metadata of .jsonl and Parquet input on MiniLM with real spaCy: kept per document,
returned with each match (library and HTTP), usable as filters; bad lines skipped and counted
(``--strict`` stops with the file and line); a steady progress total; a French corpus offers
and accepts its own labels in any case."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exbert.cli import main
from exbert.corpus import build
from exbert.errors import InvalidRequest
from exbert.search import Corpus, search
from exbert.server import create_app

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]

TEXTS = [
    "The cat sat on the mat.", "Paris is the capital of France.",
    "She quickly ran to the old station.", "Apple bought a small company in London.",
    "The children played football after school.", "A dog slept under the kitchen table.",
]


def _lines() -> list[str]:
    out = [json.dumps({"text": t, "id": f"d{i}", "source": "wiki" if i % 2 else "news",
                       "year": 2000 + i % 3, "html": "<p>" + "x" * 600 + "</p>"})
           for i, t in enumerate(TEXTS * 3)]
    out.insert(2, '{"id": "no-text", "source": "wiki"}')
    out.insert(7, "this is not json")
    return out


@pytest.fixture(scope="module")
def jsonl_corpus(tmp_path_factory: pytest.TempPathFactory, minilm_model: Any
                 ) -> tuple[Corpus, list[tuple[int, int]]]:
    root = tmp_path_factory.mktemp("metadata")
    p = root / "docs.jsonl"
    p.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    calls: list[tuple[int, int]] = []
    build(p, minilm_model, root / "out", progress=lambda n, total: calls.append((n, total)),
          shard_sentences=4, batch_tokens=64)
    return Corpus.open(root / "out", minilm_model), calls


def test_bad_lines_skipped_and_counted(jsonl_corpus: tuple[Corpus, Any]) -> None:
    corpus, _ = jsonl_corpus
    raw = corpus.manifest.raw
    assert corpus.n_sentences == 18
    skipped = raw["input"]["skipped"]
    assert skipped["lines"] == 2 and skipped["first"] == 'line 3: no "text"'
    assert len(skipped["examples"]) == 2 and skipped["examples"][0] == skipped["first"]
    assert raw["documents"]["fields"] == ["html", "id", "source", "year"]
    assert raw["documents"]["count"] == 18
    # one document table per shard (4 sentences each), each listed with its checksum
    assert [s["documents"]["count"] for s in raw["shards"]] == [4, 4, 4, 4, 2]
    assert all("docs.npy" in s["files"] and "docs.json" in s["files"] for s in raw["shards"])


def test_matches_carry_their_document_and_filter_on_it(jsonl_corpus: tuple[Corpus, Any],
                                                       minilm_model: Any) -> None:
    corpus, _ = jsonl_corpus
    a = minilm_model.analyze("The cat sat on the sofa.", top_k=0)
    r = search(minilm_model, corpus, a, 2, 3, k=6, filters=["doc.source=wiki", "pos=noun"])
    assert r.matches and r.filters == ["doc.source=wiki", "pos=noun"]
    for m in r.matches:
        assert m.document is not None and m.document["source"] == "wiki"
        assert m.token.pos == "NOUN"
        i = int(str(m.document["id"])[1:])
        assert m.text == TEXTS[i % len(TEXTS)] and m.document["year"] == 2000 + i % 3
    assert r.to_dict()["matches"][0]["document"] == r.matches[0].document
    with pytest.raises(InvalidRequest, match="html, id, source, year"):
        search(minilm_model, corpus, a, 2, 3, filters=["doc.colour=red"])


def test_http_returns_documents_labels_and_422(jsonl_corpus: tuple[Corpus, Any],
                                               minilm_model: Any) -> None:
    corpus, _ = jsonl_corpus
    app = create_app({"minilm-l6": minilm_model}, corpora={"docs": corpus})
    with TestClient(app, base_url="http://127.0.0.1:5050") as client:
        info = client.get("/api/corpora/docs").json()
        assert info["document_fields"] == ["html", "id", "source", "year"]
        assert "NOUN" in info["labels"]["pos"] and "nsubj" in info["labels"]["dep"]
        body = {"model": "minilm-l6", "corpus": "docs", "text": "The cat sat on the sofa.",
                "token": 2, "layer": 3, "k": 4}
        r = client.post("/api/search", json={**body, "filters": {"doc.year": "2001",
                                                                  "pos": "noun"}})
        assert r.status_code == 200, r.text
        assert all(m["document"]["year"] == 2001 for m in r.json()["matches"])
        bad = client.post("/api/search", json={**body, "filters": {"pos": "nuon"}})
        assert bad.status_code == 422
        assert "NOUN" in bad.json()["error"]["message"]


def test_progress_total_is_steady(jsonl_corpus: tuple[Corpus, list[tuple[int, int]]]) -> None:
    corpus, calls = jsonl_corpus
    final = corpus.n_tokens
    assert calls[-1] == (final, final)
    first_total = calls[0][1]
    # the old total projected from file bytes was ~10x too large here (the html field)
    assert 0.75 * final <= first_total <= 1.33 * final
    running = [t for _, t in calls[:-1]]
    assert all(b >= a for a, b in pairwise(running))


def test_strict_stops_at_the_first_bad_line(tmp_path: Path, capsys) -> None:
    p = tmp_path / "docs.jsonl"
    p.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    code = main(["corpus", "build", str(p), "--model", "minilm-l6", "--out",
                 str(tmp_path / "out"), "--strict", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert 'docs.jsonl:3: no "text"' in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_parquet_with_a_text_field_through_the_cli(tmp_path: Path, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "data.parquet"
    body = [t if i != 3 else None for i, t in enumerate(TEXTS)]
    pq.write_table(pa.table({"body": body, "doc_id": list(range(len(TEXTS))),
                             "lang": ["en"] * len(TEXTS)}), p, row_group_size=2)
    code = main(["corpus", "build", str(p), "--model", "minilm-l6", "--out",
                 str(tmp_path / "pq"), "--text-field", "body", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert 'skipped 1 line (first: row 4: no "body")' in out
    assert "document metadata: doc_id, lang" in out
    c = Corpus.open(tmp_path / "pq")
    assert c.n_sentences == len(TEXTS) - 1
    docs = [c.tables.document(s) for s in range(c.n_sentences)]
    assert [d["doc_id"] for d in docs if d] == [0, 1, 2, 4, 5]
    assert c.manifest.raw["input"]["text_field"] == "body"


FRENCH = [
    "Le livre a été écrit par Marie.", "La maison a été construite en 1900.",
    "Le chat dort sur le canapé du salon.", "Les enfants jouent dans le jardin.",
]


def test_french_corpus_offers_its_own_labels(tmp_path: Path, minilm_model: Any) -> None:
    p = tmp_path / "fr.jsonl"
    p.write_text("".join(json.dumps({"text": t}) + "\n" for t in FRENCH), encoding="utf-8")
    build(p, minilm_model, tmp_path / "fr", spacy_pipeline="fr_core_news_sm", progress=False)
    c = Corpus.open(tmp_path / "fr", minilm_model)
    deps = c.tables.filter_labels()["dep"]
    assert "nsubj:pass" in deps and "nsubjpass" not in deps and "dobj" not in deps
    a = minilm_model.analyze("Le livre a été écrit par Marie.", top_k=0)
    r = search(minilm_model, c, a, 2, 3, k=3, filters={"dep": "NSUBJ:PASS"})
    assert r.matches and all(m.token.dep == "nsubj:pass" for m in r.matches)
    with pytest.raises(InvalidRequest, match="nsubj:pass") as err:
        search(minilm_model, c, a, 2, 3, filters={"dep": "nsubjpass"})
    assert "dobj" not in err.value.message
