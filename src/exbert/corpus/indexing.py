"""``exbert corpus index DIR --approximate``: add approximate (IVF) indexes to an existing
corpus, one per shard and stored (kind, layer), built over that shard's stored vectors by
:func:`exbert.corpus.faiss_files.build_ivf` (the build's own function).

Durability: every index is written into its shard folder through a temporary file and a
rename (:mod:`exbert.corpus.storage`) under a name the current manifest does not list, then a
new ``manifest.json`` listing them replaces the old one atomically (the commit); only then are
indexes it replaced (``force``) deleted. A run killed at any point leaves the corpus as it was
(the old manifest, whose files are untouched; at most unlisted new files, rewritten or
ignored by the next run). Memory: one shard's vectors of one key at a time.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.layout import ivf_file, layer_key
from exbert.corpus.manifest import MANIFEST, CorpusManifest, read_manifest
from exbert.errors import CorpusCorrupt, CorpusError

if TYPE_CHECKING:
    import numpy as np


@dataclass
class IndexReport:
    """What :func:`add_approximate` did: per shard folder the keys it indexed, the keys it
    kept (already indexed), the bytes written, the seconds taken."""

    built: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0

    @property
    def n_built(self) -> int:
        return sum(len(v) for v in self.built.values())

    def to_dict(self) -> dict[str, Any]:
        return {"built": self.built, "kept": self.kept, "indexes": self.n_built,
                "bytes": self.bytes_written, "seconds": round(self.seconds, 3)}


def _corrupt(corpus: Path, m: CorpusManifest, fname: str, why: str) -> CorpusCorrupt:
    where = f"{m.data_dir}/{fname}"
    shard = m.raw.get("shard")
    return CorpusCorrupt(
        f"{corpus}: corpus file {where}{f' (shard {shard})' if shard else ''} is {why}; "
        f"rebuild the corpus: {m.rebuild_command}",
        path=str(corpus), file=where, shard=shard, rebuild_command=m.rebuild_command)


def check_sizes(corpus: Path, shards: list[CorpusManifest]) -> None:
    """Every listed file of every shard exists with its recorded size."""
    for m in shards:
        for fname, rec in m.files.items():
            try:
                size = (corpus / m.data_dir / fname).stat().st_size
            except FileNotFoundError:
                raise _corrupt(corpus, m, fname, "missing") from None
            if size != int(rec["size"]):
                raise _corrupt(corpus, m, fname, f"{size} bytes, the manifest says "
                                                 f"{rec['size']}: truncated or overwritten")


def stored_parts(corpus: Path, m: CorpusManifest, key: str, kind: str) -> list[np.ndarray]:
    """The stored vectors of one shard's chunk files of ``key`` (checksums verified), as
    :func:`~exbert.corpus.faiss_files.build_ivf` takes them: an SQ8 chunk's uint8 codes
    [n_i, D], a compressed (PQ) chunk's decoded float32 vectors [n_i, D]."""
    import faiss
    import numpy as np

    v = m.raw["vectors"]
    width = int(v["width"][kind])
    parts = []
    for fname in v["chunks"][key]:
        path = corpus / m.data_dir / fname
        if storage.sha256_file(path) != m.files[fname].get("sha256"):
            raise _corrupt(corpus, m, fname, "corrupt (checksum mismatch)")
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)  # its own type
        except RuntimeError as exc:
            raise _corrupt(corpus, m, fname, f"unreadable ({exc})") from None
        if index.d != width:
            raise _corrupt(corpus, m, fname, f"of width {index.d}, not {width}")
        if isinstance(index, faiss.IndexScalarQuantizer):
            codes = faiss.vector_to_array(index.codes).reshape(-1, width)
        else:
            codes = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros(
                (0, width), np.float32)
        parts.append(codes)
    return parts


def _keys(m: CorpusManifest) -> list[tuple[str, str]]:
    """(key, kind) of every stored vector index."""
    return ([(layer_key("emb", layer), "emb") for layer in m.layers]
            + [(layer_key("ctx", layer), "ctx") for layer in m.context_layers])


def _fresh_name(key: str, listed: dict[str, Any]) -> str:
    """``ivf_<key>.faiss``, or a name no listed file has (the listed one stays valid)."""
    name = ivf_file(key)
    stamp = 0
    while name in listed:
        stamp += 1
        name = f"ivf_{key}.r{stamp}.faiss"
    return name


def add_approximate(corpus: str | Path, *, force: bool = False,
                    log: Callable[[str], None] | None = None) -> IndexReport:
    """Add an approximate index for every stored (kind, layer) of every shard of the corpus
    in ``corpus`` that has none (``force``: rebuild those it has); see the module docstring.
    Raises the errors of :func:`read_manifest` and :class:`CorpusCorrupt` naming the shard
    and file (checked before anything is written)."""
    from exbert.corpus.faiss_files import build_ivf

    folder = Path(corpus).expanduser()
    started = time.perf_counter()
    manifest = read_manifest(folder)
    shards = manifest.shard_manifests()
    check_sizes(folder, shards)
    raw = copy.deepcopy(manifest.raw)
    entries: list[dict[str, Any]] = raw["shards"] if manifest.sharded else [raw]
    report = IndexReport()
    replaced: list[Path] = []
    for m, entry in zip(shards, entries, strict=True):
        approx = (entry.get("approximate") if manifest.sharded else
                  entry["vectors"].get("approximate")) or {}
        approx = dict(approx)
        built, kept = [], []
        for key, kind in _keys(m):
            if key in approx and not force:
                kept.append(key)
                continue
            codes = stored_parts(folder, m, key, kind)
            v = m.raw["vectors"]
            data = build_ivf(codes, sum(len(c) for c in codes), int(v["width"][kind]),
                             float(v["step"][kind]))
            name = _fresh_name(key, entry["files"])
            record = storage.write_bytes(folder / m.data_dir / name, data)
            if key in approx:
                replaced.append(folder / m.data_dir / approx[key])
                entry["files"].pop(approx[key], None)
            entry["files"][name] = record.to_dict()
            approx[key] = name
            report.bytes_written += record.size
            built.append(key)
            if log is not None:
                log(f"{m.data_dir}: {key} -> {name} ({record.size / 1e6:.1f} MB)")
        if manifest.sharded:
            entry["approximate"] = approx
        else:
            entry["vectors"]["approximate"] = approx
        report.built[m.data_dir] = built
        report.kept[m.data_dir] = kept
        storage.fsync_dir(folder / m.data_dir)
    if manifest.sharded:  # the keys every shard indexes
        common = set.intersection(*(set(e.get("approximate") or {}) for e in entries))
        raw["vectors"]["approximate"] = {key: ivf_file(key) for key in sorted(common)}
    if report.n_built:
        if read_manifest(folder).build_id != manifest.build_id:
            raise CorpusError(f"{folder}: the corpus was rebuilt while indexing; run the "
                              "command again", path=str(folder))
        storage.write_json(folder / MANIFEST, raw)  # the commit
        storage.fsync_dir(folder)
        for old in replaced:
            old.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - started
    return report
