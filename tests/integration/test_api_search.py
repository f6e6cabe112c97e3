"""The corpus routes in-process (TestClient) on MiniLM and a small real corpus: every answer
has the shape the committed schema declares (FastAPI validates it against the response models
derived from the library's dataclasses) and agrees with the library's own search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exbert.search import Corpus, search
from exbert.server import create_app
from support import build_small_corpus

pytestmark = pytest.mark.integration

CORPUS = "api-minilm"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, minilm_model) -> Corpus:
    folder = build_small_corpus(tmp_path_factory.mktemp("api-search"), CORPUS, minilm_model)
    return Corpus.open(folder, minilm_model)


@pytest.fixture(scope="module")
def client(minilm_model, corpus):
    app = create_app({"minilm-l6": minilm_model}, corpora={CORPUS: corpus})
    with TestClient(app, base_url="http://127.0.0.1:5050") as c:
        yield c


def _required(component: str) -> set[str]:
    schemas = json.loads(SCHEMA.read_text(encoding="utf-8"))["components"]["schemas"]
    return set(schemas[component]["required"])


@pytest.mark.parametrize(("by", "layer", "heads"), [("embedding", 3, None),
                                                    ("embedding", "embeddings", None),
                                                    ("context", 2, [0, 5]),
                                                    ("context", 0, None)])
def test_search_answers_in_the_declared_shape(client, minilm_model, corpus, by, layer, heads):
    body = {"model": "minilm-l6", "corpus": CORPUS, "text": TEXT, "token": 2, "layer": layer,
            "by": by, "heads": heads, "k": 5, "filters": {"pos": "NOUN"}}
    r = client.post("/api/search", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert set(d) == _required("SearchOut")
    match = d["matches"][0]
    assert set(match) == _required("MatchOut")
    assert set(match["tokens"][0]) == _required("SearchTokenOut")
    assert match["max_attention"] is None or set(match["max_attention"]) == {
        "out", "out_weight", "in", "in_weight"}
    assert all(m["tokens"][m["position"]]["pos"] == "NOUN" for m in d["matches"])
    assert d["query"]["token_text"] == "cat"
    expected = search(minilm_model, corpus, minilm_model.analyze(TEXT, top_k=0), 2, layer,
                      by=by, heads=heads, k=5, filters={"pos": "NOUN"}).to_dict()
    assert [m["token_id"] for m in d["matches"]] == [m["token_id"] for m in expected["matches"]]
    assert d["summary"] == json.loads(json.dumps(expected["summary"]))
    assert d["layer"] == layer  # the layer as asked, in the one numbering


def test_search_layer_is_the_view_layer(client, minilm_model):
    """Layer 3 over HTTP is the attention view's layer 3: each match's max attention is the
    argmax of ``attentions[3]`` (the view's layer 3) of its sentence; -1 is the last layer."""
    body = {"model": "minilm-l6", "corpus": CORPUS, "text": TEXT, "token": 2, "layer": 3,
            "by": "context", "k": 4}
    d = client.post("/api/search", json=body).json()
    assert d["layer"] == 3 and d["max_attention_unavailable"] is None
    for m in d["matches"]:
        live = minilm_model.analyze(m["text"], top_k=0)
        summed = live.attentions[3].sum(axis=0)
        special = [t.special for t in live.tokens]
        summed[special, :] = 0
        summed[:, special] = 0
        assert m["max_attention"]["out"] == int(summed[m["position"]].argmax())
    last = client.post("/api/search", json={**body, "layer": -1}).json()
    assert last["layer"] == 5


@pytest.mark.parametrize(("by", "layer", "message"), [
    ("embedding", 6, "0..5"), ("context", -7, "0..5"), ("context", "embeddings", "embeddings"),
])
def test_search_layer_out_of_range_is_422_naming_the_range(client, by, layer, message):
    r = client.post("/api/search", json={"model": "minilm-l6", "corpus": CORPUS, "text": TEXT,
                                         "token": 2, "layer": layer, "by": by})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["type"] == "InvalidRequest"
    assert message in r.json()["error"]["message"]
    r = client.post("/api/search", json={"model": "minilm-l6", "corpus": CORPUS, "text": TEXT,
                                         "token": 2, "layer": "block 3"})
    assert r.status_code == 422


def test_corpus_info_and_head_ranking_answer_in_the_declared_shape(client):
    r = client.get(f"/api/corpora/{CORPUS}")
    assert r.status_code == 200, r.text
    info = r.json()
    assert _required("CorpusInfoOut") <= set(info)
    assert "source" not in info["model"] and "path" not in info
    assert info["layers"] == ["embeddings", 0, 1, 2, 3, 4, 5]
    assert info["context_layers"] == [0, 1, 2, 3, 4, 5]
    heads = client.get(f"/api/corpora/{CORPUS}/heads", params={"top": 3})
    assert heads.status_code == 200, heads.text
    ranking = heads.json()
    relation = next(iter(ranking["relations"].values()))
    assert set(relation) == _required("RelationOut") and len(relation["top"]) == 3
    assert len(relation["scores"]) == len(ranking["layers"])
    assert ranking["layers"] == [0, 1, 2, 3, 4, 5]
    assert all(0 <= top["layer"] <= 5 for top in relation["top"])


def test_search_errors_are_4xx(client):
    r = client.post("/api/search", json={"model": "minilm-l6", "corpus": "nope", "text": TEXT,
                                         "token": 2, "layer": 3})
    assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownCorpus"
    r = client.post("/api/search", json={"model": "minilm-l6", "corpus": CORPUS, "text": TEXT,
                                         "token": 2, "layer": 3, "k": 1001})
    assert r.status_code == 422 and "k" in r.json()["error"]["message"]
