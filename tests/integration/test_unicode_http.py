"""Unicode fuzz through the HTTP API (hypothesis): emoji and ZWJ sequences, zero-width and RTL
marks, combining marks, control characters, very long words. No 5xx; valid offsets; attention
rows sum to 1. Lone surrogates cannot be encoded as UTF-8 JSON: raw bytes get a clean 422."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exbert.analysis.frame import decode_frame
from exbert.server import create_app

pytestmark = pytest.mark.integration
BASE = "http://127.0.0.1:5050"

ODD = [
    "👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e",
    "\u2066", "e\u0301", "a\u0308\u0323", "\x00", "\x07", "\x1b[31m", "\ufeff", "\ufffd",
    "שלום", "مرحبا", "日本語", "🤖", "\t", "\n", "\r\n", "ﬁ", "Å", "İ", "ß", "x" * 300,
]
texts = st.lists(
    st.one_of(st.sampled_from(ODD), st.text(min_size=1, max_size=12), st.just(" ")),
    min_size=1,
    max_size=10,
).map("".join)


@pytest.fixture(scope="module")
def client(minilm_model, smollm2_model):
    app = create_app({"minilm-l6": minilm_model, "smollm2-135m": smollm2_model})
    with TestClient(app, base_url=BASE) as c:
        yield c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, model=st.sampled_from(["minilm-l6", "smollm2-135m"]),
       pair=st.one_of(st.none(), texts))
def test_unicode_never_breaks_the_api(client, text, model, pair):
    r = client.post("/api/analyze", json={"model": model, "text": text, "text_b": pair})
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert r.status_code == 422
        assert r.json()["error"]["type"] in ("EmptyText", "InvalidInput", "TextTooLong")
        return
    header, att = decode_frame(r.content)
    sources = (text, pair or "")
    for seg in (0, 1):
        last = 0
        for t in header["tokens"]:
            if t["segment"] != seg:
                continue
            assert 0 <= t["start"] <= t["end"] <= len(sources[seg])
            assert t["start"] >= last
            last = t["start"]
            if not t["special"]:
                assert t["text"] == sources[seg][t["start"]:t["end"]]
    sums = att.astype(np.float32).sum(-1)
    assert np.allclose(sums, 1, atol=2e-2)


def test_lone_surrogates_are_a_clean_422(client):
    # JSON with an escaped lone surrogate decodes to a str Python cannot encode to UTF-8
    for body in (b'{"model":"minilm-l6","text":"hi \\ud800 there"}',
                 b'{"model":"minilm-l6","text":"ok","text_b":"\\udfff"}'):
        r = client.post("/api/analyze", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert re.search("surrogate|unicode", r.json()["error"]["message"])
    raw = b'{"model":"minilm-l6","text":"\xed\xa0\x80"}'  # invalid UTF-8 bytes
    r = client.post("/api/analyze", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
