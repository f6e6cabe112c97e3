"""Publication of a finished build: the shards folder renamed into ``OUT/v-<build id>`` (no
copy), then ``OUT/manifest.json`` replaced (the commit; if that write fails, the folder is
renamed back, so the checkpoints are still there for the next run). Readers see the old
corpus or the new one, never a mix; the previous version's folder is kept (readers that
opened it go on working), older ones are removed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from exbert.corpus import storage
from exbert.corpus.manifest import MANIFEST, CorpusManifest

VERSION_DIR = re.compile(r"v-\d{8}-\d{6}-[0-9a-f]{8}")


def publish(out: Path, data_tmp: Path, manifest: dict[str, Any]) -> CorpusManifest:
    """Rename ``data_tmp`` into ``out``, then replace ``out/manifest.json`` with
    ``manifest`` (its ``build_id`` and ``data_dir`` filled in here)."""
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
    try:
        storage.fsync_dir(out)
        storage.write_json(out / MANIFEST, manifest)
        storage.fsync_dir(out)
    except BaseException:
        with contextlib.suppress(OSError):  # the checkpoints go back where a resume finds them
            os.replace(out / data_dir, data_tmp)
        raise
    for child in out.iterdir():
        if (child.is_dir() and VERSION_DIR.fullmatch(child.name)
                and child.name not in (data_dir, previous)):
            storage.remove_tree(child)
    return CorpusManifest.from_dict(manifest)
