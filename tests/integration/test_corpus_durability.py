"""Corpus durability (issue 5, points 10-14): kill -9 and resume, injected write faults and
disk limits, readers during a rebuild, corrupt and mismatched corpora."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.corpus import build, storage
from exbert.errors import CorpusBuildError, CorpusCorrupt, CorpusError, CorpusMismatch
from exbert.search import Corpus, search
from support import CORPUS_PARAGRAPHS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]


SRC = str(Path(__file__).resolve().parents[2] / "src")

PARAS = CORPUS_PARAGRAPHS
TEXT_A = "\n\n".join(PARAS) + "\n"
TEXT_B = "\n\n".join(reversed([p.replace("the", "a") for p in PARAS])) + "\n"
SHARD = 3  # sentences per checkpoint: 14 sentences -> 5 shards


def _build(src: Path, model: Any, out: Path, **kw: Any) -> Any:
    return build(src, model, out, shard_sentences=SHARD, progress=False, **kw)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("durability-text")
    (d / "a.txt").write_text(TEXT_A, encoding="utf-8")
    (d / "b.txt").write_text(TEXT_B, encoding="utf-8")
    return {"a": d / "a.txt", "b": d / "b.txt"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, texts: dict[str, Path],
              minilm_model: Any) -> dict[str, Path]:
    """Uninterrupted builds of both texts."""
    d = tmp_path_factory.mktemp("durability-ref")
    _build(texts["a"], minilm_model, d / "a")
    _build(texts["b"], minilm_model, d / "b")
    return {"a": d / "a", "b": d / "b"}


def contents(path: Path) -> dict[str, Any]:
    """Everything a corpus holds, read back through the library (verified), and every shard's
    files with their sizes and sha256 (byte-identical data)."""
    c = Corpus.open(path, verify="full")
    ids = np.arange(c.n_tokens)
    out: dict[str, Any] = {
        "texts": [c.sentence_text(s) for s in range(c.n_sentences)],
        "labels": c.labels,
        "heads": c.head_ranking().to_dict(),
    }
    for layer in c.layers:
        out[f"emb{layer}"] = c.stored_vectors("emb", layer, ids)
    for layer in c.context_layers:
        out[f"ctx{layer}"] = c.stored_vectors("ctx", layer, ids)
    m = c.manifest.raw
    out["manifest"] = {k: m[k] for k in ("model", "layers", "counts", "spacy", "vectors",
                                         "attention", "special_tokens", "storage")}
    out["shards"] = m["shards"]  # every file's size and sha256: byte-identical shards
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, b[key]), key
        else:
            assert value == b[key], key


def _cli_build(src: Path, out: Path, *, sleep: float = 0.0, ulimit_kb: int | None = None,
               ) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["EXBERT_CORPUS_TEST_SHARD_SLEEP"] = str(sleep)
    cmd = [sys.executable, "-m", "exbert.cli", "corpus", "build", str(src), "--model",
           "minilm-l6", "--out", str(out), "--shard-sentences", str(SHARD), "--no-progress"]
    if ulimit_kb is not None:
        cmd = ["bash", "-c", f"ulimit -f {ulimit_kb}; exec \"$@\"", "bash", *cmd]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"build ended early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


# --- kill -9 and resume --------------------------------------------------------------------------


def test_kill_after_checkpoint_then_resume_equals_uninterrupted(
        tmp_path: Path, texts: dict[str, Path], reference: dict[str, Path],
        minilm_model: Any) -> None:
    out = tmp_path / "out"
    proc = _cli_build(texts["a"], out, sleep=0.4)
    _wait_for(_partial(out) / "shards" / "000001" / "meta.json", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "manifest.json").exists()  # nothing half-built was published
    with pytest.raises(CorpusError, match="in progress or was interrupted"):
        Corpus.open(out)
    m = _build(texts["a"], minilm_model, out)
    assert m.raw["build"]["resumed_shards"] >= 2
    assert not _partial(out).exists()
    assert_same(contents(out), contents(reference["a"]))


def test_kill_at_random_points_then_resume(tmp_path: Path, texts: dict[str, Path],
                                           reference: dict[str, Path],
                                           minilm_model: Any) -> None:
    out = tmp_path / "out"
    rng = random.Random(int(os.environ.get("EXBERT_TEST_SEED", "7")))
    kills = 0
    for _ in range(3):
        proc = _cli_build(texts["a"], out, sleep=0.15)
        # wait until the model is loaded and the build started, then kill somewhere inside
        _wait_for(_partial(out) / "build.json", proc)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills >= 1
    _build(texts["a"], minilm_model, out)
    assert_same(contents(out), contents(reference["a"]))


# --- injected write faults ----------------------------------------------------------------------


def test_write_fault_keeps_old_corpus_and_resumes(
        tmp_path: Path, texts: dict[str, Path], reference: dict[str, Path], minilm_model: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference["a"], out)  # the published corpus that must keep serving
    calls = {"n": 0}

    def fail_on_nth(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 120:  # inside the third shard
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(storage, "WRITE_HOOK", fail_on_nth)
    with pytest.raises(CorpusBuildError) as info:
        _build(texts["b"], minilm_model, out)
    msg = info.value.message
    assert "disk is full" in msg and "run the same command again" in msg
    old = Corpus.open(out, minilm_model)
    assert old.sentence_text(0) == TEXT_A.split(". ")[0] + "."
    monkeypatch.setattr(storage, "WRITE_HOOK", None)
    m = _build(texts["b"], minilm_model, out)
    assert m.raw["build"]["resumed_shards"] >= 1
    assert_same(contents(out), contents(reference["b"]))


def test_write_fault_during_finalisation_resumes_all_shards(
        tmp_path: Path, texts: dict[str, Path], reference: dict[str, Path], minilm_model: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"

    def fail_on_manifest(path: Path) -> None:  # after the shards were renamed into OUT
        if path.name == "manifest.json" and path.parent == out:
            raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(storage, "WRITE_HOOK", fail_on_manifest)
    with pytest.raises(CorpusBuildError, match="I/O error"):
        _build(texts["a"], minilm_model, out)
    monkeypatch.setattr(storage, "WRITE_HOOK", None)
    m = _build(texts["a"], minilm_model, out)
    assert m.raw["build"]["resumed_shards"] == 5
    assert_same(contents(out), contents(reference["a"]))


def test_file_size_limit_exits_nonzero_and_resumes(
        tmp_path: Path, texts: dict[str, Path], reference: dict[str, Path],
        minilm_model: Any) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference["a"], out)
    proc = _cli_build(texts["b"], out, ulimit_kb=100)  # a shard's rotation file does not fit
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "file-size limit" in err and "run the same command again" in err
    assert Corpus.open(out, minilm_model).sentence_text(0).startswith("The detective")
    m = _build(texts["b"], minilm_model, out)
    assert m.raw["build"]["resumed_shards"] == 0
    assert_same(contents(out), contents(reference["b"]))


def test_second_build_of_the_same_corpus_is_refused(tmp_path: Path, texts: dict[str, Path],
                                                    minilm_model: Any) -> None:
    import fcntl

    out = tmp_path / "out"
    _partial(out).mkdir(parents=True)
    fd = os.open(_partial(out) / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(CorpusBuildError, match="another build"):
            _build(texts["a"], minilm_model, out)
    finally:
        os.close(fd)


# --- readers during a rebuild -------------------------------------------------------------------


def test_reader_sees_old_or_new_never_a_mix(tmp_path: Path, texts: dict[str, Path],
                                            reference: dict[str, Path],
                                            minilm_model: Any) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference["a"], out)
    texts_a = contents(reference["a"])["texts"]
    texts_b = contents(reference["b"])["texts"]
    held = Corpus.open(out, minilm_model)  # a reader that keeps the old corpus open
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                c = Corpus.open(out, verify="full")
                got = [c.sentence_text(s) for s in range(c.n_sentences)]
                v = c.stored_vectors("emb", 5, np.arange(c.n_tokens))  # layer 5: the last
                assert v.shape == (c.n_tokens, 384)
                if got == texts_a:
                    seen.append("a")
                elif got == texts_b:
                    seen.append("b")
                else:
                    raise AssertionError(f"a mix: {got[:2]}")
            except BaseException as exc:
                errors.append(exc)
                return

    t = threading.Thread(target=poll)
    t.start()
    try:
        proc = _cli_build(texts["b"], out, sleep=0.1)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]
    assert seen and seen[0] == "a" and seen[-1] == "b"
    assert "".join(seen).count("ab") == 1  # switched once, never back
    # the reader that held the old corpus still searches it
    a = minilm_model.analyze("The detective looked at the door carefully.", top_k=0)
    r = search(minilm_model, held, a, 2, 3, k=1)
    assert r.matches[0].text == "The detective looked at the door carefully."


# --- corruption -----------------------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path, reference: dict[str, Path]) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(reference["a"], out)
    return out


def _data(corpus_dir: Path) -> Path:
    """The folder of the corpus's first shard."""
    doc = json.loads((corpus_dir / "manifest.json").read_text())
    return corpus_dir / doc["data_dir"] / doc["shards"][0]["dir"]


def _flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every file numpy or FAISS is asked to read (as ``shard/name``)."""
    import faiss

    seen: list[str] = []
    real_np_load, real_read = np.load, faiss.read_index

    def np_load(file: Any, *a: Any, **kw: Any) -> Any:
        seen.append(_where(file))
        return real_np_load(file, *a, **kw)

    def read_index(path: Any, *a: Any) -> Any:
        seen.append(_where(path))
        return real_read(path, *a)

    monkeypatch.setattr(np, "load", np_load)
    monkeypatch.setattr(faiss, "read_index", read_index)
    return seen


def _where(file: Any) -> str:
    p = Path(str(file))
    return f"{p.parent.name}/{p.name}"


def _assert_corrupt(exc: pytest.ExceptionInfo[CorpusCorrupt], fname: str) -> None:
    assert fname in exc.value.message and "exbert corpus build" in exc.value.message
    assert exc.value.details["rebuild_command"].startswith("exbert corpus build")


def test_truncated_vector_file(copy: Path, loads: list[str]) -> None:
    f = _data(copy) / "emb_L03.c0000.faiss"
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size - 100)
    with pytest.raises(CorpusCorrupt) as exc:
        Corpus.open(copy)
    _assert_corrupt(exc, "emb_L03.c0000.faiss")
    assert "truncated" in exc.value.message
    assert loads == []  # refused before numpy or FAISS read anything


@pytest.mark.parametrize("fname", ["tokens.npy", "words.npy", "text.bin", "labels.json",
                                   "heads.json", "attn_L02.npy", "ctx_L05.c0000.faiss"])
def test_bit_flip_is_reported_before_loading(copy: Path, loads: list[str], fname: str) -> None:
    _flip(_data(copy) / fname)
    with pytest.raises(CorpusCorrupt) as exc:
        Corpus.open(copy)
    _assert_corrupt(exc, fname)
    assert "checksum" in exc.value.message
    assert f"000000/{fname}" not in loads


def test_lazy_verification_checks_before_first_use(copy: Path, loads: list[str],
                                                   minilm_model: Any) -> None:
    _flip(_data(copy) / "emb_L04.c0000.faiss", at=-50)
    c = Corpus.open(copy, minilm_model, verify="lazy")  # metadata verified, vectors later
    a = minilm_model.analyze("The detective looked at the door.", top_k=0)
    search(minilm_model, c, a, 2, 2, k=2)  # layer 2 (hidden_states[3]) is intact
    with pytest.raises(CorpusCorrupt) as exc:  # layer 3 is stored as hidden-state index 4
        search(minilm_model, c, a, 2, 3, k=2)
    _assert_corrupt(exc, "emb_L04.c0000.faiss")
    assert "000000/emb_L04.c0000.faiss" not in loads  # the damaged shard's file


def test_missing_file_and_bad_manifest(copy: Path) -> None:
    (_data(copy) / "attnw_L01.npy").unlink()
    with pytest.raises(CorpusCorrupt, match=r"attnw_L01\.npy.*missing.*exbert corpus build"):
        Corpus.open(copy)
    doc = json.loads((copy / "manifest.json").read_text())
    doc["data_dir"] = "../../etc"
    (copy / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(CorpusCorrupt, match="data folder"):
        Corpus.open(copy)
    (copy / "manifest.json").write_bytes(b"\x00\x01garbage")
    with pytest.raises(CorpusCorrupt, match="unreadable manifest"):
        Corpus.open(copy)


# --- mismatch -------------------------------------------------------------------------------------


def _edit_manifest(corpus_dir: Path, **model_fields: Any) -> None:
    doc = json.loads((corpus_dir / "manifest.json").read_text())
    for k, v in model_fields.items():
        if k == "schema_version":
            doc[k] = v
        else:
            doc["model"][k] = v
    (corpus_dir / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("field,value", [("name", "other-model"),
                                         ("tokenizer_hash", "0" * 64),
                                         ("hidden_size", 768), ("schema_version", 99)])
def test_mismatch_is_refused_with_rebuild_command(copy: Path, minilm_model: Any, field: str,
                                                  value: Any) -> None:
    _edit_manifest(copy, **{field: value})
    with pytest.raises(CorpusMismatch) as exc:
        Corpus.open(copy, minilm_model)
    assert "exbert corpus build" in exc.value.message
    assert str(copy) in exc.value.message
    if field != "schema_version":
        assert "--model minilm-l6" in exc.value.details["rebuild_command"]


def test_corpus_of_another_model_is_refused(copy: Path, tiny: Any, minilm_model: Any) -> None:
    other = tiny("bert")
    with pytest.raises(CorpusMismatch, match=r"built for 'minilm-l6'.*exbert corpus build"):
        Corpus.open(copy, other)
    c = Corpus.open(copy, minilm_model)
    a = other.analyze("The door.", top_k=0)
    with pytest.raises(CorpusMismatch):
        search(other, c, a, 1, 1)


# --- the annotation cache -------------------------------------------------------------------------


def test_annotation_cache_gives_the_same_corpus(tmp_path: Path, texts: dict[str, Path],
                                                reference: dict[str, Path], minilm_model: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import exbert.models.loading as loading

    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path / "cache"))  # an empty cache
    ref = contents(reference["a"])
    n = len(ref["texts"])
    # a prefix in the cache (max_sentences), then a full build: cache first, spaCy after
    m = _build(texts["a"], minilm_model, tmp_path / "p", max_sentences=4,
               annotation_cache=True)
    m = _build(texts["a"], minilm_model, tmp_path / "full", annotation_cache=True)
    assert 4 <= m.raw["build"]["sentences_from_annotation_cache"] < n
    assert_same(contents(tmp_path / "full"), ref)
    # now the whole text is cached: no spaCy at all
    m = _build(texts["a"], minilm_model, tmp_path / "again")
    assert m.raw["build"]["sentences_from_annotation_cache"] == n
    assert_same(contents(tmp_path / "again"), ref)
    # a damaged cache is ignored (and rewritten), never trusted
    caches = list((loading.cache_root() / "annotations").glob("*.jsonl"))
    assert caches
    for c in caches:
        _flip(c)
    m = _build(texts["a"], minilm_model, tmp_path / "damaged")
    assert m.raw["build"]["sentences_from_annotation_cache"] == 0
    assert_same(contents(tmp_path / "damaged"), ref)
    m = _build(texts["a"], minilm_model, tmp_path / "off", annotation_cache=False)
    assert m.raw["build"]["sentences_from_annotation_cache"] == 0
