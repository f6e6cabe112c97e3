"""The manifest document of a finished build (:mod:`exbert.corpus.manifest` parses it):
what the corpus is, what it was built with and every data file's size and checksum.
:func:`exbert.corpus.publish.publish` fills in the build id and data folder and writes it.

Schema 3: the corpus is a set of shards. ``OUT/v-<id>/NNNNNN/`` holds shard NNNNNN's files
(ids local to the shard); the manifest's ``shards`` list gives per shard its ``dir``, counts
(``sentences``, ``tokens``, ``words``), ``files`` ({name: {size, sha256}}), ``chunks`` (per
vector key its FAISS files), ``approximate`` (per key its IVF file, {} when none),
``rotation`` (per vector kind its file), ``storage`` (``{"pq": [keys stored as IndexPQ]}``)
and ``documents`` (absent without metadata). The top-level ``counts`` are the totals, the
top-level ``files`` is {} (every file is in a shard), ``storage`` says how vectors are stored
(``{"vectors": "sq8" | "pq", "pq_min_vectors": N}``), ``input.paths`` lists every input."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.config import SCHEMA
from exbert.corpus.layout import CHUNK_VECTORS, Plan, ivf_file
from exbert.corpus.manifest import FORMAT, STORAGE_CONVENTION, rebuild_command
from exbert.corpus.shard_files import PQ_MIN_VECTORS

if TYPE_CHECKING:
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.finalize import DataFiles
    from exbert.models import Model


def manifest_document(model: Model, config: BuildConfig, plan: Plan,
                      spacy_meta: dict[str, Any], data: DataFiles, *, name: str,
                      out: Path) -> dict[str, Any]:
    """The manifest of the corpus ``name`` published into ``out`` (its ``build_id`` and
    ``data_dir`` still empty)."""
    info = model.info
    return {
        "format": FORMAT,
        "schema_version": SCHEMA,
        "name": name,
        "build_id": "",
        "data_dir": "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": config.model,
        "special_tokens": {str(i): str(t) for i, t in _special_ids(model).items()},
        "spacy": {
            "pipeline": config.spacy_pipeline,
            "version": config.spacy_version,
            "lang": spacy_meta.get("lang"),
            "components": spacy_meta.get("components"),
        },
        "input": {
            "path": config.input_path,
            "paths": list(config.paths),
            "sha256": config.input_sha256,
            "format": config.input_format,
            "max_sentences": config.max_sentences,
            "min_words": config.min_words,
        },
        "layers": plan.layers,
        "context_layers": plan.ctx_layers,
        "layer_convention": STORAGE_CONVENTION,
        "vectors": {
            "encoding": "unit-length, rotated, int8 with a fixed step (exbert.corpus.vectors)",
            "dtype": "int8",
            "faiss": "IndexScalarQuantizer QT_8bit_uniform, inner product",
            "step": {"emb": plan.step_emb, "ctx": plan.step_ctx},
            "width": {"emb": plan.hidden, "ctx": plan.ctx_width},
            "rotation": data.rotation,
            "context": "each head unit-length, concatenation / sqrt(heads)",
            "chunk_vectors": CHUNK_VECTORS,
            "chunks": {},
            "approximate": {key: ivf_file(key) for key in data.approximate},
        },
        "storage": {"vectors": config.vectors, "pq_min_vectors": PQ_MIN_VECTORS,
                    "pq": "per shard and key: faiss IndexPQ(D, D/8, 8, inner product) trained "
                          "on the shard's decoded sq8 vectors; shards with fewer vectors "
                          "keep sq8 (listed in each shard's storage.pq)"},
        "attention": {
            "storage": "argmax",
            "columns": "attn_L<l>.npy int16 [N, 2H+2]: out-argmax per head (H), in-argmax per "
                       "head (H), out-argmax of the mean over heads, in-argmax of the mean; "
                       "attnw_L<l>.npy float16: the matching weights",
            "targets": "non-special tokens of the sentence; -1 for special tokens",
        },
        "counts": data.counts,
        "libraries": _libraries(),
        "rebuild_command": _rebuild(config, info.name, info.layers, plan, out),
        "files": {},
        "shards": data.shards,
    }


def _rebuild(config: BuildConfig, model: str, n_layers: int, plan: Plan, out: Path) -> str:
    """The command that builds this corpus again (every input; ``--vectors`` when not the
    default)."""
    parts = shlex.split(rebuild_command(config.paths[0], model, out, config.spacy_pipeline,
                                        plan.layers, n_layers, config.max_sentences,
                                        config.text_field))
    parts[3:4] = list(config.paths)
    if config.vectors != "sq8":
        parts += ["--vectors", config.vectors]
    return shlex.join(parts)


def _special_ids(model: Model) -> dict[int, str]:
    tok = model.tokenizer
    out: dict[int, str] = {}
    for t in tok.all_special_tokens:
        i = tok.convert_tokens_to_ids(t)
        if isinstance(i, int) and i >= 0:
            out[i] = str(t)
    return out


def _libraries() -> dict[str, str]:
    from importlib import metadata

    import faiss
    import numpy
    import torch
    import transformers

    from exbert._version import __version__

    return {
        "exbert": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "spacy": metadata.version("spacy"),  # its version without the cost of importing it
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
    }
