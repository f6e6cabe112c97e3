"""exbert.corpus.manifest: parsing errors of manifest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _doc(version: int, shards: list[dict[str, Any]] | None) -> dict[str, Any]:
    files = {"a.npy": {"size": 1, "sha256": "0" * 64}}
    doc: dict[str, Any] = {
        "format": "exbert-corpus", "schema_version": version, "name": "c", "build_id": "b",
        "data_dir": "v-b", "layers": [0, 1], "spacy": {"pipeline": "x"},
        "model": {"name": "m", "kind": "bert", "layers": 1, "heads": 2, "head_dim": 4,
                  "hidden_size": 8, "tokenizer_hash": "t"},
        "counts": {"sentences": 5, "tokens": 50, "words": 30},
        "vectors": {"width": {"emb": 8}, "chunks": {"emb_L00": ["x.faiss"]},
                    "rotation": {"emb": "r.npy"}, "approximate": {}},
        "files": files if shards is None else {},
    }
    if shards is not None:
        doc["shards"] = shards
    return doc


def _shard(name: str, s: int, t: int, w: int) -> dict[str, Any]:
    return {"dir": name, "sentences": s, "tokens": t, "words": w,
            "files": {f"f{name}.npy": {"size": t, "sha256": "1" * 64}},
            "chunks": {"emb_L00": [f"emb_L00.c{name}.faiss"]},
            "approximate": {"emb_L00": "ivf_emb_L00.faiss"} if name == "000001" else {},
            "rotation": {"emb": "rotation_8.npy"}}


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    (tmp_path / "c").mkdir(exist_ok=True)
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(doc), "utf-8")
    return tmp_path / "c"


def test_schema_2_is_one_shard_and_3_lists_its_shards(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 3
    m = read_manifest(_write(tmp_path, _doc(2, None)))
    assert m.shard_manifests() == [m] and m.shard_offsets() == [(0, 0)] and not m.sharded
    shards = [_shard("000000", 2, 20, 12), _shard("000001", 0, 0, 0),
              _shard("000002", 3, 30, 18)]
    m = read_manifest(_write(tmp_path, _doc(3, shards)))
    parts = m.shard_manifests()
    assert [p.data_dir for p in parts] == ["v-b/000000", "v-b/000001", "v-b/000002"]
    assert [p.n_tokens for p in parts] == [20, 0, 30] and parts[2].n_words == 18
    assert parts[0].files == {"f000000.npy": {"size": 20, "sha256": "1" * 64}}
    assert parts[1].raw["vectors"]["approximate"] == {"emb_L00": "ivf_emb_L00.faiss"}
    assert parts[0].raw["vectors"]["chunks"] == {"emb_L00": ["emb_L00.c000000.faiss"]}
    assert parts[0].raw["vectors"]["width"] == {"emb": 8}  # the rest of the top section
    assert parts[2].raw["shard"] == "000002" and parts[2].model == m.model
    assert m.shard_offsets() == [(0, 0), (20, 2), (20, 2)]


@pytest.mark.parametrize(("edit", "match"), [
    (lambda s: s.__setitem__(1, {**s[1], "dir": "../etc"}), "shard 1: bad shard folder"),
    (lambda s: s.__setitem__(1, {**s[1], "dir": "000000"}), "shard 000000: listed twice"),
    (lambda s: s[0].__setitem__("tokens", 21), "the shards hold 5 sentences, 51 tokens"),
    (lambda s: s[1].pop("files"), "shard 000001: incomplete shard entry"),
    (lambda s: s[1].__setitem__("chunks", []), "shard 000001: incomplete shard entry"),
    (lambda s: s.clear(), "lists no shards"),
])
def test_bad_shards_section_is_corrupt(tmp_path: Path, edit: Any, match: str) -> None:
    shards = [_shard("000000", 2, 20, 12), _shard("000001", 3, 30, 18)]
    edit(shards)
    with pytest.raises(CorpusCorrupt, match=match):
        read_manifest(_write(tmp_path, _doc(3, shards)))
    doc = _doc(3, [_shard("000000", 5, 50, 30)])
    doc["files"] = {"x.npy": {"size": 1, "sha256": "2" * 64}}
    with pytest.raises(CorpusCorrupt, match="no top-level files"):
        read_manifest(_write(tmp_path, doc))
