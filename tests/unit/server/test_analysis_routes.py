"""The routes under /api/analyses/{id}/ on tiny models: a lazy POST answers the header only and
an id; rows, columns, windows, blocks and stats read from the kept analysis match what the
library's full analysis gives; a full analysis gives more layers without a re-run; every bad
request is a 422 naming the limit, an unknown id a 404, and no answer names a server path."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from exbert.analysis.frame import MEDIA_TYPE, decode_array, decode_frame
from exbert.server import ServerConfig, create_app
from exbert.view import MAX_BINS

BASE = "http://127.0.0.1:5050"
TEXT = ("The detective found a clue in the garden, and the clue led him back to the house "
        "where the story began.")
ATOL = 2e-3  # float16 on the wire


@pytest.fixture(scope="module")
def served(tiny, tiny_dir):
    llama, bert = tiny("llama"), tiny("bert")
    app = create_app({"llama": llama, "bert": bert}, config=ServerConfig(workers=1))
    with TestClient(app, base_url=BASE) as client:
        yield client, llama, bert, app


def post(client, **body):
    return client.post("/api/analyze", json=body)


def lazy_id(client, model="llama", text=TEXT):
    r = post(client, model=model, text=text, attention="lazy")
    assert r.status_code == 200, r.text
    header, att = decode_frame(r.content)
    assert att is None
    return header


def get_array(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MEDIA_TYPE
    header, data = decode_array(r.content)
    assert data.dtype == np.float16
    assert header["offset"] % 8 == 0 and header["dtype"] == "float16"
    assert len(r.content) == header["offset"] + data.size * 2
    return header, data.astype(np.float32)


def test_a_lazy_answer_is_the_header_and_an_id(served):
    client, llama, _, _ = served
    r = post(client, model="llama", text=TEXT, attention="lazy")
    header, att = decode_frame(r.content)
    t = len(header["tokens"])
    assert att is None
    assert header["attention"]["mode"] == "lazy"
    assert header["attention"]["layers"] == []
    assert header["attention"]["shape"] == [llama.info.layers, llama.info.heads, t, t]
    assert len(r.content) == header["attention"]["offset"]  # no attention bytes
    assert isinstance(header["analysis_id"], str) and len(header["analysis_id"]) >= 20
    assert r.headers["x-analysis-id"] == header["analysis_id"]
    # a repeated request answers from the cache, with the same id
    again = decode_frame(post(client, model="llama", text=TEXT, attention="lazy").content)[0]
    assert again["analysis_id"] == header["analysis_id"]
    full = decode_frame(post(client, model="llama", text=TEXT, attention="full").content)[0]
    assert full["attention"]["mode"] == "full" and full["analysis_id"] != header["analysis_id"]
    auto = decode_frame(post(client, model="llama", text=TEXT).content)[0]
    assert auto["attention"]["mode"] == "full"  # short: auto is full


def test_json_answers_carry_the_id_and_mode(served):
    client, *_ = served
    j = client.post("/api/analyze?format=json",
                    json={"model": "llama", "text": TEXT, "attention": "lazy"}).json()
    assert j["attention"]["mode"] == "lazy" and j["attention"]["data"] is None
    assert j["analysis_id"]
    j = client.post("/api/analyze?format=json",
                    json={"model": "llama", "text": TEXT, "layers": [1]}).json()
    assert j["attention"]["mode"] == "full" and np.array(j["attention"]["data"]).shape[0] == 1


def test_the_header_route(served):
    client, llama, _, _ = served
    header = lazy_id(client)
    got = client.get(f"/api/analyses/{header['analysis_id']}").json()
    assert got["mode"] == "lazy" and got["n_tokens"] == len(header["tokens"])
    assert got["n_layers"] == llama.info.layers and got["n_heads"] == llama.info.heads
    assert got["tokens"] == header["tokens"] and got["predictions"] == header["predictions"]
    assert got["analysis_id"] == header["analysis_id"]


def test_rows_cols_window_blocks_and_stats_match_the_library(served):
    client, llama, _, _ = served
    header = lazy_id(client)
    base = f"/api/analyses/{header['analysis_id']}"
    ref = llama.analyze(TEXT, attention="full")
    att = ref.attentions  # [L, H, T, T]
    t = ref.n_tokens

    # rows: heads given out of order, their weights paired with them
    h, rows = get_array(client, f"{base}/rows", layer=1, heads="3,0", weights="1,3",
                        rows="0,5,9")
    expected = (0.75 * att[1, 0] + 0.25 * att[1, 3])[[0, 5, 9]]
    assert h["shape"] == [3, t] and h["heads"] == [0, 3] and h["layer"] == 1
    np.testing.assert_allclose(rows, expected, atol=ATOL)
    np.testing.assert_allclose(rows.sum(-1), 1, atol=5e-3)
    # negative layer, all heads, equal weights
    h, rows = get_array(client, f"{base}/rows", layer=-1, rows="7")
    np.testing.assert_allclose(rows[0], att[1].mean(0)[7], atol=ATOL)
    assert h["layer"] == 1
    # direction in: what token 2 receives from every token
    _, cols = get_array(client, f"{base}/rows", layer=0, rows="2", direction="in")
    np.testing.assert_allclose(cols[0], att[0].mean(0)[:, 2], atol=ATOL)

    h, win = get_array(client, f"{base}/window", layer=0, start=3, stop=11, heads="1,2")
    assert h["shape"] == [2, 8, 8]
    np.testing.assert_allclose(win, att[0][[1, 2]][:, 3:11, 3:11], atol=ATOL)

    h, blocks = get_array(client, f"{base}/blocks", layer=1, bins=4)
    edges = (np.arange(5) * t) // 4
    expected = np.array([[[att[1, hh, edges[a]:edges[a + 1], edges[b]:edges[b + 1]].sum(-1)
                           .mean() for b in range(4)] for a in range(4)]
                         for hh in range(llama.info.heads)])
    assert h["bins"] == 4 and h["shape"] == [llama.info.heads, 4, 4]
    np.testing.assert_allclose(blocks, expected, atol=ATOL)
    h, _ = get_array(client, f"{base}/blocks", layer=1, bins=MAX_BINS, heads="0")
    assert h["bins"] == t and h["shape"] == [1, t, t]  # clipped to T

    h, stats = get_array(client, f"{base}/stats")
    table = ref.head_stats()
    assert h["names"] == list(table)
    assert stats.shape == (len(table), llama.info.layers, llama.info.heads)
    for i, name in enumerate(h["names"]):
        np.testing.assert_allclose(stats[i], table[name], rtol=2e-3, atol=ATOL)
    first = stats[h["names"].index("first_token")]
    np.testing.assert_allclose(first, att[:, :, :, 0].mean(-1), atol=ATOL)


def test_a_full_analysis_gives_more_layers_without_a_rerun(served, monkeypatch):
    client, llama, _, _ = served
    r = post(client, model="llama", text=TEXT + " More.", attention="full", layers=[0])
    header, att0 = decode_frame(r.content)
    assert header["attention"]["layers"] == [0]
    calls = []
    monkeypatch.setattr(type(llama), "analyze",
                        lambda *a, **k: calls.append(1) or pytest.fail("re-ran the model"))
    r = client.get(f"/api/analyses/{header['analysis_id']}/attention", params={"layers": "1,0"})
    assert r.status_code == 200 and r.headers["content-type"] == MEDIA_TYPE
    more, att = decode_frame(r.content)
    assert more["attention"]["layers"] == [0, 1] and more["analysis_id"] == header["analysis_id"]
    np.testing.assert_array_equal(att[0], att0[0])
    # the rows of a full analysis come from its array
    _, rows = get_array(client, f"/api/analyses/{header['analysis_id']}/rows", layer=1,
                        rows="4", heads="2")
    np.testing.assert_allclose(rows[0], att[1, 2, 4].astype(np.float32), atol=ATOL)
    assert not calls


def test_a_lazy_analysis_has_no_attention_route(served):
    client, *_ = served
    header = lazy_id(client)
    r = client.get(f"/api/analyses/{header['analysis_id']}/attention")
    assert r.status_code == 422
    assert "lazy" in r.json()["error"]["message"]


@pytest.mark.parametrize(("route", "params", "words"), [
    ("rows", {"layer": 2, "rows": "1"}, "layer 2 is out of range"),
    ("rows", {"layer": 0, "rows": "1", "heads": "4"}, "head 4"),
    ("rows", {"layer": 0, "rows": "999"}, "position 999"),
    ("rows", {"layer": 0, "rows": ""}, "rows"),
    ("rows", {"layer": 0, "rows": "all"}, "rows"),
    ("rows", {"layer": 0, "rows": "a,b"}, "rows"),
    ("rows", {"layer": 0, "rows": "1", "heads": "0,1", "weights": "1"}, "1 weights for 2"),
    ("rows", {"layer": 0, "rows": "1", "weights": "1,1,1,-1"}, ">= 0"),
    ("rows", {"layer": 0, "rows": "1", "direction": "up"}, "direction"),
    ("rows", {"rows": "1"}, "layer"),
    ("window", {"layer": 0, "start": 5, "stop": 5}, "start < stop"),
    ("window", {"layer": 0, "start": 0, "stop": 999}, "start < stop"),
    ("window", {"layer": 0, "start": -1, "stop": 3}, "start"),
    ("blocks", {"layer": 0, "bins": MAX_BINS + 1}, "bins"),
    ("blocks", {"layer": 0, "bins": 0}, "bins"),
    ("attention", {"layers": "7"}, "layers"),
])
def test_bad_requests_are_422_naming_the_problem(served, route, params, words):
    client, *_ = served
    r = post(client, model="llama", text=TEXT, attention="full")
    analysis_id = decode_frame(r.content)[0]["analysis_id"]
    r = client.get(f"/api/analyses/{analysis_id}/{route}", params=params)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"]["message"]


def test_the_window_and_rows_limits(served, monkeypatch):
    from exbert.server import analyses

    client, *_ = served
    base = f"/api/analyses/{lazy_id(client)['analysis_id']}"
    monkeypatch.setattr(analyses, "MAX_WINDOW_TOKENS", 4)
    monkeypatch.setattr(analyses, "MAX_ROWS", 2)
    r = client.get(f"{base}/window", params={"layer": 0, "start": 0, "stop": 5})
    assert r.status_code == 422 and "at most 4 tokens" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["limit"] == 4
    assert client.get(f"{base}/window", params={"layer": 0, "start": 1, "stop": 5}).is_success
    r = client.get(f"{base}/rows", params={"layer": 0, "rows": "0,1,2"})
    assert r.status_code == 422 and "at most 2 positions" in r.json()["error"]["message"]


@pytest.mark.parametrize("route", ["", "/attention", "/rows?layer=0&rows=1",
                                   "/window?layer=0&start=0&stop=2", "/blocks?layer=0",
                                   "/stats"])
def test_an_unknown_id_is_a_404(served, route):
    client, *_ = served
    r = client.get(f"/api/analyses/not-an-id{route}")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "UnknownAnalysis"
    assert "analyse the text again" in r.json()["error"]["message"]


def test_no_answer_names_a_server_path(served, tiny_dir):
    client, *_ = served
    folder = str(tiny_dir("llama"))
    header = lazy_id(client)
    base = f"/api/analyses/{header['analysis_id']}"
    answers = [client.get(base), client.get(f"{base}/stats"),
               client.get(f"{base}/rows", params={"layer": 9, "rows": "1"}),
               client.get(f"{base}/attention"), client.get("/api/analyses/x/stats")]
    for r in answers:
        assert folder not in r.content.decode("utf-8", "replace")
        assert "/tmp" not in r.content.decode("utf-8", "replace")


def test_a_bidirectional_model_reads_the_same_way(served):
    client, _, bert, _ = served
    header = lazy_id(client, model="bert", text="The cat sat on the mat.")
    ref = bert.analyze("The cat sat on the mat.", attention="full")
    _, rows = get_array(client, f"/api/analyses/{header['analysis_id']}/rows", layer=0,
                        rows="1,2", heads="0")
    np.testing.assert_allclose(rows, ref.attentions[0, 0, [1, 2]], atol=ATOL)


def test_the_schema_links_the_analyze_answer_to_the_routes(served):
    client, *_ = served
    spec = client.get("/api/openapi.json").json()
    ops = {op["operationId"]: path for path, item in spec["paths"].items()
           for op in item.values()}
    answer = spec["paths"]["/api/analyze"]["post"]["responses"]["200"]
    assert "X-Analysis-Id" in answer["headers"]
    links = answer["links"]
    assert {ops[link["operationId"]] for link in links.values()} == {
        p for p in spec["paths"] if p.startswith("/api/analyses/")}


def test_lazy_layer_summaries_warm_in_the_background(served):
    """The layer on screen is summarised before the analysis answers; the others follow in the
    background, after which statistics and blocks are read, not recomputed."""
    import time

    client, llama, _, app = served
    r = post(client, model="llama", text=TEXT + " Then it rained.", attention="lazy", layers=[1])
    assert r.status_code == 200, r.text
    analysis_id = decode_frame(r.content)[0]["analysis_id"]
    kept = app.state.exbert.cache.get(analysis_id)
    assert 1 in kept.summarised
    deadline = time.monotonic() + 30
    while kept.summarised != list(range(kept.n_layers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept.summarised == list(range(kept.n_layers))
    stats = client.get(f"/api/analyses/{analysis_id}/stats")
    assert stats.status_code == 200
    header, data = decode_array(stats.content)
    full = llama.analyze(TEXT + " Then it rained.", attention="full").head_stats()
    for n, name in enumerate(header["names"]):
        np.testing.assert_allclose(data[n], full[name], atol=ATOL * max(1, abs(full[name]).max()))
