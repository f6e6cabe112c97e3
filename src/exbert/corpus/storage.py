"""Durable file writes: temporary name, fsync, rename; checksums computed while writing.

Every byte a corpus build writes goes through :func:`write_stream`, so that

- a file appears under its final name only once it is complete and on disk
  (``os.replace`` of an fsynced temporary file, then an fsync of the folder);
- its size and sha256 are known without reading it back (they go into the manifest);
- tests can inject a fault into the N-th write (:data:`WRITE_HOOK`).

Nothing here imports numpy at module level except through :func:`write_npy`'s callers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Test hook: called with the destination path before every chunk is written. A hook that
#: raises (``OSError(ENOSPC)`` for instance) simulates a failing disk at that point.
WRITE_HOOK: Callable[[Path], None] | None = None

CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class FileRecord:
    """What the manifest records about one file."""

    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256}


class _HashingWriter:
    """A file-like sink that hashes, counts and passes every chunk through the hook."""

    def __init__(self, f: Any, path: Path) -> None:
        self._f = f
        self._path = path
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK_BYTES):
            piece = view[start : start + CHUNK_BYTES]
            if WRITE_HOOK is not None:
                WRITE_HOOK(self._path)
            self._f.write(piece)
            self.hash.update(piece)
            self.size += len(piece)
        return len(view)

    def flush(self) -> None:
        self._f.flush()


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[_HashingWriter]:
    """Write ``path`` through a temporary file that is fsynced and renamed on success and
    removed on failure. The caller fsyncs the folder once a group of files is complete."""
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            sink = _HashingWriter(f, path)
            yield sink
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_stream(path: Path, pieces: Iterable[bytes | bytearray | memoryview]) -> FileRecord:
    with atomic_writer(path) as sink:
        for piece in pieces:
            sink.write(piece)
    return FileRecord(sink.size, sink.hash.hexdigest())


def write_bytes(path: Path, data: bytes | bytearray | memoryview) -> FileRecord:
    return write_stream(path, [data])


def write_json(path: Path, obj: Any) -> FileRecord:
    text = json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return write_bytes(path, text.encode("utf-8"))


def write_npy(path: Path, array: np.ndarray) -> FileRecord:
    """``np.save`` format (version 1.0/2.0 header, no pickle), written durably."""
    import numpy as np

    with atomic_writer(path) as sink:
        np.lib.format.write_array(sink, np.ascontiguousarray(array), allow_pickle=False)
    return FileRecord(sink.size, sink.hash.hexdigest())


class RecordedFolder:
    """A folder being written durably that keeps the :class:`FileRecord` of every file
    written through it (by file name), for the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, FileRecord] = {}

    def write_stream(self, name: str, pieces: Iterable[bytes | bytearray | memoryview]) -> None:
        self.files[name] = write_stream(self.path / name, pieces)

    def write_bytes(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self.files[name] = write_bytes(self.path / name, data)

    def write_json(self, name: str, obj: Any) -> None:
        self.files[name] = write_json(self.path / name, obj)

    def write_npy(self, name: str, array: np.ndarray) -> None:
        self.files[name] = write_npy(self.path / name, array)


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a completely written folder into place (atomic on one filesystem)."""
    for child in tmp.iterdir():
        if child.is_file():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
    fsync_dir(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
