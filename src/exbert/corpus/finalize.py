"""The end of a build: the checkpointed shards are already the corpus's shards, so finishing
only adds, shard by shard (one in memory at a time), the document table of a .jsonl / Parquet
input or of several inputs (:mod:`exbert.corpus.documents`: one streamed pass over the
records, split by the shards' unit ranges) and, with ``approximate``, each key's IVF index
(:func:`exbert.corpus.faiss_files.build_ivf` on that shard's stored vectors); it returns the
manifest's shard entries. :mod:`exbert.corpus.publish` then renames the shards folder into OUT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.documents import Documents, ShardUnits, write_shard_documents
from exbert.corpus.faiss_files import build_ivf
from exbert.corpus.layout import SENTENCES_FILE, ivf_file
from exbert.corpus.shard_files import stored_rows
from exbert.corpus.shards import shard_dir
from exbert.errors import CorpusBuildError

if TYPE_CHECKING:
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.layout import Plan
    from exbert.corpus.workdir import WorkDir


@dataclass
class DataFiles:
    """The finished shards: ``folder`` (the shards folder, renamed into OUT by
    :func:`~exbert.corpus.publish.publish`), the manifest's ``shards`` entries, the
    ``rotation`` file of each vector kind, the global record ``counts``, the keys given an
    approximate index, the ``documents`` written."""

    folder: Path
    shards: list[dict[str, Any]]
    rotation: dict[str, str]
    counts: dict[str, int]
    approximate: list[str] = field(default_factory=list)
    documents: Documents = field(default_factory=Documents)


def finalize(plan: Plan, work: WorkDir, metas: list[dict[str, Any]], config: BuildConfig,
             approximate: bool) -> DataFiles:
    """Complete the shards of ``metas`` (all of them, in order) in ``work.shards``."""
    import numpy as np

    folder = work.shards
    for child in folder.iterdir():  # leftovers of an interrupted write
        if child.name.isdigit():
            continue
        if child.is_dir():
            storage.remove_tree(child)
        else:
            child.unlink()
    entries = [_entry(m) for m in metas]
    documents = Documents()
    if len(config.paths) > 1 or config.input_format != "txt":
        units = [ShardUnits(shard_dir(folder, int(m["index"])),
                            np.load(shard_dir(folder, int(m["index"])) / SENTENCES_FILE,
                                    mmap_mode="r")["unit"])
                 for m in metas]
        documents = write_shard_documents(config, units, [e["files"] for e in entries],
                                          to_end=config.max_sentences is None)
        for entry, section in zip(entries, documents.per_shard, strict=True):
            if section is not None:
                entry["documents"] = section
    keys: list[str] = []
    if approximate:
        keys = sorted(entries[0]["chunks"]) if entries else []
        for m, entry in zip(metas, entries, strict=True):
            _approximate(plan, shard_dir(folder, int(m["index"])), entry)
    for m in metas:
        storage.fsync_dir(shard_dir(folder, int(m["index"])))
    counts = {
        "sentences": sum(int(m["sentences"]) for m in metas),
        "tokens": sum(int(m["tokens"]) for m in metas),
        "words": sum(int(m["words"]) for m in metas),
        "skipped_too_long": sum(int(m.get("skipped_long", 0)) for m in metas),
    }
    rotation = dict(metas[0]["rotation"]) if metas else {}
    return DataFiles(folder, entries, rotation, counts, keys, documents)


def _entry(meta: dict[str, Any]) -> dict[str, Any]:
    """The manifest's entry of one shard, from its checkpoint metadata."""
    if "files" not in meta:
        raise CorpusBuildError(f"shard {meta.get('index')} was written by an older exbert; "
                               "delete the .partial folder and build again")
    return {
        "dir": f"{int(meta['index']):06d}",
        "sentences": int(meta["sentences"]),
        "tokens": int(meta["tokens"]),
        "words": int(meta["words"]),
        "files": dict(meta["files"]),
        "chunks": dict(meta["chunks"]),
        "approximate": {},
        "rotation": dict(meta["rotation"]),
        "storage": {"pq": list(meta.get("pq", []))},
    }


def _approximate(plan: Plan, folder: Path, entry: dict[str, Any]) -> None:
    """The IVF index of every vector key of one shard, over its stored vectors."""
    for key, chunks in sorted(entry["chunks"].items()):
        width, step = ((plan.hidden, plan.step_emb) if key.startswith("emb")
                       else (plan.ctx_width, plan.step_ctx))
        parts = [stored_rows(folder / c) for c in chunks]
        n = sum(len(p) for p in parts)
        if n == 0:
            continue
        fname = ivf_file(key)
        entry["files"][fname] = storage.write_bytes(
            folder / fname, build_ivf(parts, n, width, step)).to_dict()
        entry["approximate"][key] = fname
