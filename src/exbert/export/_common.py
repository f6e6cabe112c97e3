"""What the exports and the notebook widget share: which model, which analysis, which view.

``model_or_name`` everywhere is an ``exbert.Model``, a name or path for :func:`exbert.load`
(loaded once per process and kept), or an ``exbert.Analysis`` (then ``text`` is not needed).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError, InvalidRequest

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model

STATIC = Path(__file__).resolve().parents[1] / "static"
DEFAULT_THRESHOLD = 0.7

_models: dict[str, Model] = {}
_models_lock = threading.Lock()


class ExportError(ExbertError):
    """An export that cannot be made here (no bundle built, no Chromium, ...)."""

    status = 500


def is_analysis(obj: object) -> bool:
    return hasattr(obj, "attentions") and hasattr(obj, "tokens") and hasattr(obj, "header")


def get_model(model_or_name: Model | str | os.PathLike[str]) -> Model:
    """A loaded model: ``exbert.load(name)`` once per name in this process, or the model."""
    if isinstance(model_or_name, str | os.PathLike):
        key = os.fspath(model_or_name)
        with _models_lock:
            if key not in _models:
                import exbert

                _models[key] = exbert.load(key)
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
    top_k: int = 5,
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
    return model.analyze(text, text_b=text_b, mask=tuple(mask), top_k=top_k)


def parse_ints(value: str | Sequence[int] | None, what: str) -> list[int] | None:
    """``"0,3"`` or ``[0, 3]`` -> ``[0, 3]``; ``None`` or ``""`` -> ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value or value == "all":
            return None
        try:
            return [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise InvalidRequest(
                f"{what}: expected comma-separated integers, got {value!r}"
            ) from None
    return [int(v) for v in value]


@dataclass
class ViewSpec:
    """The view state of the browser app (see frontend/src/state.ts), validated."""

    layer: int = 0
    heads: list[int] | None = None
    weights: list[float] | None = None
    hide_special: bool = True
    threshold: float = DEFAULT_THRESHOLD

    def to_state(self) -> dict[str, Any]:
        """As the JavaScript ``ViewState`` (camelCase)."""
        return {
            "layer": self.layer,
            "heads": self.heads,
            "weights": self.weights,
            "hideSpecial": self.hide_special,
            "threshold": self.threshold,
        }


def check_layer(layer: int | None, n_layers: int) -> int:
    if layer is None:
        return 0
    layer = int(layer)
    if layer < 0:
        layer += n_layers
    if not 0 <= layer < n_layers:
        raise InvalidRequest(
            f"layer {layer} is out of range: the model has layers 0..{n_layers - 1}",
            layer=layer, layers=n_layers,
        )
    return layer


def check_heads(heads: Sequence[int] | str | None, n_heads: int) -> list[int] | None:
    parsed = parse_ints(heads, "heads")
    if parsed is None:
        return None
    bad = [h for h in parsed if not 0 <= h < n_heads]
    if bad:
        raise InvalidRequest(
            f"head {bad[0]} is out of range: the model has heads 0..{n_heads - 1}",
            heads=bad, n_heads=n_heads,
        )
    out = sorted(set(parsed))
    if not out:
        raise InvalidRequest("select at least one head (or None for all)")
    return out


def check_weights(
    weights: Sequence[float] | None, heads: list[int] | None, n_heads: int
) -> list[float] | None:
    if weights is None:
        return None
    w = [float(x) for x in weights]
    n = len(heads) if heads is not None else n_heads
    if len(w) != n:
        raise InvalidRequest(f"{len(w)} weights for {n} selected heads", weights=len(w), heads=n)
    if any(not math.isfinite(x) or x < 0 for x in w):
        raise InvalidRequest("head weights must be finite and >= 0")
    return w


def check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not (0 < t <= 1):
        raise InvalidRequest(f"threshold must be in (0, 1], not {threshold!r}")
    return t


def view_spec(
    n_layers: int,
    n_heads: int,
    *,
    layer: int | None = None,
    heads: Sequence[int] | str | None = None,
    weights: Sequence[float] | None = None,
    hide_special: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
) -> ViewSpec:
    hs = check_heads(heads, n_heads)
    ws = check_weights(weights, hs, n_heads)
    if ws is not None and hs is None:
        hs = list(range(n_heads))
    return ViewSpec(
        layer=check_layer(layer, n_layers),
        heads=hs,
        weights=ws,
        hide_special=bool(hide_special),
        threshold=check_threshold(threshold),
    )


def frame_bytes(analysis: Analysis, layers: Sequence[int] | None = None) -> bytes:
    """The EXB1 frame of ``analysis`` (all layers, or ``layers``)."""
    from exbert.server.payload import encode_frame

    return bytes(encode_frame(analysis, layers))


def static_file(*parts: str, what: str) -> Path:
    path = STATIC.joinpath(*parts)
    if not path.is_file():
        raise ExportError(
            f"{what} is not built ({path} is missing): run `make install`, or "
            "`cd frontend && npm ci && npm run build`"
        )
    return path
