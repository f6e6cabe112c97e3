"""The HTTP API in-process (TestClient) on the real shipped models."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from exbert.analysis.frame import MEDIA_TYPE, decode_frame
from exbert.server import ServerConfig, create_app

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1:5050"


@pytest.fixture(scope="module")
def client(minilm_model, smollm2_model):
    app = create_app({"minilm-l6": minilm_model, "smollm2-135m": smollm2_model})
    with TestClient(app, base_url=BASE) as c:
        yield c


def analyze(client, **body):
    return client.post("/api/analyze", json=body)


def test_error_shape_is_pinned(client):
    """Every error has exactly this shape: the frontend and scripts rely on it."""
    r = analyze(client, model="minilm-l6", text="   ")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "status", "details"}
    assert body["error"]["type"] == "EmptyText"
    assert body["error"]["status"] == 422
    assert "empty" in body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)


@pytest.mark.parametrize(
    ("request_kwargs", "status", "type_"),
    [
        ({"json": {"model": "nope", "text": "hi"}}, 404, "UnknownModel"),
        ({"json": {"model": "minilm-l6", "text": "hi", "top_k": 999}}, 422, "InvalidRequest"),
        ({"json": {"model": "minilm-l6", "text": "hi", "extra": 1}}, 422, "InvalidRequest"),
        ({"json": {"model": "minilm-l6", "text": "hi", "mask": [0]}}, 422, "InvalidMask"),
        ({"json": {"model": "minilm-l6", "text": "hi", "mask": [99]}}, 422, "InvalidMask"),
        ({"json": {"model": "smollm2-135m", "text": "hi", "mask": [1]}}, 422, "MaskNotSupported"),
        ({"json": {"model": "minilm-l6", "text": "hi", "layers": [6]}}, 422, "InvalidRequest"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422,
         "InvalidRequest"),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422,
         "InvalidRequest"),
        ({"content": b'{"model": "minilm-l6", "text": "\xff"}',
          "headers": {"content-type": "application/json"}}, 400, "BadRequest"),
        ({"json": {"model": "minilm-l6"}}, 422, "InvalidRequest"),
    ],
)
def test_errors_are_4xx_with_a_type(client, request_kwargs, status, type_):
    r = client.post("/api/analyze", **request_kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == type_


def test_validation_errors_name_the_field(client):
    error = analyze(client, model="minilm-l6", text="hi", top_k=999).json()["error"]
    assert "top_k" in error["message"]
    assert error["details"]["problems"][0]["field"] == "top_k"
    error = analyze(client, model="minilm-l6").json()["error"]
    assert error["details"]["problems"] == [{"field": "text", "problem": "Field required"}]


def test_unknown_route_and_method(client):
    assert client.get("/api/nothing").json()["error"]["type"] == "NotFound"
    assert client.get("/api/analyze").status_code in (404, 405)
    assert client.get("/api/analyze").json()["error"]["status"] in (404, 405)


def test_models_lists_both_with_info(client):
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert models["minilm-l6"]["kind"] == "bidirectional"
    assert models["minilm-l6"]["has_lm_head"] is False
    assert models["minilm-l6"]["mask_token"] == "[MASK]"
    assert models["smollm2-135m"]["kind"] == "autoregressive"
    assert models["smollm2-135m"]["kv_heads"] == 3
    assert client.get("/api/models/minilm-l6").json()["layers"] == 6
    assert client.get("/api/models/zzz").status_code == 404


def test_binary_frame_carries_all_layers_in_float16(client, minilm_model):
    text = "The quick brown fox jumps over the lazy dog."
    r = analyze(client, model="minilm-l6", text=text)
    assert r.status_code == 200
    assert r.headers["content-type"] == MEDIA_TYPE
    header, att = decode_frame(r.content)
    expected = minilm_model.analyze(text).attentions
    assert att.dtype == np.float16
    assert att.shape == expected.shape == tuple(header["attention"]["shape"])
    assert header["attention"]["offset"] % 8 == 0
    np.testing.assert_allclose(att.astype(np.float32), expected, atol=1e-3)
    # bytes per weight on the wire: float16 plus a small header
    assert len(r.content) / att.size < 2.5
    assert [t["text"] for t in header["tokens"]][:3] == ["[CLS]", "The", "quick"]
    assert header["predictions"] is None
    assert "head" in header["predictions_unavailable"]


def test_layer_subset_and_json_format(client):
    r = analyze(client, model="minilm-l6", text="Hello there.", layers=[4, 1])
    header, att = decode_frame(r.content)
    assert header["attention"]["layers"] == [1, 4]
    assert att.shape[0] == 2
    j = client.post("/api/analyze?format=json",
                    json={"model": "minilm-l6", "text": "Hello there.", "layers": [1, 4]}).json()
    data = np.array(j["attention"]["data"])
    np.testing.assert_allclose(data, att.astype(np.float32), atol=1e-3)


def test_mask_changes_the_attention(client):
    plain = decode_frame(analyze(client, model="minilm-l6", text="The cat sat down.").content)
    masked = decode_frame(
        analyze(client, model="minilm-l6", text="The cat sat down.", mask=[2]).content
    )
    assert masked[0]["tokens"][2]["masked"] is True
    assert masked[0]["mask"] == [2]
    assert not np.allclose(plain[1], masked[1])


def test_causal_predictions_and_pairs(client):
    header, att = decode_frame(
        analyze(client, model="smollm2-135m", text="The capital of France is", top_k=3).content
    )
    assert header["predictions"][-1][0]["token"] == " Paris"
    assert len(header["predictions"][-1]) == 3
    assert np.all(np.triu(att.astype(np.float32), k=1) == 0)
    header, _ = decode_frame(
        analyze(client, model="minilm-l6", text="A cat.", text_b="A dog.").content
    )
    segments = [t["segment"] for t in header["tokens"]]
    assert segments == [0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_too_long_reports_count_and_limit(client):
    r = analyze(client, model="minilm-l6", text="word " * 600)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "TextTooLong"
    assert err["details"]["limit"] == 512
    assert err["details"]["tokens"] == 602
    assert "602" in err["message"] and "512" in err["message"]


def test_exactly_at_the_limit_works(client):
    # [CLS] + 510 words + [SEP] = 512 tokens
    r = analyze(client, model="minilm-l6", text="word " * 510, top_k=0, layers=[0])
    assert r.status_code == 200
    header, _ = decode_frame(r.content)
    assert len(header["tokens"]) == 512


def test_openapi_is_generated(client):
    spec = client.get("/api/openapi.json").json()
    assert {"/api/analyze", "/api/models", "/api/health"} <= set(spec["paths"])
    post = spec["paths"]["/api/analyze"]["post"]
    assert MEDIA_TYPE in post["responses"]["200"]["content"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[1]
    component = spec["components"]["schemas"][name]
    assert {"model", "text"} <= set(component["required"])
    assert component["properties"]["model"]["examples"] == ["minilm-l6", "smollm2-135m"]


def test_guards(minilm_model):
    app = create_app({"minilm-l6": minilm_model}, config=ServerConfig(max_body_bytes=1000))
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 400
        r = c.post("/api/analyze", json={"model": "minilm-l6", "text": "hi"},
                   headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        r = c.post("/api/analyze", json={"model": "minilm-l6", "text": "hi"},
                   headers={"origin": "null"})
        assert r.status_code == 403
        r = c.post("/api/analyze", json={"model": "minilm-l6", "text": "x" * 2000})
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "PayloadTooLarge"
        ok = c.post("/api/analyze", json={"model": "minilm-l6", "text": "hi"},
                    headers={"origin": BASE})
        assert ok.status_code == 200
        assert "access-control-allow-origin" not in ok.headers


def test_token_required_beyond_loopback(minilm_model):
    config = ServerConfig(host="0.0.0.0", token="s3cret")
    app = create_app({"minilm-l6": minilm_model}, config=config)
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/api/health", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"authorization": "Bearer s3cret"}).status_code == 200
        r = c.get("/?token=s3cret")
        assert "exbert_token=s3cret" in r.headers.get("set-cookie", "")
        assert c.get("/api/health").status_code == 200  # the cookie now carries it
