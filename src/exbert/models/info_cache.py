"""What a local model is, remembered from its last load: ``exbert serve`` lists its models
(``/api/models``) before torch and transformers are imported, and loads them afterwards.

One small JSON file per model in ``<cache>/info/``, keyed by the model's location, the size
and modification time of its config, tokenizer and weight files, the kind asked for, the
exbert version and the fields of :class:`~exbert.info.ModelInfo`: any change to the files or
to exbert makes a new key, so a stale description is never used. Hub ids are not remembered
(their files live in the Hugging Face cache and may change upstream).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from exbert._version import __version__
from exbert.info import ModelInfo

KEEP = 64
"""Most descriptions kept (each a few hundred bytes)."""
_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
          "vocab.txt", "generation_config.json")


def _fingerprint(form: str, location: str) -> list[Any] | None:
    path = Path(location)
    if form == "gguf":
        files = [path]
    elif form == "folder":
        files = [path / f for f in _FILES] + sorted(path.glob("*.safetensors"))
    else:
        return None
    out: list[Any] = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append([f.name, st.st_size, st.st_mtime_ns])
    return out or None


def _key(form: str, location: str, kind: str | None) -> str | None:
    prints = _fingerprint(form, location)
    if prints is None:
        return None
    names = [f.name for f in dataclasses.fields(ModelInfo)]
    ident = json.dumps([__version__, names, form, os.path.abspath(location), kind, prints])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def remember_info(
    form: str, location: str, info: ModelInfo, *, kind: str | None, cache_dir: Path
) -> None:
    """Store ``info`` for the next start (best effort: a read-only cache only costs speed)."""
    key = _key(form, location, kind)
    if key is None:
        return
    folder = cache_dir / "info"
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info.to_dict(), f)
        os.replace(tmp, folder / f"{key}.json")
        tmp = None
        _evict(folder)
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _evict(folder: Path) -> None:
    """Keep the :data:`KEEP` most recently written descriptions (each model's files, moved or
    changed, make a new key; the old ones are never read again)."""
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def recall_info(
    form: str, location: str, *, kind: str | None, max_tokens: int, cache_dir: Path
) -> ModelInfo | None:
    """The :class:`ModelInfo` remembered for this model and files, with ``max_tokens``
    applied as :func:`~exbert.models.loading.describe` would; None when not remembered."""
    key = _key(form, location, kind)
    if key is None:
        return None
    try:
        data = json.loads((cache_dir / "info" / f"{key}.json").read_text(encoding="utf-8"))
        data["special_tokens"] = tuple(data["special_tokens"])
        info = ModelInfo(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return dataclasses.replace(info, max_tokens=min(info.max_positions, max_tokens))
