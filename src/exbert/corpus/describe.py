"""The manifest document of a finished build (:mod:`exbert.corpus.manifest` parses it):
what the corpus is, what it was built with and every data file's size and checksum.
:func:`exbert.corpus.publish.publish` fills in the build id and data folder and writes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.layout import CHUNK_VECTORS, Plan
from exbert.corpus.manifest import FORMAT, SCHEMA_VERSION, STORAGE_CONVENTION, rebuild_command

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
        "schema_version": SCHEMA_VERSION,
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
            "chunks": data.vectors.chunks,
            "approximate": data.vectors.approximate,
        },
        "attention": {
            "storage": "argmax",
            "columns": "attn_L<l>.npy int16 [N, 2H+2]: out-argmax per head (H), in-argmax per "
                       "head (H), out-argmax of the mean over heads, in-argmax of the mean; "
                       "attnw_L<l>.npy float16: the matching weights",
            "targets": "non-special tokens of the sentence; -1 for special tokens",
        },
        "counts": data.counts,
        "libraries": _libraries(),
        "rebuild_command": rebuild_command(
            config.input_path, info.name, out, config.spacy_pipeline, plan.layers, info.layers,
            config.max_sentences, config.text_field,
        ),
        "files": {k: v.to_dict() for k, v in sorted(data.files.items())},
    }


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
