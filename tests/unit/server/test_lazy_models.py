"""A server answers before its models are loaded: a :class:`ModelSlot` lists its model at once
(its info remembered from an earlier load) and loads it in the background; analyses wait for
it, errors of the load reach clients as errors (never a 500, never a server path)."""

from __future__ import annotations

import threading
import types

from fastapi.testclient import TestClient

from exbert.errors import ModelLoadError
from exbert.models.loading import known_info
from exbert.server import create_app
from exbert.server.lazy import ModelSlot

BASE = "http://127.0.0.1:5050"


def test_models_are_listed_while_loading_and_analyses_wait(tiny, tiny_dir, monkeypatch,
                                                           tmp_path):
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path))
    folder = tiny_dir("bert")
    model = tiny("bert")
    import exbert

    exbert.load(folder)  # remembers its description, as an earlier start would have
    info = known_info(folder)
    assert info == model.info

    gate, started = threading.Event(), threading.Event()

    def slow_load():  # a load that lasts until the test lets it finish
        started.set()
        gate.wait(60)
        return model

    slot = ModelSlot(info.name, slow_load, info)
    with TestClient(create_app({info.name: slot}), base_url=BASE) as client:
        assert started.wait(60)  # the background load has begun ...
        assert slot.state == "loading"  # ... and is held
        assert client.get("/").status_code == 200
        r = client.get("/api/models")
        assert r.status_code == 200
        assert r.json()["models"][0] == info.public_dict()
        assert client.get("/api/health").json()["models"] == [info.name]
        assert slot.state == "loading"
        gate.set()
        r = client.post("/api/analyze?format=json", json={"model": info.name, "text": "a b"})
        assert r.status_code == 200, r.text
        assert slot.state == "ready"


def test_a_failed_load_is_an_error_for_its_clients(tiny, tmp_path):
    model = tiny("bert")
    secret = str(tmp_path / "weights")

    def broken():
        raise ModelLoadError(f"{secret}: cannot load: truncated safetensors", model=secret)

    slot = ModelSlot(model.info.name, broken, model.info)
    with TestClient(create_app({model.info.name: slot}), base_url=BASE) as client:
        assert client.get("/api/models").status_code == 200
        r = client.post("/api/analyze", json={"model": model.info.name, "text": "a b"})
        assert r.status_code == 422
        assert r.json()["error"]["type"] == "ModelLoadError"
        assert "truncated safetensors" in r.text
        assert str(tmp_path) not in r.text
        assert slot.state == "failed"


def test_remembered_info_follows_the_files(tiny_dir, monkeypatch, tmp_path):
    """A changed config is a new key: a stale description is never used."""
    import shutil

    import exbert

    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(tiny_dir("bert"), folder)
    assert known_info(folder) is None
    exbert.load(folder)
    assert known_info(folder) is not None
    assert known_info(folder, max_tokens=7).max_tokens == 7
    config = folder / "config.json"
    config.write_text(config.read_text().replace("{", '{"_changed": 1, ', 1))
    assert known_info(folder) is None


def test_slots_sharing_a_load_lock_load_one_at_a_time() -> None:
    """Two models of one server never load at once (transformers' lazy imports race between
    threads), and a loaded model answers at once while another one loads."""
    load_lock = threading.Lock()
    running, overlaps = [0], []
    gate = threading.Event()

    def loader(result: object, hold: bool) -> object:
        def load() -> object:
            running[0] += 1
            overlaps.append(running[0])
            if hold:
                gate.wait(30)
            running[0] -= 1
            return result
        return load

    def model() -> object:
        return types.SimpleNamespace(info=None)

    ready = ModelSlot("ready", loader(model(), False), None, load_lock)
    ready.load()
    slow = ModelSlot("slow", loader(model(), True), None, load_lock)
    other = ModelSlot("other", loader(model(), False), None, load_lock)
    threads = [threading.Thread(target=s.load) for s in (slow, other)]
    threads[0].start()
    while slow.state != "loading" or not overlaps[1:]:
        threading.Event().wait(0.01)
    threads[1].start()
    ready.load()  # returns at once: ready is loaded; the slow load holds the shared lock
    assert ready.state == "ready" and other.state == "loading"
    gate.set()
    for t in threads:
        t.join(30)
    assert other.state == "ready" and max(overlaps) == 1
