"""The end of a build: assemble the checkpointed shards into the final files (global label
tables, FAISS chunk files, attention arrays, head counts, manifest), then publish them
atomically (data folder renamed into OUT, manifest replaced last)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.corpus import storage
from exbert.corpus.layout import (
    CHUNK_VECTORS,
    LABEL_FIELDS,
    make_plan,
    sentence_dtype,
    token_dtype,
    word_dtype,
)
from exbert.corpus.manifest import (
    FORMAT,
    LAYER_CONVENTION,
    MANIFEST,
    SCHEMA_VERSION,
    CorpusManifest,
    ModelIdentity,
    rebuild_command,
)
from exbert.errors import CorpusBuildError

if TYPE_CHECKING:
    from exbert.corpus.build import BuildConfig
    from exbert.models import Model

VERSION_DIR = re.compile(r"v-\d{8}-\d{6}-[0-9a-f]{8}")


def finalize(model: Model, spacy_meta: dict[str, Any], partial: Path, config: BuildConfig,
              metas: list[dict[str, Any]], stored: list[int], identity: ModelIdentity,
              approximate: bool, out: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """Assemble the shards into the final files in ``partial/final.tmp``; returns the folder
    and the manifest (not yet written)."""
    from exbert.search import index as faiss_index

    info = model.info
    plan = make_plan(model, stored)
    tmp = partial / "final.tmp"
    storage.remove_tree(tmp)
    tmp.mkdir()
    shard_dirs = [partial / "shards" / f"{int(m['index']):06d}" for m in metas]
    files: dict[str, storage.FileRecord] = {}

    def load(d: Path, fname: str) -> np.ndarray:
        try:
            arr: np.ndarray = np.load(d / fname, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CorpusBuildError(
                f"checkpoint {d / fname} is unreadable ({exc}); delete {partial} and build "
                "again", path=str(d),
            ) from exc
        return arr

    # labels: global sorted tables, per-shard id maps
    label_tables: dict[str, set[str]] = {f: set() for f in LABEL_FIELDS}
    shard_labels = []
    for d in shard_dirs:
        lab = json.loads((d / "labels.json").read_text(encoding="utf-8"))
        shard_labels.append(lab)
        for f in LABEL_FIELDS:
            label_tables[f].update(lab[f])
    globals_ = {f: sorted(label_tables[f]) for f in LABEL_FIELDS}
    position = {f: {v: i for i, v in enumerate(globals_[f])} for f in LABEL_FIELDS}

    n_sent = sum(int(m["sentences"]) for m in metas)
    n_tok = sum(int(m["tokens"]) for m in metas)
    n_words = sum(int(m["words"]) for m in metas)
    sentences = np.zeros(n_sent, dtype=sentence_dtype())
    tokens = np.zeros(n_tok, dtype=token_dtype())
    words = np.zeros(n_words, dtype=word_dtype())
    texts: list[bytes] = []
    s0 = t0 = w0 = 0
    b0 = 0
    for d, lab in zip(shard_dirs, shard_labels, strict=True):
        ss = load(d, "sentences.npy")
        tk = np.array(load(d, "tokens.npy"))
        wd = np.array(load(d, "words.npy"))
        blob = (d / "text.bin").read_bytes()
        texts.append(blob)
        n_s = len(ss)
        tok_start = t0 + np.concatenate([[0], np.cumsum(ss["n_tokens"])[:-1]])
        word_start = w0 + np.concatenate([[0], np.cumsum(ss["n_words"])[:-1]])
        text_start = b0 + np.concatenate([[0], np.cumsum(ss["text_bytes"])[:-1]])
        block = sentences[s0 : s0 + n_s]
        block["text_start"] = text_start
        block["text_end"] = text_start + ss["text_bytes"]
        block["token_start"] = tok_start
        block["n_tokens"] = ss["n_tokens"]
        block["word_start"] = word_start
        block["n_words"] = ss["n_words"]
        block["unit"] = ss["unit"]
        block["unit_sentence"] = ss["unit_sentence"]
        local_sent = tk["sentence"].astype(np.int64)
        has_word = tk["word"] >= 0
        tk["word"] = np.where(has_word, tk["word"] + word_start[local_sent], -1)
        tk["sentence"] = local_sent + s0
        tokens[t0 : t0 + len(tk)] = tk
        for f in LABEL_FIELDS:
            remap = np.array([position[f][v] for v in lab[f]] or [0], dtype=np.int64)
            wd[f] = remap[wd[f].astype(np.int64)]
        wd["sentence"] = wd["sentence"].astype(np.int64) + s0
        words[w0 : w0 + len(wd)] = wd
        s0, t0, w0, b0 = s0 + n_s, t0 + len(tk), w0 + len(wd), b0 + len(blob)

    files["sentences.npy"] = storage.write_npy(tmp / "sentences.npy", sentences)
    files["tokens.npy"] = storage.write_npy(tmp / "tokens.npy", tokens)
    files["words.npy"] = storage.write_npy(tmp / "words.npy", words)
    files["text.bin"] = storage.write_stream(tmp / "text.bin", texts)
    files["labels.json"] = storage.write_json(tmp / "labels.json", globals_)
    rot_files = {
        "emb": f"rotation_{plan.hidden}.npy",
        "ctx": f"rotation_{plan.ctx_width}.npy",
    }
    files[rot_files["emb"]] = storage.write_npy(tmp / rot_files["emb"], plan.rot_emb)
    if rot_files["ctx"] not in files:
        files[rot_files["ctx"]] = storage.write_npy(tmp / rot_files["ctx"], plan.rot_ctx)

    chunks: dict[str, list[str]] = {}
    kinds = [("emb", layer, plan.hidden, plan.step_emb) for layer in stored]
    kinds += [("ctx", layer, plan.ctx_width, plan.step_ctx) for layer in plan.ctx_layers]
    approx: dict[str, str] = {}
    for kind, layer, width, step in kinds:
        key = f"{kind}_L{layer:02d}"
        parts = [load(d, f"{key}.npy") for d in shard_dirs]
        names = []
        for c, (start, stop) in enumerate(_chunk_bounds(n_tok, CHUNK_VECTORS)):
            codes = _gather(parts, start, stop, width)
            fname = f"{key}.c{c:04d}.faiss"
            files[fname] = storage.write_bytes(tmp / fname,
                                               faiss_index.serialize_codes(codes, step))
            names.append(fname)
        chunks[key] = names
        if approximate:
            fname = f"ivf_{key}.faiss"
            blob_ivf = faiss_index.build_ivf(parts, n_tok, width, step)
            files[fname] = storage.write_bytes(tmp / fname, blob_ivf)
            approx[key] = fname

    attn_all: dict[int, np.ndarray] = {}
    for layer in plan.ctx_layers:
        for prefix in ("attn", "attnw"):
            fname = f"{prefix}_L{layer:02d}.npy"
            arr = np.concatenate([np.asarray(load(d, fname)) for d in shard_dirs])
            files[fname] = storage.write_npy(tmp / fname, arr)
            if prefix == "attn":
                attn_all[layer] = arr
    from exbert.search.heads import head_counts

    heads = head_counts(sentences, tokens, words, attn_all, info.heads,
                        causal=info.kind == "autoregressive")
    files["heads.json"] = storage.write_json(tmp / "heads.json", heads)
    storage.fsync_dir(tmp)

    from importlib import metadata

    import faiss
    import numpy
    import torch
    import transformers

    import exbert

    skipped = sum(int(m.get("skipped_long", 0)) for m in metas)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "build_id": "",
        "data_dir": "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": identity.to_dict(),
        "special_tokens": {str(i): str(t) for i, t in _special_ids(model).items()},
        "spacy": {
            "pipeline": config.spacy_pipeline,
            "version": config.spacy_version,
            "lang": spacy_meta.get("lang"),
            "components": spacy_meta.get("components"),
        },
        "input": {
            "path": config.input_path,
            "sha256": config.input_sha256,
            "format": config.input_format,
            "max_sentences": config.max_sentences,
            "min_words": config.min_words,
        },
        "layers": stored,
        "context_layers": plan.ctx_layers,
        "layer_convention": LAYER_CONVENTION,
        "vectors": {
            "encoding": "unit-length, rotated, int8 with a fixed step (exbert.corpus.vectors)",
            "dtype": "int8",
            "faiss": "IndexScalarQuantizer QT_8bit_uniform, inner product",
            "step": {"emb": plan.step_emb, "ctx": plan.step_ctx},
            "width": {"emb": plan.hidden, "ctx": plan.ctx_width},
            "rotation": rot_files,
            "context": "each head unit-length, concatenation / sqrt(heads)",
            "chunk_vectors": CHUNK_VECTORS,
            "chunks": chunks,
            "approximate": approx,
        },
        "attention": {
            "storage": "argmax",
            "columns": "attn_L<l>.npy int16 [N, 2H+2]: out-argmax per head (H), in-argmax per "
                       "head (H), out-argmax of the mean over heads, in-argmax of the mean; "
                       "attnw_L<l>.npy float16: the matching weights",
            "targets": "non-special tokens of the sentence; -1 for special tokens",
        },
        "counts": {
            "sentences": n_sent,
            "tokens": n_tok,
            "words": n_words,
            "skipped_too_long": skipped,
        },
        "libraries": {
            "exbert": exbert.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "spacy": metadata.version("spacy"),  # importing spaCy here would cost ~1 s
            "faiss": faiss.__version__,
            "numpy": numpy.__version__,
        },
        "rebuild_command": rebuild_command(
            config.input_path, info.name, out, config.spacy_pipeline, stored, info.layers,
            config.max_sentences,
        ),
        "files": {k: v.to_dict() for k, v in sorted(files.items())},
    }
    return tmp, manifest


def _special_ids(model: Model) -> dict[int, str]:
    tok = model.tokenizer
    out: dict[int, str] = {}
    for t in tok.all_special_tokens:
        i = tok.convert_tokens_to_ids(t)
        if isinstance(i, int) and i >= 0:
            out[i] = str(t)
    return out


def _chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, max(n, 1), size)]


def _gather(parts: list[np.ndarray], start: int, stop: int, width: int) -> np.ndarray:
    """Rows start..stop of the concatenation of ``parts`` (without concatenating all)."""
    import numpy as np

    out = np.empty((stop - start, width), dtype=np.uint8)
    offset = 0
    pos = 0
    for p in parts:
        lo, hi = offset, offset + len(p)
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            out[pos : pos + (b - a)] = p[a - lo : b - lo]
            pos += b - a
        offset = hi
    return out


def publish(out: Path, partial: Path, data_tmp: Path, manifest: dict[str, Any]) -> CorpusManifest:
    """Rename the data folder into OUT, then replace OUT/manifest.json (the commit)."""
    out.mkdir(parents=True, exist_ok=True)
    previous = None
    old_manifest = out / MANIFEST
    if old_manifest.is_file():
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(old_manifest.read_text()).get("data_dir")
    build_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"
    data_dir = f"v-{build_id}"
    manifest["build_id"] = build_id
    manifest["data_dir"] = data_dir
    os.replace(data_tmp, out / data_dir)
    storage.fsync_dir(out)
    storage.write_json(out / MANIFEST, manifest)
    storage.fsync_dir(out)
    for child in out.iterdir():
        if (child.is_dir() and VERSION_DIR.fullmatch(child.name)
                and child.name not in (data_dir, previous)):
            storage.remove_tree(child)
    return CorpusManifest.from_dict(manifest)
