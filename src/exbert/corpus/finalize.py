"""The end of a build: the checkpointed shards assembled into the final files in
``OUT.partial/final.tmp`` (tables, rotations, FAISS files, attention arrays, head counts),
each written durably with its size and checksum recorded for the manifest.
:mod:`exbert.corpus.publish` then renames the folder into OUT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.corpus import storage
from exbert.corpus.faiss_files import VectorFiles, write_vectors
from exbert.corpus.head_counts import head_counts
from exbert.corpus.layout import (
    ATTENTION_KINDS,
    HEADS_FILE,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    Plan,
    layer_file,
    rotation_file,
)
from exbert.corpus.merge import merge_shards
from exbert.corpus.shards import read_checkpoint, shard_dir

if TYPE_CHECKING:
    from exbert.corpus.workdir import WorkDir
    from exbert.models import Model


@dataclass
class DataFiles:
    """The finished data folder: ``files`` (name -> size and sha256), the ``rotation`` file
    of each vector kind, the FAISS ``vectors`` files and the record ``counts``."""

    folder: Path
    files: dict[str, storage.FileRecord]
    rotation: dict[str, str]
    vectors: VectorFiles
    counts: dict[str, int]


def finalize(model: Model, plan: Plan, work: WorkDir, metas: list[dict[str, Any]],
             approximate: bool) -> DataFiles:
    """Assemble the shards of ``metas`` (all of them, in order) into ``work.final_tmp``."""
    storage.remove_tree(work.final_tmp)
    work.final_tmp.mkdir()
    folder = storage.RecordedFolder(work.final_tmp)
    shard_dirs = [shard_dir(work.shards, int(m["index"])) for m in metas]
    tables = merge_shards(shard_dirs, metas)
    folder.write_npy(SENTENCES_FILE, tables.sentences)
    folder.write_npy(TOKENS_FILE, tables.tokens)
    folder.write_npy(WORDS_FILE, tables.words)
    folder.write_stream(TEXT_FILE, tables.texts)
    folder.write_json(LABELS_FILE, tables.labels)
    rotation = _write_rotations(folder, plan)
    vectors = write_vectors(folder, plan, shard_dirs, len(tables.tokens), approximate)
    attn = _write_attention(folder, plan, shard_dirs)
    info = model.info
    folder.write_json(HEADS_FILE, head_counts(tables.sentences, tables.tokens, tables.words,
                                              attn, info.heads,
                                              causal=info.kind == "autoregressive"))
    storage.fsync_dir(folder.path)
    counts = {
        "sentences": len(tables.sentences),
        "tokens": len(tables.tokens),
        "words": len(tables.words),
        "skipped_too_long": sum(int(m.get("skipped_long", 0)) for m in metas),
    }
    return DataFiles(folder.path, folder.files, rotation, vectors, counts)


def _write_rotations(folder: storage.RecordedFolder, plan: Plan) -> dict[str, str]:
    """The rotation matrices float32 [D, D] of both vector kinds (one file when the widths
    are equal); returns the file of each kind."""
    rotation = {"emb": rotation_file(plan.hidden), "ctx": rotation_file(plan.ctx_width)}
    folder.write_npy(rotation["emb"], plan.rot_emb)
    if rotation["ctx"] not in folder.files:
        folder.write_npy(rotation["ctx"], plan.rot_ctx)
    return rotation


def _write_attention(folder: storage.RecordedFolder, plan: Plan,
                     shard_dirs: list[Path]) -> dict[int, np.ndarray]:
    """The attention arrays of every context layer, ``attn_L<l>.npy`` int16 [N, 2H+2] and
    ``attnw_L<l>.npy`` float16 [N, 2H+2]; returns the argmaxes per layer."""
    argmaxes: dict[int, np.ndarray] = {}
    for layer in plan.ctx_layers:
        for kind in ATTENTION_KINDS:
            fname = layer_file(kind, layer)
            arr = np.concatenate([np.asarray(read_checkpoint(d, fname)) for d in shard_dirs])
            folder.write_npy(fname, arr)
            if kind == "attn":
                argmaxes[layer] = arr
    return argmaxes
