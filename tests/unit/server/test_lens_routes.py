"""The lens routes (issue 14) on tiny models: the logit lens, head detector scores, rollout and
flow of a kept analysis equal what the library computes from it (JSON with NaN as null; float16
frames of one layer), each is computed once per analysis and request (kept with the analysis
in the analysis cache, within its byte budget, and dropped with it), the logit lens is bounded
(MAX_LENS_CELLS, the memory budget), head scores run a layer per queue task, the induction
probe answers a text that analyses to its tokens, and every bad request is a 4xx naming the
problem (an encoder's lens: 422 NoOutputHead)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

import exbert.analysis
from exbert.analysis import DETECTORS
from exbert.analysis.frame import MEDIA_TYPE, decode_array
from exbert.server import ServerConfig, create_app
from exbert.server import lenses as lens_routes
from exbert.server.lens_schemas import HeadScoresOut, LogitLensOut
from exbert.server.state import AnalysisCache
from exbert.view import DEFAULT_LENS_TOP_K, MAX_FLOW_TOKENS, MAX_PROBE_LENGTH, MAX_TOP_K

BASE = "http://127.0.0.1:5050"
TEXT = "The cat sat on the mat and the cat saw the dog."
ATOL = 2e-3  # float16 on the wire


@pytest.fixture(scope="module")
def served(tiny):
    models = {"llama": tiny("llama"), "bert": tiny("bert"), "headless": tiny("bert-headless")}
    app = create_app(models, config=ServerConfig(workers=1))
    with TestClient(app, base_url=BASE) as client:
        yield client, app


def analysis_id(client, model="llama", text=TEXT, attention="full"):
    r = client.post("/api/analyze?format=json",
                    json={"model": model, "text": text, "attention": attention})
    assert r.status_code == 200, r.text
    return r.json()["analysis_id"]


def kept(app, aid):
    return app.state.exbert.analysis(aid)


def get_frame(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MEDIA_TYPE
    header, data = decode_array(r.content)
    return header, data.astype(np.float32)


def error(r, status):
    assert r.status_code == status, r.text
    return r.json()["error"]


@pytest.mark.parametrize("model", ["llama", "bert"])
def test_the_lens_is_the_library_lens(served, model):
    client, app = served
    aid = analysis_id(client, model)
    a = kept(app, aid)
    r = client.get(f"/api/analyses/{aid}/lens")
    assert r.status_code == 200, r.text
    got = r.json()
    assert set(got) == set(LogitLensOut.model_fields)
    LogitLensOut.model_validate(got)
    want = app.state.exbert.models[model].logit_lens(a).to_dict()
    assert got["top_k"] == DEFAULT_LENS_TOP_K == len(got["top"][0][0])
    assert got["positions"] == list(range(a.n_tokens))
    assert len(got["top"]) == a.n_layers + 1
    assert got["target_tokens"] == want["target_tokens"]
    assert [[[p["token_id"] for p in cell] for cell in row] for row in got["top"]] == \
        [[[p["token_id"] for p in cell] for cell in row] for row in want["top"]]
    np.testing.assert_allclose(got["target_prob"], want["target_prob"], rtol=1e-6)
    # the last row is the model's own predictions
    assert [cell[0]["token_id"] for cell in got["top"][-1]] == \
        [p[0].token_id for p in a.predictions]

    three = client.get(f"/api/analyses/{aid}/lens", params={"top_k": 3}).json()
    assert three["top_k"] == 3 and len(three["top"][1][2]) == 3
    assert three["top"][1][2] == got["top"][1][2][:3]


def test_an_encoder_without_a_head_says_so(served):
    client, _ = served
    aid = analysis_id(client, "headless", "The cat sat on the mat.")
    e = error(client.get(f"/api/analyses/{aid}/lens"), 422)
    assert e["type"] == "NoOutputHead"
    assert "head" in e["message"] and "/tmp" not in e["message"]
    # the other lenses need no head
    assert client.get(f"/api/analyses/{aid}/head-scores").status_code == 200
    assert client.get(f"/api/analyses/{aid}/rollout").status_code == 200


@pytest.mark.parametrize("top_k", [0, -1, MAX_TOP_K + 1])
def test_top_k_is_bounded(served, top_k):
    client, _ = served
    aid = analysis_id(client)
    e = error(client.get(f"/api/analyses/{aid}/lens", params={"top_k": top_k}), 422)
    assert "top_k" in e["message"]


def test_head_scores_are_the_library_scores_with_nan_as_null(served):
    client, app = served
    text = "one two three four"  # no token repeats: induction and duplicate apply to none
    for attention in ("full", "lazy"):
        aid = analysis_id(client, text=text, attention=attention)
        r = client.get(f"/api/analyses/{aid}/head-scores")
        assert r.status_code == 200, r.text
        got = r.json()
        HeadScoresOut.model_validate(got)
        a = kept(app, aid)
        want = exbert.analysis.head_scores(a)
        assert got["names"] == list(DETECTORS) == list(got["scores"])
        assert (got["layers"], got["heads"]) == (a.n_layers, a.n_heads)
        for name in DETECTORS:
            rows = got["scores"][name]
            assert np.array(rows, dtype=object).shape == (a.n_layers, a.n_heads)
            for mine, theirs in zip(np.ravel(np.array(rows, dtype=object)),
                                    want[name].ravel(), strict=True):
                assert (mine is None) == bool(np.isnan(theirs))
                if mine is not None:
                    assert math.isclose(mine, float(theirs), rel_tol=1e-6, abs_tol=1e-7)
        assert all(v is None for row in got["scores"]["induction"] for v in row)
        assert "NaN" not in r.text


def test_rollout_and_flow_answer_one_layer(served):
    client, app = served
    aid = analysis_id(client)
    a = kept(app, aid)
    base = f"/api/analyses/{aid}/rollout"
    t, n = a.n_tokens, a.n_layers
    want = exbert.analysis.rollout(a)

    h, got = get_frame(client, base)  # the last layer by default
    assert h["mode"] == "rollout" and h["layers"] == [n - 1]
    assert h["shape"] == [1, t, t] and h["residual"] == 0.5
    np.testing.assert_allclose(got[0], want[-1], atol=ATOL)
    np.testing.assert_allclose(got.sum(-1), 1, atol=5e-3)
    assert np.all(got[0][np.triu_indices(t, 1)] == 0)  # causal
    for layer, index in ((0, 0), (-2, n - 2)):
        h, got = get_frame(client, base, layer=layer)
        assert h["layers"] == [index] and h["shape"] == [1, t, t]
        np.testing.assert_allclose(got[0], want[index], atol=ATOL)

    # heads given out of order with their weights; another residual
    h, got = get_frame(client, base, heads="3,0", weights="1,3", residual=0.2, layer=0)
    assert h["heads"] == [0, 3] and h["weights"] == [3.0, 1.0] and h["layers"] == [0]
    mixed = exbert.analysis.rollout(a, heads=[0, 3], weights=[3, 1], residual=0.2)
    np.testing.assert_allclose(got[0], mixed[0], atol=ATOL)

    h, got = get_frame(client, base, mode="flow")
    assert h["mode"] == "flow" and h["layers"] == [n - 1] and h["shape"] == [1, t, t]
    np.testing.assert_allclose(got[0], exbert.analysis.attention_flow(a), atol=ATOL)
    h, got = get_frame(client, base, mode="flow", layer=0, heads="1")
    assert h["layers"] == [0]
    np.testing.assert_allclose(got[0], exbert.analysis.attention_flow(a, layer=0, heads=[1]),
                               atol=ATOL)


def test_a_lazy_analysis_rolls_out_the_same(served):
    client, _ = served
    full, lazy = analysis_id(client, attention="full"), analysis_id(client, attention="lazy")
    for layer in (0, -1):
        _, f = get_frame(client, f"/api/analyses/{full}/rollout", layer=layer)
        _, z = get_frame(client, f"/api/analyses/{lazy}/rollout", layer=layer)
        np.testing.assert_allclose(z, f, atol=ATOL)


@pytest.mark.parametrize("params, words", [
    ({"mode": "sideways"}, "mode"),
    ({"residual": 1.5}, "residual"),
    ({"residual": -0.1}, "residual"),
    ({"residual": "nan"}, "residual"),
    ({"layer": 7}, "layer 7 is out of range"),
    ({"mode": "flow", "layer": -9}, "out of range"),
    ({"heads": "9"}, "head 9 is out of range"),
    ({"heads": "0,1", "weights": "1"}, "1 weights for 2"),
    ({"heads": "x"}, "heads"),
])
def test_bad_rollout_requests_are_422(served, params, words):
    client, _ = served
    aid = analysis_id(client)
    e = error(client.get(f"/api/analyses/{aid}/rollout", params=params), 422)
    assert words in e["message"], e["message"]


def test_flow_past_its_limit_is_a_clear_422(served):
    client, _ = served
    long = " ".join(["word"] * (MAX_FLOW_TOKENS + 5))
    aid = analysis_id(client, text=long)
    e = error(client.get(f"/api/analyses/{aid}/rollout", params={"mode": "flow"}), 422)
    assert str(MAX_FLOW_TOKENS) in e["message"] and "rollout" in e["message"]
    assert client.get(f"/api/analyses/{aid}/rollout").status_code == 200  # rollout works


@pytest.mark.parametrize("route", ["/lens", "/head-scores", "/rollout"])
def test_an_unknown_id_is_a_404(served, route):
    client, _ = served
    e = error(client.get(f"/api/analyses/not-an-id{route}"), 404)
    assert e["type"] == "UnknownAnalysis"


def test_answers_are_computed_once_and_counted(served, monkeypatch):
    """A repeated request is answered from what the cache keeps with the analysis: the rollout
    chain runs once for every layer asked, head scores once (a queue task per layer); the
    kept bytes are those answers' (the rollout: its float16 chain)."""
    client, app = served
    cache = app.state.exbert.cache
    calls = {"rollout": 0, "layer_scores": 0}

    def counting(module, name):
        real = getattr(module, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    counting(exbert.analysis, "rollout")
    counting(lens_routes, "layer_scores")
    aid = analysis_id(client, text="A text asked twice for its lenses.")
    a = kept(app, aid)
    before = cache.answers_nbytes
    routes = ("rollout", "head-scores", "lens")
    first = [client.get(f"/api/analyses/{aid}/{route}").content for route in routes]
    grown = cache.answers_nbytes - before
    assert calls == {"rollout": 1, "layer_scores": a.n_layers}
    again = [client.get(f"/api/analyses/{aid}/{route}").content for route in routes]
    assert first == again
    for layer in range(a.n_layers):  # every layer from the one chain
        assert client.get(f"/api/analyses/{aid}/rollout", params={"layer": layer}).is_success
    assert calls == {"rollout": 1, "layer_scores": a.n_layers}
    chain = a.n_layers * a.n_tokens**2 * 2
    assert grown == chain + len(first[1]) + len(first[2])
    assert cache.nbytes <= cache.budget
    client.get(f"/api/analyses/{aid}/rollout", params={"residual": 0.3})
    assert calls["rollout"] == 2  # another head mix or residual, another chain


def test_head_scores_stop_when_the_client_is_gone(served, monkeypatch):
    """Head scores run a queue task per layer and check the client between two: a client
    gone stops the work (nothing is kept)."""
    client, app = served
    aid = analysis_id(client, text="Nobody waits for these scores.", attention="lazy")
    layers = []
    monkeypatch.setattr(lens_routes, "layer_scores",
                        lambda a, layer: layers.append(layer) or {})

    async def gone(self):
        return bool(layers)  # gone once the first layer ran

    monkeypatch.setattr("starlette.requests.Request.is_disconnected", gone)
    r = client.get(f"/api/analyses/{aid}/head-scores")
    assert r.status_code == 204 and layers == [0]
    assert app.state.exbert.cache.answer(aid, ("head_scores",)) is None


def test_the_lens_is_bounded(served, monkeypatch):
    """Past MAX_LENS_CELLS predictions ((L + 1) x tokens x top_k) a 422 TooLargeForBudget says
    which top_k fits, or that the text must be shorter."""
    client, app = served
    aid = analysis_id(client)
    a = kept(app, aid)
    row = (a.n_layers + 1) * a.n_tokens
    monkeypatch.setattr(lens_routes, "MAX_LENS_CELLS", row * 3)
    e = error(client.get(f"/api/analyses/{aid}/lens", params={"top_k": 4}), 422)
    assert e["type"] == "TooLargeForBudget" and "top_k=3" in e["message"]
    assert e["details"]["predictions"] == row * 4 and e["details"]["limit"] == row * 3
    assert client.get(f"/api/analyses/{aid}/lens", params={"top_k": 3}).status_code == 200
    monkeypatch.setattr(lens_routes, "MAX_LENS_CELLS", row - 1)
    e = error(client.get(f"/api/analyses/{aid}/lens", params={"top_k": 1}), 422)
    assert "shorter text" in e["message"]


def test_the_lens_is_admitted_by_the_memory_budget(tiny):
    """The logit lens' peak (its predictions and the projection's chunk) goes through the
    memory budget: past a small budget, a 422 naming --memory-budget."""
    app = create_app({"llama": tiny("llama")},
                     config=ServerConfig(workers=1, memory_budget_bytes=64 * 1024**2))
    with TestClient(app, base_url=BASE) as client:
        aid = analysis_id(client)
        e = error(client.get(f"/api/analyses/{aid}/lens"), 422)
        assert e["type"] == "TooLargeForBudget" and "--memory-budget" in e["message"]
        assert app.state.exbert.budget.admitted == 0


def test_answers_live_and_go_with_their_analysis(tiny):
    """Answers count in the cache's byte budget: past it the other analyses' answers go first,
    then the analyses (with their answers), then the newest analysis' older answers (its last
    stays)."""
    llama = tiny("llama")
    analyses = [llama.analyze(f"Text number {i} of the memo test.") for i in range(3)]
    size = analyses[0].nbytes
    cache = AnalysisCache(budget_bytes=2 * size + 3000)
    for i, a in enumerate(analyses[:2]):
        cache.put(("llama", i), a, f"id{i}")
    cache.remember("id0", "x", b"0" * 1000)
    cache.remember("id1", "x", b"1" * 1000)
    cache.remember("id1", "y", np.zeros(250, np.float32))  # 1000 bytes too
    assert cache.answers_nbytes == 3000 and cache.nbytes == 2 * size + 3000
    cache.remember("id1", "z", b"3" * 1000)  # past the budget: id0's answer goes first
    assert cache.answer("id0", "x") is None and "id0" in cache
    assert cache.answers_nbytes == 3000 and cache.nbytes <= cache.budget
    cache.remember("nope", "x", b"!")  # not kept: nothing
    assert cache.answer("nope", "x") is None
    cache.put(("llama", 2), analyses[2], "id2")  # id0 and its answers go, then id1's answers
    assert "id0" not in cache and cache.answer("id1", "z") is None
    assert cache.nbytes <= cache.budget and cache.model_name("id2") == "llama"
    cache.remember("id2", "a", b"a" * 2500)
    cache.remember("id2", "b", b"b" * (size + 500))  # past the budget: id1 goes
    assert "id1" not in cache and cache.answer("id2", "a") is not None
    assert cache.nbytes == size + 2500 + size + 500 <= cache.budget
    cache.remember("id2", "c", b"c" * (size + 3000))  # the newest's older answers go
    assert cache.answer("id2", "a") is None and cache.answer("id2", "b") is None
    assert cache.answers_nbytes == size + 3000 and cache.nbytes <= cache.budget
    cache.remember("id2", "d", b"d" * (3 * size))  # its last answer stays, even past it
    assert cache.answers_nbytes == 3 * size and len(cache) == 1


def test_the_induction_probe_answers_a_text_to_analyse(served):
    client, _ = served
    r = client.post("/api/induction-probe", json={"model": "llama", "length": 12, "seed": 3})
    assert r.status_code == 200, r.text
    probe = r.json()
    assert set(probe) == {"text", "n_tokens"}
    again = client.post("/api/induction-probe", json={"model": "llama", "length": 12, "seed": 3})
    assert again.json() == probe  # seeded
    other = client.post("/api/induction-probe", json={"model": "llama", "length": 12, "seed": 4})
    assert other.json()["text"] != probe["text"]
    a = client.post("/api/analyze?format=json", json={"model": "llama", "text": probe["text"]})
    tokens = [t for t in a.json()["tokens"] if not t["special"]]
    assert len(a.json()["tokens"]) == probe["n_tokens"]
    assert len(tokens) == 24
    assert [t["text"] for t in tokens[:12]] == [t["text"] for t in tokens[12:]]
    default = client.post("/api/induction-probe", json={"model": "bert"})
    assert default.status_code == 200, default.text
    assert default.json()["n_tokens"] == 2 * 50 + 2  # [CLS] ... [SEP]


@pytest.mark.parametrize("body, status, words", [
    ({"model": "llama", "length": 1}, 422, "length"),
    ({"model": "llama", "length": MAX_PROBE_LENGTH + 1}, 422, "length"),
    ({"model": "llama", "seed": -1}, 422, "seed"),
    ({"model": "llama", "extra": 1}, 422, "extra"),
    ({"model": "nope"}, 404, "nope"),
])
def test_bad_probe_requests(served, body, status, words):
    client, _ = served
    e = error(client.post("/api/induction-probe", json=body), status)
    assert words in e["message"]
