"""Annotated reference corpora: build them from text for any model.

    from exbert.corpus import build
    manifest = build("holmes.txt", "minilm-l6", "corpora/holmes-minilm")

    from exbert.search import Corpus, search
    corpus = Corpus.open("corpora/holmes-minilm", model)

This package writes corpora; :mod:`exbert.search` opens and reads them (it may import the
shared format facts from here, never the other way round). The on-disk layout, the layer
convention and the manifest are described in :mod:`exbert.corpus.manifest`; the vector
encoding in :mod:`exbert.corpus.vectors`; the build and its durability in
:mod:`exbert.corpus.build`. Importing this package is cheap (no torch, spaCy or FAISS until
a build runs).

``build`` is bound here after its module is imported, so ``exbert.corpus.build`` is the
function (the module is ``sys.modules['exbert.corpus.build']``).
"""

from __future__ import annotations

from exbert.corpus.build import build
from exbert.corpus.layers import default_layers, resolve_layers
from exbert.corpus.manifest import (
    SCHEMA_VERSION,
    CorpusManifest,
    read_manifest,
    tokenizer_hash,
)

__all__ = [
    "SCHEMA_VERSION",
    "CorpusManifest",
    "build",
    "default_layers",
    "read_manifest",
    "resolve_layers",
    "tokenizer_hash",
]

