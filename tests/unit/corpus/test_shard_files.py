"""exbert.corpus.shards.write_shard: a checkpoint written in the final shard format (local ids,
sorted labels, FAISS chunk files, heads.json, the files' checksums in meta.json), idempotent,
with PQ files for ``vectors="pq"``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.analysis.run import encode_texts
from exbert.corpus import annotate as ann
from exbert.corpus import shard_files, storage
from exbert.corpus.config import BuildConfig
from exbert.corpus.layout import make_plan
from exbert.corpus.runners import forward_shard
from exbert.corpus.shards import Shard, completed_shards, write_shard

TEXTS = ["Holmes sat down.", "Watson stood up at once.", "The zebra ran.", "A cat."] * 16


def _sentence(unit: int, k: int, text: str) -> ann.Sentence:
    words = text.replace(".", " .").split()
    starts, pos = [], 0
    for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    n = len(words)
    return ann.Sentence(
        cursor=(unit, k), text=text, starts=starts, ends=[s + len(w) for s, w in zip(
            starts, words, strict=True)],
        lemma=[w.lower() for w in words], pos=["NOUN" if w[0].isupper() else "X" for w in words],
        tag=["NN"] * n, dep=["ROOT"] + ["dep"] * (n - 1), head=[0] * n, ent_type=[""] * n,
        ent_iob=["O"] * n, ent_span=[-1] * n, is_stop=[False] * n, is_punct=[w == "." for w in words])


def _shard(model: Any, plan: Any, index: int) -> Shard:
    sentences = [_sentence(10 + i // 2, i % 2, t) for i, t in enumerate(TEXTS)]
    encs = encode_texts(model, [s.text for s in sentences])
    shard = Shard(index, sentences, (42, 0), 0)
    config = BuildConfig("in.txt", "0" * 64, "txt", {}, "sp", "1", tuple(plan.layers), None, 2,
                         4, 16)
    forward_shard(model, plan, config, shard, encs)  # type: ignore[arg-type]
    assert len(shard.batches) > 1  # batch_tokens 16: length-sorted batches, reordered back
    return shard


@pytest.mark.parametrize("vectors", ["sq8", "pq"])
def test_write_shard_writes_the_final_format(tmp_path: Path, tiny: Any, vectors: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny("bert")
    monkeypatch.setattr(shard_files, "PQ_MIN_VECTORS", 256)
    plan = make_plan(model, [0, model.info.layers], vectors)
    meta = write_shard(tmp_path, _shard(model, plan, 3), plan, last=True)
    folder = tmp_path / "000003"
    assert json.loads((folder / "meta.json").read_text()) == meta
    assert meta["sentences"] == 64 and meta["next_cursor"] == [42, 0] and meta["last"]
    for name, rec in meta["files"].items():  # every file with its checksum, meta.json aside
        assert storage.sha256_file(folder / name) == rec["sha256"]
    assert "meta.json" not in meta["files"] and "heads.json" in meta["files"]
    sent = np.load(folder / "sentences.npy")
    tokens = np.load(folder / "tokens.npy")
    words = np.load(folder / "words.npy")
    text = (folder / "text.bin").read_bytes()
    assert [text[a:b].decode() for a, b in zip(sent["text_start"], sent["text_end"],
                                              strict=True)] == TEXTS
    assert sent["unit"].tolist() == [10 + i // 2 for i in range(64)]
    assert sent["token_start"][0] == 0 and len(tokens) >= 256  # enough vectors for a PQ
    assert sent["token_start"][-1] + sent["n_tokens"][-1] == len(tokens) == meta["tokens"]
    aligned = tokens[tokens["word"] >= 0]
    assert (words["sentence"][aligned["word"]] == aligned["sentence"]).all()  # local word ids
    labels = json.loads((folder / "labels.json").read_text())
    assert labels["lemma"] == sorted(labels["lemma"])
    assert [labels["lemma"][i] for i in words["lemma"][:3]] == ["holmes", "sat", "down"]
    keys = sorted(meta["chunks"])
    assert keys == ["ctx_L02", "emb_L00", "emb_L02"]
    assert sorted(meta["pq"]) == (keys if vectors == "pq" else [])
    import faiss

    index = faiss.read_index(str(folder / meta["chunks"]["emb_L02"][0]))
    assert index.ntotal == len(tokens)
    assert isinstance(index, faiss.IndexPQ if vectors == "pq" else faiss.IndexScalarQuantizer)
    # a retried write of a finished shard changes nothing and returns its metadata
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = write_shard(tmp_path, _shard(model, plan, 3), plan, last=True)
    assert again == meta and {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    assert completed_shards(tmp_path) == []  # not contiguous from shard 0
