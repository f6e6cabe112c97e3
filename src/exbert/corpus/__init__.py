"""Annotated reference corpora: build them from text for any model, open and search them.

    from exbert.corpus import build
    manifest = build("holmes.txt", "minilm-l6", "corpora/holmes-minilm")

    from exbert.search import Corpus, search
    corpus = Corpus.open("corpora/holmes-minilm", model)

The on-disk layout, the layer convention and the manifest are described in
:mod:`exbert.corpus.manifest`; the vector encoding in :mod:`exbert.corpus.vectors`; the
build and its durability in :mod:`exbert.corpus.build`. Importing this package is cheap
(no torch, spaCy or FAISS until a build or a search runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.build import build, default_layers, resolve_layers
from exbert.corpus.manifest import (
    LAYER_CONVENTION,
    SCHEMA_VERSION,
    CorpusManifest,
    read_manifest,
    tokenizer_hash,
)

if TYPE_CHECKING:
    from exbert.models import Model
    from exbert.search import Corpus

__all__ = [
    "LAYER_CONVENTION",
    "SCHEMA_VERSION",
    "CorpusManifest",
    "build",
    "default_layers",
    "open_corpus",
    "open_for_server",
    "read_manifest",
    "resolve_layers",
    "tokenizer_hash",
]


def open_corpus(path: str | Path, model: Model | None = None) -> Corpus:
    """``Corpus.open(path, model)`` (verified; refuses a corpus of another model)."""
    from exbert.search import Corpus

    return Corpus.open(path, model)


def open_for_server(dirs: Iterable[str | Path], models: Mapping[str, Model]) -> dict[str, Any]:
    """Open each corpus folder for the server, checked against the served model it was built
    for. Returns ``{corpus name: Corpus}`` (names made unique with a suffix)."""
    from exbert.errors import CorpusMismatch
    from exbert.search import Corpus

    out: dict[str, Any] = {}
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
