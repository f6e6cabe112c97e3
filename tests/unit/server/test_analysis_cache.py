"""Analyses kept by id in a cache bounded in bytes: a lazy analysis counts its recorded queries
and keys, the least recently used go first, the newest always stays, ids are unguessable,
and kept analyses give way to the work the memory budget admits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from exbert.analysis.frame import decode_frame
from exbert.errors import UnknownAnalysis
from exbert.server import ServerConfig, create_app
from exbert.server.state import AnalysisCache, analysis_bytes

BASE = "http://127.0.0.1:5050"
TEXTS = ("The cat sat on the mat.", "A dog barked at the postman.", "Rain fell on the roof.")


@pytest.fixture(scope="module")
def analyses(tiny):
    llama = tiny("llama")
    return [llama.analyze(t, attention="lazy") for t in TEXTS]


def test_a_lazy_analysis_counts_its_records(analyses):
    a = analyses[0]
    arrays = a.hidden_states.nbytes + a.contexts.nbytes
    assert a.attentions is None
    assert analysis_bytes(a) == a.nbytes > arrays  # queries and keys besides the arrays


def test_least_recently_used_go_first_within_the_budget(analyses):
    sizes = [analysis_bytes(a) for a in analyses]
    cache = AnalysisCache(sizes[0] + sizes[1] + sizes[2] - 1)
    for i, a in enumerate(analyses[:2]):
        cache.put(("k", i), a, f"id{i}")
    assert cache.nbytes == sizes[0] + sizes[1]
    assert cache.get("id0") is analyses[0]  # used: now the most recent
    cache.put(("k", 2), analyses[2], "id2")
    with pytest.raises(UnknownAnalysis):
        cache.get("id1")
    assert cache.find(("k", 1)) is None
    assert cache.find(("k", 0)) == ("id0", analyses[0])
    assert cache.nbytes == sizes[0] + sizes[2] <= cache.budget


def test_the_newest_stays_even_alone_over_the_budget(analyses):
    cache = AnalysisCache(1)
    cache.put(("k", 0), analyses[0], "a")
    assert cache.get("a") is analyses[0]
    cache.put(("k", 1), analyses[1], "b")
    assert len(cache) == 1 and cache.get("b") is analyses[1]
    with pytest.raises(UnknownAnalysis):
        cache.get("a")


def test_trim_gives_way_to_admitted_work(analyses):
    cache = AnalysisCache(10**12)
    for i, a in enumerate(analyses):
        cache.put(("k", i), a, f"id{i}")
    cache.trim(analysis_bytes(analyses[2]))
    assert len(cache) == 1 and cache.get("id2") is analyses[2]


def test_over_http_old_ids_are_404_and_repeats_hit(tiny, analyses):
    llama = tiny("llama")
    budget = analysis_bytes(analyses[0]) + analysis_bytes(analyses[1]) // 2
    app = create_app({"llama": llama}, config=ServerConfig(cache_bytes=budget))
    with TestClient(app, base_url=BASE) as client:
        def analyse(text):
            r = client.post("/api/analyze", json={"model": "llama", "text": text,
                                                  "attention": "lazy"})
            assert r.status_code == 200, r.text
            return decode_frame(r.content)[0]["analysis_id"]

        first = analyse(TEXTS[0])
        assert analyse(TEXTS[0]) == first  # the same request: from the cache
        assert client.get(f"/api/analyses/{first}").status_code == 200
        second = analyse(TEXTS[1])
        assert second != first
        r = client.get(f"/api/analyses/{first}/stats")
        assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownAnalysis"
        assert client.get(f"/api/analyses/{second}/stats").status_code == 200
        # the newest stays even alone over the budget (its layer summary makes it larger)
        cache = app.state.exbert.cache
        assert len(cache) == 1 and cache.nbytes <= max(budget, analysis_bytes(cache.get(second)))


def test_ids_are_unguessable(tiny):
    from exbert.server.state import new_analysis_id

    ids = {new_analysis_id() for _ in range(1000)}
    assert len(ids) == 1000 and min(len(i) for i in ids) >= 22  # >= 128 random bits
