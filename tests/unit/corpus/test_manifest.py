"""exbert.corpus.manifest: parsing errors of manifest.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exbert.corpus.manifest import SCHEMA_VERSION, read_manifest
from exbert.errors import CorpusCorrupt, CorpusError, CorpusMismatch


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such corpus"):
        read_manifest(tmp_path / "nope")
    (tmp_path / "c").mkdir()
    with pytest.raises(CorpusError, match="not a corpus"):
        read_manifest(tmp_path / "c")
    (tmp_path / "c" / "manifest.json").write_text("{broken", "utf-8")
    with pytest.raises(CorpusCorrupt, match="unreadable manifest"):
        read_manifest(tmp_path / "c")
    doc = {"format": "exbert-corpus", "schema_version": SCHEMA_VERSION + 1,
           "rebuild_command": "exbert corpus build x.txt --model m --out c"}
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(doc), "utf-8")
    with pytest.raises(CorpusMismatch, match=r"exbert corpus build x\.txt"):
        read_manifest(tmp_path / "c")
    doc["schema_version"] = SCHEMA_VERSION
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(doc), "utf-8")
    with pytest.raises(CorpusCorrupt, match="incomplete manifest"):
        read_manifest(tmp_path / "c")
