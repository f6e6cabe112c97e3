"""Issue 15, the build side: checkpoint shards are the final shards (peak disk ~1x the corpus,
finishing memory that does not grow with it), ``--workers N`` gives the same shards as one
spaCy process, many inputs (folders, globs, mixed formats), a resumed build's true progress
total and annotation cache, and ``--vectors pq``."""

from __future__ import annotations

import errno
import importlib
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.corpus import build, storage
from exbert.corpus.blocks import BLOCK_UNITS_ENV
from exbert.errors import CorpusBuildError, CorpusError
from support import CORPUS_PARAGRAPHS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]

SRC = str(Path(__file__).resolve().parents[2] / "src")
PARAS = CORPUS_PARAGRAPHS
TEXT = "\n\n".join(PARAS) + "\n"
SHARD = 3  # sentences per shard: 14 sentences -> 5 shards, boundaries inside paragraphs


def _build(src: Any, model: Any, out: Path, **kw: Any) -> Any:
    kw.setdefault("progress", False)
    return build(src, model, out, shard_sentences=SHARD, **kw)


def _shards(out: Path) -> list[dict[str, Any]]:
    """The manifest's shard entries: every file's size and sha256 (meta.json not listed)."""
    return json.loads((out / "manifest.json").read_text())["shards"]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("scale-text") / "a.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, text: Path, minilm_model: Any
              ) -> dict[str, Any]:
    """One uninterrupted build with one spaCy process, its progress calls and peak disk."""
    out = tmp_path_factory.mktemp("scale-ref") / "ref"
    calls: list[tuple[int, int]] = []
    peak = [0]

    def sample(path: Path) -> None:  # before every chunk written: the disk in use
        peak[0] = max(peak[0], _size(out) + _size(out.with_name("ref.partial")))

    storage.WRITE_HOOK = sample
    try:
        _build(text, minilm_model, out, annotation_cache=False,
               progress=lambda n, total: calls.append((n, total)))
    finally:
        storage.WRITE_HOOK = None
    return {"out": out, "calls": calls, "peak": peak[0]}


def test_shards_are_the_final_files_and_peak_disk_is_the_corpus(reference: dict[str, Any]
                                                                ) -> None:
    out = reference["out"]
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["schema_version"] == 3 and doc["files"] == {}
    assert [s["dir"] for s in doc["shards"]] == [f"{i:06d}" for i in range(5)]
    assert sum(s["sentences"] for s in doc["shards"]) == doc["counts"]["sentences"] == 14
    data = out / doc["data_dir"]
    for s in doc["shards"]:
        folder = data / s["dir"]
        for name, rec in s["files"].items():
            assert (folder / name).stat().st_size == rec["size"]
            assert storage.sha256_file(folder / name) == rec["sha256"]
        sent = np.load(folder / "sentences.npy")  # ids local to the shard
        assert sent["text_start"][0] == 0 and sent["token_start"][0] == 0
        assert sent["word_start"][0] == 0 and len(sent) == s["sentences"]
        labels = json.loads((folder / "labels.json").read_text())
        assert all(v == sorted(v) for v in labels.values())
        heads = json.loads((folder / "heads.json").read_text())
        assert heads["eligible"]["self"] > 0
    units = [u for s in doc["shards"]
             for u in np.load(data / s["dir"] / "sentences.npy")["unit"]]
    assert units == sorted(units) and units[-1] == len(PARAS) - 1  # global units
    assert not out.with_name("ref.partial").exists()
    final = _size(out) - (out / "manifest.json").stat().st_size
    assert reference["peak"] <= 1.2 * final, (reference["peak"], final)


def test_workers_give_the_same_shards(tmp_path: Path, text: Path, reference: dict[str, Any],
                                      minilm_model: Any, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    monkeypatch.setenv(BLOCK_UNITS_ENV, "2")  # 7 paragraphs: 4 blocks over 2 workers
    m = _build(text, minilm_model, tmp_path / "w2", workers=2, annotation_cache=False)
    assert m.raw["build"]["workers"] == 2
    assert _shards(tmp_path / "w2") == _shards(reference["out"])
    # a --workers build interrupted inside a paragraph resumes there (skip_first)
    calls = {"n": 0}

    def fail(path: Path) -> None:
        calls["n"] += 1
        if "shards" in str(path) and calls["n"] > 80:
            raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(storage, "WRITE_HOOK", fail)
    with pytest.raises(CorpusBuildError):
        _build(text, minilm_model, tmp_path / "w2r", workers=2, annotation_cache=False)
    monkeypatch.setattr(storage, "WRITE_HOOK", None)
    m = _build(text, minilm_model, tmp_path / "w2r", workers=2, annotation_cache=False)
    assert 1 <= m.raw["build"]["resumed_shards"] < 5
    assert _shards(tmp_path / "w2r") == _shards(reference["out"])


def test_max_sentences_with_workers(tmp_path: Path, text: Path, minilm_model: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BLOCK_UNITS_ENV, "1")
    one = _build(text, minilm_model, tmp_path / "one", max_sentences=5, annotation_cache=False)
    two = _build(text, minilm_model, tmp_path / "two", max_sentences=5, workers=3,
                 annotation_cache=False)
    assert one.n_sentences == two.n_sentences == 5
    assert _shards(tmp_path / "one") == _shards(tmp_path / "two")


def test_resume_has_the_true_total_and_writes_the_annotation_cache(
        tmp_path: Path, text: Path, reference: dict[str, Any], minilm_model: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    calls = {"n": 0}

    def fail(path: Path) -> None:
        calls["n"] += 1
        if "shards" in str(path) and calls["n"] > 80:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(storage, "WRITE_HOOK", fail)
    with pytest.raises(CorpusBuildError):
        _build(text, minilm_model, out)
    monkeypatch.setattr(storage, "WRITE_HOOK", None)
    assert not list((tmp_path / "cache").glob("annotations/*.jsonl"))  # nothing committed
    seen: list[tuple[int, int]] = []
    m = _build(text, minilm_model, out, progress=lambda n, total: seen.append((n, total)))
    resumed = m.raw["build"]["resumed_shards"]
    assert 1 <= resumed < 5
    fresh = reference["calls"]
    assert seen[0][0] == sum(s["tokens"] for s in _shards(out)[:resumed]) > 0
    assert seen[0][1] == fresh[0][1]  # the same estimate of all the tokens as a fresh build
    assert seen[-1] == fresh[-1] == (m.n_tokens, m.n_tokens)
    assert _shards(out) == _shards(reference["out"])
    # the resumed build wrote the whole annotation cache: a new build needs no spaCy
    again = _build(text, minilm_model, tmp_path / "again")
    assert again.raw["build"]["sentences_from_annotation_cache"] == 14
    assert _shards(tmp_path / "again") == _shards(reference["out"])


def test_many_inputs_folder_glob_and_mixed_formats(tmp_path: Path, minilm_model: Any) -> None:
    books = tmp_path / "in" / "books"
    (books / "sub").mkdir(parents=True)
    (books / "b.txt").write_text("\n\n".join(PARAS[:2]) + "\n", encoding="utf-8")
    (books / "sub" / "a.txt").write_text(PARAS[2] + "\n", encoding="utf-8")
    (books / "notes.csv").write_text("not an input\n", encoding="utf-8")  # ignored in folders
    extra = tmp_path / "in" / "extra"
    extra.mkdir()
    (extra / "d.jsonl").write_text(
        json.dumps({"text": "The cat sat on the mat.", "id": "x1"}) + "\nnot json\n"
        + json.dumps({"text": "Paris is the capital of France.", "id": "x2"}) + "\n",
        encoding="utf-8")
    m = _build([books, str(extra / "*.jsonl"), books / "b.txt"], minilm_model,
               tmp_path / "out", annotation_cache=False)
    names = [Path(p).name for p in m.raw["input"]["paths"]]
    assert names == ["b.txt", "a.txt", "d.jsonl"]  # sorted per argument, deduplicated
    assert m.raw["input"]["format"] == "mixed"
    assert m.raw["input"]["skipped"]["first"] == "d.jsonl line 2: not a JSON object " \
                                                "(invalid JSON)"
    command = m.raw["rebuild_command"]
    assert all(p in command for p in m.raw["input"]["paths"])
    assert m.raw["documents"]["fields"] == ["file", "id"]
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    data = tmp_path / "out" / doc["data_dir"]
    texts, files, units = [], [], []
    for s in doc["shards"]:
        folder = data / s["dir"]
        sent = np.load(folder / "sentences.npy")
        blob = (folder / "text.bin").read_bytes()
        texts += [blob[a:b].decode() for a, b in zip(sent["text_start"], sent["text_end"])]
        units += list(sent["unit"])
        docs = np.load(folder / "docs.npy")
        values = json.loads((folder / "docs.json").read_text())["values"]
        col = 1 + json.loads((folder / "docs.json").read_text())["fields"].index("file")
        by_unit = {int(r[0]): values["file"][r[col]] for r in docs}
        files += [by_unit[int(u)] for u in sent["unit"]]
    assert texts[0].startswith("The detective") and texts[-1] == \
        "Paris is the capital of France."
    assert units == sorted(units) and units[-1] == 4  # 2 + 1 paragraphs, then 2 records
    assert files[0] == "b.txt" and files[-1] == "d.jsonl" and "a.txt" in files
    # the same inputs again, named the other way round: another corpus (order matters)
    # but the same order gives the same key: resuming works across spellings
    assert m.raw["input"]["sha256"] != storage.sha256_file(books / "b.txt")


@pytest.mark.parametrize("args, message", [
    (["nothing-*.txt"], "no input file matches"),
    (["EMPTY"], "holds no .txt"),
    (["in.csv"], "unknown input format"),
    (["missing.txt"], "no such input file"),
])
def test_bad_inputs_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "in.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        build([str(tmp_path / a) for a in args], "minilm-l6", tmp_path / "out")
    env = dict(os.environ, PYTHONPATH=SRC, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "corpus", "build",
         *[str(tmp_path / a) for a in args], "--model", "minilm-l6", "--out",
         str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode not in (0, 1) and "Traceback" not in proc.stderr
    assert message in proc.stderr


def _finalize_peak(tmp_path: Path, name: str, src: Path, model: Any, sentences: int,
                   monkeypatch: pytest.MonkeyPatch) -> int:
    """Python-heap peak (numpy included) of finishing a build of ``sentences`` records."""
    from exbert.corpus.finalize import finalize as real

    build_module = importlib.import_module("exbert.corpus.build")  # the module, not build()
    peak = [0]

    def traced(*a: Any, **kw: Any) -> Any:
        tracemalloc.start()
        try:
            return real(*a, **kw)
        finally:
            peak[0] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    monkeypatch.setattr(build_module, "finalize", traced)
    build(src, model, tmp_path / name, shard_sentences=4, max_sentences=sentences,
          progress=False, approximate=True, annotation_cache=False)
    return peak[0]


def test_finishing_memory_does_not_grow_with_the_corpus(tmp_path: Path, minilm_model: Any,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    src = tmp_path / "docs.jsonl"
    lines = [json.dumps({"text": f"{PARAS[i % 7].split('. ')[0]}.", "id": f"d{i}",
                         "n": i, "tag": "x" * (i % 5)}) for i in range(48)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _finalize_peak(tmp_path, "warm", src, minilm_model, 4, monkeypatch)  # imports, caches
    small = _finalize_peak(tmp_path, "small", src, minilm_model, 8, monkeypatch)
    large = _finalize_peak(tmp_path, "large", src, minilm_model, 48, monkeypatch)
    # finishing holds one shard's document rows and one key's stored vectors at a time, plus
    # the manifest's entry of each shard (~12 KiB: 35 files with checksums); 12 shards
    # instead of 2 may cost 10 more entries, never the data (48 sentences x 13 stored keys x
    # 384 B = ~2.9 MB of codes, which a finish that concatenates shards would hold)
    assert large <= small + 10 * (32 << 10), (small, large)


def test_pq_vectors_are_smaller_and_recorded(tmp_path: Path, minilm_model: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    from exbert.corpus import shard_files
    from exbert.corpus.demo import holmes_text

    monkeypatch.setattr(shard_files, "PQ_MIN_VECTORS", 1024)  # a small shard is enough here
    paras = [p for p in holmes_text().split("\n\n") if len(p.split()) > 12][:36]
    src = tmp_path / "holmes.txt"
    src.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    kw: dict[str, Any] = {"layers": "embeddings,5", "shard_sentences": 100_000,
                          "progress": False}
    sq8 = build(src, minilm_model, tmp_path / "sq8", **kw)
    pq = build(src, minilm_model, tmp_path / "pq", vectors="pq", **kw)
    assert sq8.n_tokens == pq.n_tokens >= 1024  # one shard, big enough for PQ
    assert sq8.raw["storage"]["vectors"] == "sq8" and pq.raw["storage"]["vectors"] == "pq"
    (s_sq8,), (s_pq,) = sq8.raw["shards"], pq.raw["shards"]
    assert s_sq8["storage"]["pq"] == [] and s_pq["storage"]["pq"] == sorted(
        s_pq["chunks"], key=list(s_pq["chunks"]).index)  # every key of the shard

    def vector_bytes(shard: dict[str, Any]) -> int:
        return sum(r["size"] for n, r in shard["files"].items() if n.endswith(".faiss"))

    keys, n = len(s_pq["chunks"]), pq.n_tokens
    codebooks = keys * 384 * 256 * 4  # per key: 256 centroids of each 8-d sub-vector, float32
    assert vector_bytes(s_sq8) >= keys * n * 384  # 384 B a vector
    assert vector_bytes(s_pq) - codebooks <= 1.05 * keys * n * 48  # 48 B a vector
    assert vector_bytes(s_pq) < vector_bytes(s_sq8) / 2
    assert "--vectors pq" in pq.raw["rebuild_command"]
    # the PQ file holds the same vectors, approximately (cosine to the sq8 ones)
    folder = tmp_path / "pq" / pq.raw["data_dir"] / s_pq["dir"]
    index = faiss.read_index(str(folder / s_pq["chunks"]["emb_L06"][0]))
    assert isinstance(index, faiss.IndexPQ) and index.ntotal == pq.n_tokens
    exact = faiss.read_index(str(tmp_path / "sq8" / sq8.raw["data_dir"] / s_sq8["dir"]
                                 / s_sq8["chunks"]["emb_L06"][0]))
    ids = np.arange(0, pq.n_tokens, 97)
    a = np.stack([index.reconstruct(int(i)) for i in ids])
    b = np.stack([exact.reconstruct(int(i)) for i in ids])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.mean() > 0.8
