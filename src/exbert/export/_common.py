"""What the exports and the notebook widget share: which model, which analysis, which frame.

``model_or_name`` everywhere is an ``exbert.Model``, a name or path for
:func:`exbert.models.load` (loaded once per process and kept), or an ``exbert.Analysis`` (then
``text`` is not needed). The view itself (layer, heads, limits) is :mod:`exbert.view`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.errors import ExportError, InvalidRequest
from exbert.view import DEFAULT_THRESHOLD, DEFAULT_TOP_K, ViewSpec, view_spec

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model

STATIC = Path(__file__).resolve().parents[1] / "static"

_models: dict[str, Model] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class Request:
    """The keywords that every export takes: what to analyse (``text_b``, ``mask``: token
    positions, ``top_k``: predictions per token) and the initial view (see
    :func:`exbert.view.view_spec`)."""

    text_b: str | None = None
    mask: Sequence[int] = ()
    top_k: int = DEFAULT_TOP_K
    layer: int | None = None
    heads: Sequence[int] | str | None = None
    weights: Sequence[float] | str | None = None
    hide_special: bool = True
    threshold: float = DEFAULT_THRESHOLD
    color_by_head: bool = False
    hide_first: bool = False


def is_analysis(obj: object) -> bool:
    return hasattr(obj, "attentions") and hasattr(obj, "tokens") and hasattr(obj, "header")


def get_model(model_or_name: Model | str | os.PathLike[str]) -> Model:
    """A loaded model: ``load(name)`` once per name in this process, or the model itself."""
    if isinstance(model_or_name, str | os.PathLike):
        key = os.fspath(model_or_name)
        with _models_lock:
            if key not in _models:
                from exbert.models import load

                _models[key] = load(key)
            return _models[key]
    if not (hasattr(model_or_name, "analyze") and hasattr(model_or_name, "info")):
        raise InvalidRequest(
            f"expected an exbert.Model, a model name or an exbert.Analysis, "
            f"not {type(model_or_name).__name__}"
        )
    return model_or_name


def get_analysis(
    model_or_name: Any,
    text: str | None,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    top_k: int = DEFAULT_TOP_K,
) -> Analysis:
    """The analysis to show: the one given, or ``model.analyze(text, ...)``."""
    if is_analysis(model_or_name):
        if text is not None and text != model_or_name.text:
            raise InvalidRequest("give either an Analysis or a model and a text, not both")
        analysis: Analysis = model_or_name
        return analysis
    if text is None:
        raise InvalidRequest("a text to analyse is needed")
    model = get_model(model_or_name)
    return model.analyze(text, text_b=text_b, mask=tuple(mask), top_k=top_k, attention="full")


def prepare(model_or_name: Any, text: str | None, request: Request) -> tuple[Analysis, ViewSpec]:
    """The analysis of ``request`` and its validated view (attentions ``[L, H, T, T]``)."""
    analysis = get_analysis(
        model_or_name, text, text_b=request.text_b, mask=request.mask, top_k=request.top_k
    )
    n_layers, n_heads = analysis.full_attentions("a figure").shape[:2]
    spec = view_spec(
        n_layers, n_heads, layer=request.layer, heads=request.heads, weights=request.weights,
        hide_special=request.hide_special, threshold=request.threshold,
    )
    spec.color_by_head = bool(request.color_by_head)
    spec.hide_first = bool(request.hide_first)
    return analysis, spec


def frame_bytes(analysis: Analysis, layers: Sequence[int] | None = None) -> bytes:
    """The EXB1 frame of ``analysis`` (all layers, or ``layers``)."""
    from exbert.analysis.frame import encode_frame

    return bytes(encode_frame(analysis, layers))


def static_file(*parts: str, what: str) -> Path:
    path = STATIC.joinpath(*parts)
    if not path.is_file():
        raise ExportError(
            f"{what} is not built ({path} is missing): run `make install`, or "
            "`cd frontend && npm ci && npm run build`"
        )
    return path
