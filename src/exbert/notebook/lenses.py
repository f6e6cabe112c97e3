"""The notebook widget's lenses, computed when the view first needs them (issue 14).

An analysis costs one forward pass; its lenses cost more (the logit lens projects every layer
onto the vocabulary: several forwards' worth on SmolLM2), so the widget computes none of them
with the analysis. The view asks the kernel with a custom message when a lens panel or the
rollout mode first needs a part, the kernel computes that part of its current analysis once
(:class:`LensParts`, replaced with each new analysis) and answers::

    view -> kernel  {"type": "lens", "id": n, "part": "logit_lens" | "head_scores" | "rollout"
                     | "flow"}
    kernel -> view  {"type": "lens", "id": n, "part": ..., "key": {text, text_b, mask,
                     n_tokens}, "result": ...}   (+ one buffer: the rollout's array frame)

``key`` names the analysis the answer is for (the view ignores answers for an analysis it no
longer shows); ``result`` is the part as in the HTML export's payload
(:mod:`exbert.export.lenses`): ``{"data": ...}`` or ``{"error": message}`` for the logit lens
and the head scores, ``{"layers": [...], "residual": r}`` or ``{"error": message}`` for the
rollout (its float16 array frame ``[layers, T, T]`` in the buffer) and flow (never computed
here: max-flow takes seconds to minutes per layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exbert.analysis.detectors import head_scores_json
from exbert.errors import ExbertError
from exbert.export.lenses import (
    FLOW_LEFT_OUT,
    NO_MODEL,
    PREDICTION_JSON_BYTES,
    SERVE,
    analysis_key,
)
from exbert.view import ALL_LAYERS_BYTES, DEFAULT_LENS_TOP_K, DEFAULT_RESIDUAL

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model

PARTS = ("logit_lens", "head_scores", "rollout", "flow")
"""The parts the view may ask for."""

Part = tuple[dict[str, Any], bytes | None]


def _logit_lens(model: Model | None, analysis: Analysis) -> Part:
    if model is None:
        return {"error": NO_MODEL}, None
    t = len(analysis.tokens)
    estimate = (analysis.n_layers + 1) * t * DEFAULT_LENS_TOP_K * PREDICTION_JSON_BYTES
    if estimate > ALL_LAYERS_BYTES:
        return {"error": f"the logit lens of {t} tokens is too large for the widget (about "
                         f"{estimate / 2**20:.0f} MB); {SERVE}"}, None
    return {"data": model.logit_lens(analysis, top_k=DEFAULT_LENS_TOP_K).to_dict()}, None


def _head_scores(analysis: Analysis) -> Part:
    from exbert.analysis.detectors import head_scores

    return {"data": head_scores_json(head_scores(analysis))}, None


def _rollout(analysis: Analysis) -> Part:
    n_layers, t = analysis.n_layers, len(analysis.tokens)
    size = n_layers * t * t * 2
    if size > ALL_LAYERS_BYTES:
        return {"error": f"the rollout of {t} tokens ({size / 2**20:.0f} MB) is too large for "
                         f"the widget; {SERVE}"}, None
    from exbert.analysis.frame import encode_array
    from exbert.analysis.rollout import rollout

    array = rollout(analysis, residual=DEFAULT_RESIDUAL)
    layers = list(range(n_layers))
    frame = bytes(encode_array(array, {"mode": "rollout", "layers": layers}))
    return {"layers": layers, "residual": DEFAULT_RESIDUAL}, frame


class LensParts:
    """The lens parts of one analysis, each computed the first time it is asked for."""

    def __init__(self, model: Model | None, analysis: Analysis) -> None:
        self.model = model
        self.analysis = analysis
        self._parts: dict[str, Part] = {}

    @property
    def key(self) -> dict[str, Any]:
        """Which analysis these parts are for (as the view's frame header says)."""
        return analysis_key(self.analysis)

    @property
    def computed(self) -> tuple[str, ...]:
        """The parts computed so far, in the order they were asked for."""
        return tuple(self._parts)

    def get(self, part: str) -> Part:
        """``part`` (one of :data:`PARTS`) as ``(result, buffer)``: computed once, then
        remembered. An error of exbert's (a model without an output head, ...) is the
        result's ``error``."""
        if part not in PARTS:
            raise ValueError(f"unknown lens part {part!r}: one of {', '.join(PARTS)}")
        got = self._parts.get(part)
        if got is None:
            try:
                got = self._compute(part)
            except ExbertError as exc:
                got = {"error": exc.message}, None
            self._parts[part] = got
        return got

    def _compute(self, part: str) -> Part:
        if part == "logit_lens":
            return _logit_lens(self.model, self.analysis)
        if part == "head_scores":
            return _head_scores(self.analysis)
        if part == "rollout":
            return _rollout(self.analysis)
        return {"error": FLOW_LEFT_OUT}, None
