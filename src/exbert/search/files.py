"""Verified access to the files of a published corpus.

Opening checks, in this order and before numpy or FAISS reads any data file:

1. the manifest parses and has this exbert's schema version (:func:`read_manifest`);
2. every file the manifest lists, and every file the vector section names, exists with its
   recorded size (a truncated file is :class:`CorpusCorrupt`), in every shard's folder
   (``v-<id>/NNNNNN``: the error names the shard and the file) before any shard is loaded;
3. sha256 checksums: of every file when the corpus is at most ``FULL_VERIFY_BYTES`` (or
   ``verify="full"``), else of the metadata files now and of each vector file just before its
   first use (``verify="lazy"``). Each file is verified once per process.

Every error names the command that rebuilds the corpus.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from exbert.corpus import storage
from exbert.corpus.layout import (
    ATTENTION_KINDS,
    HEADS_FILE,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    layer_file,
    layer_key,
)
from exbert.corpus.manifest import CorpusManifest
from exbert.errors import CorpusCorrupt

if TYPE_CHECKING:
    import numpy as np

Verify = Literal["auto", "full", "lazy"]
FULL_VERIFY_BYTES = 1 << 30
METADATA_FILES = (SENTENCES_FILE, TOKENS_FILE, WORDS_FILE, TEXT_FILE, LABELS_FILE, HEADS_FILE)
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")
_SAFE_DATA_DIR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}(/[0-9]{6})?")


class MissingFile(Exception):
    """A listed file vanished (the corpus was replaced while opening): re-read the manifest."""


class CorpusFiles:
    """The data folder of one manifest (a shard's folder ``v-<id>/NNNNNN``, or a schema-2
    corpus's ``v-<id>``): listing checked on construction, checksums verified before first use
    (:meth:`verify_on_open` verifies what opening needs), loaders that turn any unreadable file
    into :class:`CorpusCorrupt` naming the shard folder and the file. Thread-safe.

    ``verify="auto"`` decides by the size of this folder, or by ``total_bytes`` when given
    (a sharded corpus decides once for all its shards)."""

    def __init__(self, path: Path, manifest: CorpusManifest, verify: Verify = "auto",
                 total_bytes: int | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self._lock = threading.Lock()
        self._verified: set[str] = set()
        self.shard: str | None = manifest.raw.get("shard")
        if not _SAFE_DATA_DIR.fullmatch(manifest.data_dir):
            self.corrupt("manifest.json", f"bad data folder name {manifest.data_dir!r}")
        self.data = path / manifest.data_dir
        self._check_listing()
        self.mode: Verify = verify
        if verify == "auto":
            total = self.total_bytes if total_bytes is None else total_bytes
            self.mode = "full" if total <= FULL_VERIFY_BYTES else "lazy"

    def verify_on_open(self) -> None:
        """Verify every file (mode "full") or the metadata files (mode "lazy")."""
        metadata = [*METADATA_FILES, *self.vectors["rotation"].values()]
        self.verify(list(self.manifest.files) if self.mode == "full" else metadata)

    def where(self, fname: str) -> str:
        """``fname`` as the corpus folder names it (``v-<id>/000003/tokens.npy`` in a shard)."""
        if self.shard is None or fname == "manifest.json":
            return fname
        return f"{self.manifest.data_dir}/{fname}"

    @property
    def vectors(self) -> dict[str, Any]:
        """The manifest's vector section (widths, steps, chunk files, rotations, indexes)."""
        v: dict[str, Any] = self.manifest.raw.get("vectors", {})
        return v

    def corrupt(self, fname: str, why: str) -> NoReturn:
        command = self.manifest.rebuild_command
        shard = f" (shard {self.shard})" if self.shard is not None else ""
        extra = {"shard": self.shard} if self.shard is not None else {}
        raise CorpusCorrupt(
            f"{self.path}: corpus file {self.where(fname)}{shard} is corrupt ({why}); rebuild "
            f"the corpus: {command}",
            path=str(self.path), file=self.where(fname), rebuild_command=command, **extra,
        )

    def _needed(self) -> set[str]:
        """The files the manifest's sections refer to (each must also be listed)."""
        m, v = self.manifest, self.vectors
        needed = set(METADATA_FILES)
        try:
            needed |= set(v["rotation"].values())
            for key, names in v["chunks"].items():
                needed |= set(names)
                if not _SAFE_NAME.fullmatch(key):
                    self.corrupt("manifest.json", f"bad index name {key!r}")
            needed |= set(v.get("approximate", {}).values())
            for layer in m.layers:
                if layer_key("emb", layer) not in v["chunks"]:
                    self.corrupt("manifest.json", f"no embedding index for layer {layer}")
            for layer in m.context_layers:
                if layer_key("ctx", layer) not in v["chunks"]:
                    self.corrupt("manifest.json", f"no context index for layer {layer}")
                needed |= {layer_file(kind, layer) for kind in ATTENTION_KINDS}
        except (KeyError, TypeError, AttributeError) as exc:
            self.corrupt("manifest.json", f"incomplete vector section: {exc}")
        return needed

    def _check_listing(self) -> None:
        files = self.manifest.files
        if self.shard is not None and not self.data.is_dir():
            raise MissingFile(f"shard folder {self.manifest.data_dir}")
        for fname in sorted(self._needed() | set(files)):
            if not _SAFE_NAME.fullmatch(fname):
                self.corrupt("manifest.json", f"bad file name {fname!r}")
            if fname not in files:
                self.corrupt("manifest.json", f"{fname} is not listed")
            try:
                size = (self.data / fname).stat().st_size
            except FileNotFoundError:
                raise MissingFile(self.where(fname)) from None
            expected = int(files[fname]["size"])
            if size != expected:
                self.corrupt(fname, f"{size} bytes, the manifest says {expected}: truncated "
                                    "or overwritten")

    def verify(self, names: Sequence[str]) -> None:
        """Check the sha256 of each file not verified yet in this process."""
        with self._lock:
            for fname in names:
                if fname in self._verified:
                    continue
                try:
                    digest = storage.sha256_file(self.data / fname)
                except FileNotFoundError:
                    raise MissingFile(self.where(fname)) from None
                except OSError as exc:
                    self.corrupt(fname, f"unreadable: {exc.strerror}")
                if digest != self.manifest.files[fname].get("sha256"):
                    self.corrupt(fname, "checksum mismatch: the file changed after the build "
                                        "(bit flip, partial copy or edit)")
                self._verified.add(fname)

    def npy(self, fname: str, rows: int, dtype: Any = None) -> np.ndarray:
        """A memory-mapped ``.npy`` of ``rows`` rows (and ``dtype`` when given)."""
        import numpy as np

        self.verify([fname])
        try:
            arr: np.ndarray = np.load(self.data / fname, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            self.corrupt(fname, f"not a numpy array file: {exc}")
        if len(arr) != rows:
            self.corrupt(fname, f"{len(arr)} rows, the manifest says {rows}")
        if dtype is not None and arr.dtype != dtype:
            self.corrupt(fname, f"record layout {arr.dtype}, expected {dtype}")
        return arr

    def text(self, fname: str) -> np.ndarray:
        """A memory-mapped byte file as uint8 [bytes]."""
        import numpy as np

        self.verify([fname])
        if not self.manifest.files[fname]["size"]:
            return np.zeros(0, np.uint8)
        return np.memmap(self.data / fname, dtype=np.uint8, mode="r")

    def json(self, fname: str) -> Any:
        self.verify([fname])
        try:
            return json.loads((self.data / fname).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.corrupt(fname, f"unreadable JSON: {exc}")

    def rotation(self, fname: str) -> np.ndarray:
        """A square float32 rotation matrix [D, D], read into memory."""
        import numpy as np

        self.verify([fname])
        try:
            arr: np.ndarray = np.load(self.data / fname, allow_pickle=False)
        except (OSError, ValueError) as exc:
            self.corrupt(fname, f"not a numpy array file: {exc}")
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.dtype != np.float32:
            self.corrupt(fname, "not a square float32 matrix")
        return arr

    @property
    def total_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.manifest.files.values())
