"""Test helper: a schema-2 (single folder) corpus split by hand into a schema-3 corpus of
shards, each exactly what a sharded build writes (local ids, its own labels, chunk files,
attention rows, heads.json, rotation), and a shard's chunk file rewritten as PQ codes."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from exbert.corpus import storage
from exbert.corpus.faiss_files import chunk_bounds, serialize_codes
from exbert.corpus.layout import (
    ATTENTION_KINDS,
    CHUNK_VECTORS,
    LABEL_FIELDS,
    chunk_file,
    layer_file,
    layer_key,
)
from exbert.corpus.manifest import MANIFEST, read_manifest
from exbert.search.index import ExactIndex


def _codes(src: Path, raw: dict[str, Any], key: str, kind: str, n: int) -> np.ndarray:
    v = raw["vectors"]
    index = ExactIndex([src / f for f in v["chunks"][key]], n, int(v["width"][kind]),
                       float(v["step"][kind]), int(v["chunk_vectors"]))
    return index.codes(np.arange(n, dtype=np.int64))


def split_corpus(src_dir: Path, dst_dir: Path, bounds: list[int]) -> None:
    """Write ``dst_dir``: the corpus of ``src_dir`` cut at the sentence ids ``bounds``
    (``[0, ..., n_sentences]``)."""
    m = read_manifest(src_dir)
    raw = m.raw
    src = src_dir / m.data_dir
    sentences = np.load(src / "sentences.npy")
    tokens = np.load(src / "tokens.npy")
    words = np.load(src / "words.npy")
    text = (src / "text.bin").read_bytes()
    labels = json.loads((src / "labels.json").read_text("utf-8"))
    heads = json.loads((src / "heads.json").read_text("utf-8"))
    v = raw["vectors"]
    keys = [(layer_key("emb", la), "emb") for la in m.layers]
    keys += [(layer_key("ctx", la), "ctx") for la in m.context_layers]
    codes = {key: _codes(src, raw, key, kind, m.n_tokens) for key, kind in keys}
    dst_dir.mkdir(parents=True)
    shards = []
    for i, (s0, s1) in enumerate(itertools.pairwise(bounds)):
        name = f"{i:06d}"
        folder = storage.RecordedFolder(dst_dir / m.data_dir / name)
        folder.path.mkdir(parents=True)
        s = sentences[s0:s1].copy()
        t0, w0, b0 = (int(sentences[s0][f]) for f in ("token_start", "word_start", "text_start"))
        last = sentences[s1 - 1]
        t1 = int(last["token_start"]) + int(last["n_tokens"])
        w1 = int(last["word_start"]) + int(last["n_words"])
        b1 = int(last["text_end"])
        s["token_start"] -= t0
        s["word_start"] -= w0
        s["text_start"] -= b0
        s["text_end"] -= b0
        t = tokens[t0:t1].copy()
        t["sentence"] -= s0
        t["word"] = np.where(t["word"] >= 0, t["word"] - w0, -1)
        w = words[w0:w1].copy()
        w["sentence"] -= s0
        own = dict(labels)
        for f in LABEL_FIELDS:  # the shard's own label table: the labels it uses, reversed
            used = sorted(set(np.unique(w[f]).tolist()) | {0}, reverse=True)
            own[f] = [labels[f][u] for u in used]
            remap = np.zeros(len(labels[f]), dtype=np.int64)
            remap[used] = np.arange(len(used))
            w[f] = remap[w[f].astype(np.int64)]
        folder.write_npy("sentences.npy", s)
        folder.write_npy("tokens.npy", t)
        folder.write_npy("words.npy", w)
        folder.write_bytes("text.bin", text[b0:b1])
        folder.write_json("labels.json", own)
        h = copy.deepcopy(heads)
        if i:
            h["counts"] = {r: [[0] * len(row) for row in rows] for r, rows in h["counts"].items()}
            h["eligible"] = dict.fromkeys(h["eligible"], 0)
        folder.write_json("heads.json", h)
        for fname in set(v["rotation"].values()):
            folder.write_bytes(fname, (src / fname).read_bytes())
        for layer in m.context_layers:
            for kind in ATTENTION_KINDS:
                folder.write_npy(layer_file(kind, layer),
                                 np.load(src / layer_file(kind, layer))[t0:t1])
        chunks = {}
        for key, kind in keys:
            names = []
            for c, (a, b) in enumerate(chunk_bounds(t1 - t0, CHUNK_VECTORS)):
                fname = chunk_file(key, c)
                folder.write_bytes(fname, serialize_codes(codes[key][t0 + a : t0 + b],
                                                          float(v["step"][kind])))
                names.append(fname)
            chunks[key] = names
        shards.append({"dir": name, "sentences": s1 - s0, "tokens": t1 - t0,
                       "words": w1 - w0,
                       "files": {k: r.to_dict() for k, r in sorted(folder.files.items())},
                       "chunks": chunks, "approximate": {}, "rotation": dict(v["rotation"])})
    out = copy.deepcopy(raw)
    out["schema_version"] = 3
    out["files"] = {}
    out["storage"] = {"vectors": "sq8"}
    out["vectors"] = {k: x for k, x in v.items() if k not in ("chunks", "approximate",
                                                             "rotation")}
    out["shards"] = shards
    storage.write_json(dst_dir / MANIFEST, out)


def to_pq(corpus_dir: Path, shard: int, key: str) -> None:
    """Rewrite one shard's chunk files of ``key`` as FAISS IndexPQ (D/8 bytes per vector)
    trained on its decoded vectors, and its manifest entry."""
    import faiss

    raw = json.loads((corpus_dir / MANIFEST).read_text("utf-8"))
    entry = raw["shards"][shard]
    folder = corpus_dir / raw["data_dir"] / entry["dir"]
    kind = key[:3]
    width, step = int(raw["vectors"]["width"][kind]), float(raw["vectors"]["step"][kind])
    for fname in entry["chunks"][key]:
        index = faiss.read_index(str(folder / fname))
        n = index.ntotal
        codes = faiss.vector_to_array(index.codes).reshape(n, width)
        vectors = (codes.astype(np.float32) - 128.0) * np.float32(step)
        pq = faiss.IndexPQ(width, width // 8, 4, faiss.METRIC_INNER_PRODUCT)
        pq.pq.cp.seed = 7
        pq.train(vectors)
        pq.add(vectors)
        record = storage.write_bytes(folder / fname,
                                     np.asarray(faiss.serialize_index(pq)).data)
        entry["files"][fname] = record.to_dict()
    entry["storage"] = {key: "pq"}
    storage.write_json(corpus_dir / MANIFEST, raw)


def copy_corpus(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def to_schema2(src: Path, dst: Path) -> None:
    """A copy of a one-shard schema-3 corpus in the schema-2 layout (one data folder, the
    files at the top of the manifest), as builds wrote before shards."""
    raw = json.loads((src / MANIFEST).read_text("utf-8"))
    if raw["schema_version"] == 2:
        shutil.copytree(src, dst)
        return
    (shard,) = raw["shards"]
    dst.mkdir()
    shutil.copytree(src / raw["data_dir"] / shard["dir"], dst / raw["data_dir"])
    out = {k: x for k, x in raw.items() if k not in ("shards", "storage")}
    out["schema_version"] = 2
    out["files"] = shard["files"]
    out["vectors"] = {**raw["vectors"], "chunks": shard["chunks"],
                      "approximate": shard.get("approximate") or {},
                      "rotation": shard["rotation"]}
    if shard.get("documents"):
        out["documents"] = shard["documents"]
    storage.write_json(dst / MANIFEST, out)
