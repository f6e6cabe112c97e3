"""Exposure and model-loading safety (SECURITY.md): no endpoint reads a client-given path or
URL, pickled weights are never unpickled, remote code never runs."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exbert.server import create_app

pytestmark = pytest.mark.integration
BASE = "http://127.0.0.1:5050"
SENTINEL_TEXT = "exbert-sentinel-4f1c9a7e-do-not-serve"


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory) -> Path:
    """A secret file outside the project, plus a symlink to it."""
    d = tmp_path_factory.mktemp("outside")
    f = d / "secret.txt"
    f.write_text(SENTINEL_TEXT)
    (d / "link").symlink_to(f)
    return f


def traversal_strings(sentinel: Path) -> list[str]:
    p = str(sentinel)
    return [
        p,
        str(sentinel.parent / "link"),
        "../" * 12 + p.lstrip("/"),
        "..%2f" * 12 + p.lstrip("/").replace("/", "%2f"),
        "%2e%2e/" * 12 + p.lstrip("/"),
        "..\\" * 12 + p.lstrip("/"),
        "....//" * 12 + p.lstrip("/"),
        p + "\x00.txt",
        "file://" + p,
        "http://127.0.0.1:1/" + p,
        "~/" + p,
        "/etc/passwd",
    ]


@pytest.fixture(scope="module")
def client(minilm_model):
    with TestClient(create_app({"minilm-l6": minilm_model}), base_url=BASE) as c:
        yield c


def test_name_fields_never_resolve_paths(client, sentinel):
    for s in traversal_strings(sentinel):
        r = client.post("/api/analyze", json={"model": s, "text": "hello"})
        assert 400 <= r.status_code < 500, s
        assert SENTINEL_TEXT not in r.text
        r = client.get("/api/models/" + s.replace("\x00", "%00"))
        assert 400 <= r.status_code < 500, s
        assert SENTINEL_TEXT not in r.text


def test_text_fields_are_analysed_as_text_never_read(client, sentinel):
    for s in traversal_strings(sentinel):
        for body in ({"text": s}, {"text": "hi", "text_b": s}):
            r = client.post("/api/analyze?format=json", json={"model": "minilm-l6", **body})
            assert r.status_code in (200, 422), (s, r.text)
            assert SENTINEL_TEXT not in r.text
            if r.status_code == 200:
                seg = 1 if "text_b" in body else 0
                shown = "".join(
                    t["text"] for t in r.json()["tokens"] if t["segment"] == seg and not t["special"]
                )
                assert "sentinel" not in shown


def test_static_routes_do_not_escape(client, sentinel):
    for s in traversal_strings(sentinel):
        for prefix in ("/", "/assets/", "/static/"):
            r = client.get(prefix + s.replace("\x00", "%00"))
            assert SENTINEL_TEXT not in r.text
            assert r.status_code >= 400 or "<html" in r.text.lower()


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


@pytest.fixture
def malicious_folder(tmp_path, minilm_dir) -> tuple[Path, Path]:
    """A BERT config, the MiniLM tokenizer and, as the only weights, a pickle that writes a
    marker file when unpickled."""
    folder = tmp_path / "evil-model"
    folder.mkdir()
    config = json.loads((minilm_dir / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).write_bytes((minilm_dir / name).read_bytes())
    marker = tmp_path / "MARKER"
    with open(folder / "pytorch_model.bin", "wb") as f:
        pickle.dump({"weights": _Exploit(str(marker))}, f)
    return folder, marker


def test_pickled_weights_refused_by_library_cli_and_server(malicious_folder):
    import exbert
    from exbert.errors import UnsafeModel

    folder, marker = malicious_folder
    with pytest.raises(UnsafeModel, match="safetensors"):
        exbert.load(str(folder))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "analyze", "hello", "--model", str(folder)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert cli.returncode == 2
    assert "safetensors" in cli.stderr and "Traceback" not in cli.stderr
    serve = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "serve", "--model", str(folder), "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert serve.returncode == 2
    assert "safetensors" in serve.stderr
    assert not marker.exists(), "the pickle was unpickled"


def test_remote_code_config_refused(tmp_path, minilm_dir):
    import exbert
    from exbert.errors import UnsafeModel

    folder = tmp_path / "remote"
    folder.mkdir()
    for f in minilm_dir.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((minilm_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(UnsafeModel, match="remote code"):
        exbert.load(str(folder))


def test_public_bind_always_has_a_token():
    """Serving beyond loopback always requires a token (generated when not given); requests
    without it get 401 (pinned in test_api.py::test_token_required_beyond_loopback)."""
    from exbert.cli import access_token
    from exbert.errors import ExbertError

    assert access_token("127.0.0.1", None) is None
    assert access_token("localhost", None) is None
    generated = access_token("0.0.0.0", None)
    assert generated and len(generated) >= 24
    assert access_token("0.0.0.0", None) != generated
    assert access_token("192.0.2.7", "given") == "given"
    with pytest.raises(ExbertError):
        access_token("0.0.0.0", "  ")


# --- no server path in any error a client sees --------------------------------------------------

ABSOLUTE_PATH = re.compile(r"(?:^|[\s'\"(=])/[\w.-]+/")


def assert_no_server_path(text: str, *paths: Path | str) -> None:
    """Neither the given server folders, the home and cache folders, nor any absolute path."""
    from exbert.models.loading import cache_root

    for p in (*paths, Path.home(), cache_root(), sys.prefix):
        assert str(p) not in text, (p, text)
    assert not ABSOLUTE_PATH.search(text), text


@pytest.fixture(scope="module")
def foreign_corpus(tmp_path_factory, tiny) -> tuple[Path, Any]:
    """A real corpus built for another model (a tiny BERT with MiniLM's tokenizer)."""
    from support import build_small_corpus

    other = tiny("bert")
    return build_small_corpus(tmp_path_factory.mktemp("foreign"), "foreign", other), other


def test_corpus_mismatch_names_the_corpus_not_its_folder(minilm_model, foreign_corpus):
    """Before: "/home/.../foreign: this corpus was built for 'tiny-bert...' ... rebuild it
    ... --out /home/.../foreign" reached the browser."""
    from exbert.search import Corpus
    from exbert.search.serving import corpora_for_server

    folder, other = foreign_corpus
    served = corpora_for_server([folder], ["minilm-l6", other.info.name])
    body = {"model": "minilm-l6", "corpus": "foreign", "text": "The cat sat.", "token": 1,
            "layer": 2, "by": "embedding", "k": 3}
    for corpora in ({"foreign": Corpus.open(folder)}, served):  # opened, or served lazily
        app = create_app({"minilm-l6": minilm_model, other.info.name: other}, corpora=corpora)
        with TestClient(app, base_url=BASE) as c:
            r = c.post("/api/search", json=body)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["type"] == "CorpusMismatch"
        assert "'foreign'" in error["message"] and other.info.name in error["message"]
        assert_no_server_path(r.text, folder, folder.parent)


def test_error_bodies_never_carry_server_paths(minilm_model, foreign_corpus, tmp_path):
    """Errors raised with paths in their message and details (a corrupt corpus, a model that
    cannot load) reach clients without them."""
    import shutil

    from exbert.search.serving import corpora_for_server

    folder, other = foreign_corpus
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    for f in broken.rglob("*.bin"):
        f.unlink()  # the data files of the build are gone: the corpus cannot open
        break
    corpora = corpora_for_server([broken], [other.info.name])
    app = create_app({"minilm-l6": minilm_model, other.info.name: other}, corpora=corpora)
    with TestClient(app, base_url=BASE) as c:
        for r in (c.get("/api/corpora/foreign"), c.get("/api/corpora/foreign/heads"),
                  c.post("/api/search", json={"model": other.info.name, "corpus": "foreign",
                                              "text": "The cat.", "token": 1, "layer": 1})):
            assert 400 <= r.status_code < 500, r.text
            assert_no_server_path(r.text, broken, tmp_path)
