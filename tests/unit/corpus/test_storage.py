"""exbert.corpus.storage: durable writes and their records."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from exbert.corpus import storage


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    target = tmp_path / "f.npy"
    storage.write_npy(target, np.arange(10))
    before = target.read_bytes()

    def fail(_path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "WRITE_HOOK", fail)
    with pytest.raises(OSError):
        storage.write_npy(target, np.arange(1000))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]


def test_write_records_size_and_checksum(tmp_path: Path) -> None:
    rec = storage.write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert rec.size == (tmp_path / "a.json").stat().st_size
    assert rec.sha256 == storage.sha256_file(tmp_path / "a.json")
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    rec = storage.write_npy(tmp_path / "a.npy", arr)
    assert np.array_equal(np.load(tmp_path / "a.npy", allow_pickle=False), arr)
    assert rec.sha256 == storage.sha256_file(tmp_path / "a.npy")
