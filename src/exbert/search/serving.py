"""Corpora opened for the server: each folder checked against the served model it was built
for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from exbert.corpus.manifest import read_manifest
from exbert.errors import CorpusMismatch
from exbert.search.corpus import Corpus

if TYPE_CHECKING:
    from exbert.models import Model


def open_for_server(dirs: Iterable[str | Path], models: Mapping[str, Model]) -> dict[str, Corpus]:
    """Open each corpus folder for the server, checked against the served model it was built
    for. Returns ``{corpus name: Corpus}`` (names made unique with a suffix)."""
    out: dict[str, Corpus] = {}
    for d in dirs:
        folder = Path(d)
        manifest = read_manifest(folder)
        model = models.get(manifest.model.name)
        if model is None:
            raise CorpusMismatch(
                f"{folder}: this corpus was built for model {manifest.model.name!r}, which the "
                f"server does not serve ({', '.join(models) or 'none'}); add "
                f"--model {manifest.model.name} or rebuild it: {manifest.rebuild_command}",
                path=str(folder),
                rebuild_command=manifest.rebuild_command,
            )
        corpus = Corpus.open(folder, model)
        name, n = corpus.name, 2
        while name in out:
            name, n = f"{corpus.name}-{n}", n + 1
        corpus.name = name
        out[name] = corpus
    return out
