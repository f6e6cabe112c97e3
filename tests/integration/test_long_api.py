"""A long text (~1,500 tokens) on SmolLM2 through the HTTP API, lazily: the answer is the header
and an id; rows, columns, a window, block summaries and head statistics read from the routes
are the analysis' own numbers (float16 on the wire), with the structure attention has (rows
sum to 1, causal zeros), and the kept analysis is a small fraction of the full attention."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from exbert.analysis.frame import decode_array, decode_frame
from exbert.analysis.memory import full_attention_bytes
from exbert.server import create_app
from support import SMALL_CORPUS_TEXT

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1:5050"
MODEL = "smollm2-135m"
ATOL = 2e-3


def long_text() -> str:
    sentences = [s.strip() + "." for s in " ".join(SMALL_CORPUS_TEXT.split()).split(".")
                 if s.strip()]
    # every sentence several times, in a changing order: a document with repeats to copy from
    out = []
    for k in range(4):
        out += sentences[k % 3 :: 1 + k % 2] + sentences[: k % 3]
    return " ".join(out)


def read(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    header, data = decode_array(r.content)
    return header, data.astype(np.float32)


def test_a_long_text_lazily_over_http(smollm2_model):
    app = create_app({MODEL: smollm2_model})
    with TestClient(app, base_url=BASE) as client:
        r = client.post("/api/analyze", json={"model": MODEL, "text": long_text(), "top_k": 1,
                                              "attention": "lazy"})
        assert r.status_code == 200, r.text
        header, att = decode_frame(r.content)
        t = len(header["tokens"])
        assert 1300 <= t <= 2000, t
        assert att is None and len(r.content) == header["attention"]["offset"]
        assert header["attention"]["mode"] == "lazy"
        info = smollm2_model.info
        assert header["attention"]["shape"] == [info.layers, info.heads, t, t]
        assert len(header["predictions"]) == t
        analysis_id = header["analysis_id"]
        kept = app.state.exbert.analysis(analysis_id)
        base = f"/api/analyses/{analysis_id}"
        assert kept.nbytes < full_attention_bytes(info, t) / 10  # T x (q + k), not T^2

        assert client.get(base).json()["n_tokens"] == t

        rows = [0, t // 2, t - 1]
        h, got = read(client, f"{base}/rows", layer=10, heads="0,3", weights="1,3",
                      rows=",".join(map(str, rows)))
        assert h["shape"] == [3, t]
        np.testing.assert_allclose(got, kept.attention_rows(10, [0, 3], rows, [1, 3]),
                                   atol=ATOL)
        np.testing.assert_allclose(got.sum(-1), 1, atol=0.02)
        assert not got[1, t // 2 + 1 :].any()  # causal: nothing after the token

        h, received = read(client, f"{base}/rows", layer=3, heads="2", rows="0,40",
                           direction="in")
        np.testing.assert_allclose(received, kept.attention_cols(3, [2], [0, 40]), atol=ATOL)
        assert not received[1, :40].any()  # causal: only later tokens attend to token 40

        h, window = read(client, f"{base}/window", layer=5, start=1000, stop=1100, heads="1,4")
        assert h["shape"] == [2, 100, 100]
        np.testing.assert_allclose(window, kept.attention_window(5, 1000, 1100, [1, 4]),
                                   atol=ATOL)

        h, blocks = read(client, f"{base}/blocks", layer=20, bins=64)
        assert h["shape"] == [info.heads, 64, 64]
        expected = kept.attention_blocks(20, 64)
        np.testing.assert_allclose(blocks, expected, atol=ATOL)
        np.testing.assert_allclose(blocks.sum(-1), 1, atol=0.02)

        h, stats = read(client, f"{base}/stats")
        table = kept.head_stats()
        assert h["names"] == list(table) and stats.shape == (len(table), info.layers, info.heads)
        for i, name in enumerate(h["names"]):
            np.testing.assert_allclose(stats[i], table[name], rtol=2e-3, atol=ATOL)
        # the sink: first_token is the mean attention every query gives token 0
        first = stats[h["names"].index("first_token")]
        np.testing.assert_allclose(first[3, 2], received[0].mean(), atol=ATOL)
