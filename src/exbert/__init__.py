"""exbert: look inside transformer language models.

Heavy libraries (torch, transformers, faiss, spacy) load lazily, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from exbert.analysis import Analysis, Prediction, Token
    from exbert.models import Model, ModelInfo, load

_LAZY = {
    "load": "exbert.models",
    "Model": "exbert.models",
    "ModelInfo": "exbert.models",
    "Analysis": "exbert.analysis",
    "Prediction": "exbert.analysis",
    "Token": "exbert.analysis",
}

__all__ = ["Analysis", "ExbertError", "Model", "ModelInfo", "Prediction", "Token", "load"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'exbert' has no attribute {name!r}")
