"""exbert: look inside transformer language models.

Heavy libraries (torch, transformers, faiss, spacy) load lazily, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exbert._lazy import lazy_attributes
from exbert._version import __version__
from exbert.errors import ExbertError

if TYPE_CHECKING:
    from exbert.analysis import Analysis, LogitLens, Prediction, Token, attention_flow, rollout
    from exbert.export import export_html, export_png, export_svg
    from exbert.models import Model, ModelInfo, load
    from exbert.notebook import show

_LAZY = {
    "load": "exbert.models",
    "Model": "exbert.models",
    "ModelInfo": "exbert.models",
    "Analysis": "exbert.analysis",
    "Prediction": "exbert.analysis",
    "Token": "exbert.analysis",
    "LogitLens": "exbert.analysis",
    "rollout": "exbert.analysis",
    "attention_flow": "exbert.analysis",
    "show": "exbert.notebook",
    "export_html": "exbert.export",
    "export_svg": "exbert.export",
    "export_png": "exbert.export",
}

__all__ = [
    "Analysis",
    "ExbertError",
    "LogitLens",
    "Model",
    "ModelInfo",
    "Prediction",
    "Token",
    "__version__",
    "attention_flow",
    "export_html",
    "export_png",
    "export_svg",
    "load",
    "rollout",
    "show",
]


__getattr__ = lazy_attributes(__name__, _LAZY)
