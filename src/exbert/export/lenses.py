"""The lenses of one analysis as data carried with it (issue 14): the HTML export and the notebook
widget show the logit lens, head detectors, rollout and flow with no server, from this payload.

:func:`lens_payload` computes it once (the numbers of :mod:`exbert.analysis`, never re-running
the model except for the logit lens' vocabulary projection):

- ``info`` (JSON): ``key`` (text, text_b, mask, n_tokens: which analysis it belongs to), and one
  entry per lens, each either its data or ``{"error": message}`` (a model without an output
  head, a payload over the bound, ...):

  - ``logit_lens``: ``{"data": LogitLens.to_dict()}`` (the TS ``LogitLensData``);
  - ``head_scores``: ``{"data": {names, layers, heads, scores}}`` (as GET .../head-scores:
    ``scores[name][layer][head]``, NaN -> null);
  - ``rollout``: ``{"layers": [0..L-1], "residual": r}``: the all-heads rollout is in
    ``rollout``;
  - ``flow``: ``{"layers": [...], "residual": r}``: attention flow (all heads) for those
    layers, in ``flow`` (inputs up to :data:`~exbert.view.MAX_FLOW_TOKENS` tokens; only with
    ``flow=True``: max-flow is too slow to compute for every export).

- ``rollout`` / ``flow`` (bytes or None): float16 array frames (``analysis.frame.encode_array``,
  the server's /rollout form) of shape ``[len(layers), T, T]``.

Bounds: each array and the logit lens' JSON stay under :data:`~exbert.view.ALL_LAYERS_BYTES`
(the most a client is sent at once); what would exceed it is left out with a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exbert.analysis.detectors import head_scores_json
from exbert.errors import ExbertError
from exbert.view import ALL_LAYERS_BYTES, DEFAULT_LENS_TOP_K, DEFAULT_RESIDUAL, MAX_FLOW_TOKENS

if TYPE_CHECKING:
    from exbert.analysis import Analysis

__all__ = ["FLOW_LEFT_OUT", "NO_MODEL", "PREDICTION_JSON_BYTES", "SERVE", "LensPayload",
           "analysis_key", "lens_payload"]

PREDICTION_JSON_BYTES = 64
"""About how many bytes one logit-lens prediction takes in JSON (token, prob, id; measured
about 60 on SmolLM2)."""

FLOW_LEFT_OUT = ("attention flow is not carried in this view (max-flow takes seconds to minutes "
                 "per layer): use `exbert serve`, which computes it for the layer on screen")

NO_MODEL = ("the logit lens needs the model: give the model (or its name) and the text rather "
            "than an Analysis")
SERVE = "use `exbert serve` for this input"


@dataclass
class LensPayload:
    """The lenses of one analysis: ``info`` (JSON-ready) and the float16 array frames."""

    info: dict[str, Any]
    rollout: bytes | None = None
    flow: bytes | None = None

    @property
    def arrays(self) -> dict[str, bytes]:
        """The array frames carried (``rollout``, ``flow``), by name."""
        return {k: v for k, v in (("rollout", self.rollout), ("flow", self.flow)) if v}

    @property
    def nbytes(self) -> int:
        """The arrays' bytes (the JSON aside)."""
        return sum(len(v) for v in self.arrays.values())


def analysis_key(analysis: Analysis) -> dict[str, Any]:
    """What ties a payload to its analysis (the frame header's fields)."""
    return {"text": analysis.text, "text_b": analysis.text_b, "mask": list(analysis.mask),
            "n_tokens": len(analysis.tokens)}


def _error(exc: ExbertError) -> dict[str, Any]:
    return {"error": exc.message}


def _short(x: float) -> float:
    return float(f"{x:.4g}")


def _logit_lens(model: Any, analysis: Analysis, top_k: int) -> dict[str, Any]:
    if model is None:
        return {"error": NO_MODEL}
    estimate = (analysis.n_layers + 1) * len(analysis.tokens) * top_k * PREDICTION_JSON_BYTES
    if estimate > ALL_LAYERS_BYTES:
        return {"error": f"the logit lens of {len(analysis.tokens)} tokens is left out "
                         f"(about {estimate / 2**20:.0f} MB); {SERVE}"}
    from exbert.analysis.lens import logit_lens

    try:
        data = logit_lens(model, analysis, top_k).to_dict()
    except ExbertError as exc:  # NoOutputHead: encoders without a prediction head
        return _error(exc)
    # 4 significant digits: what the view shows, and a smaller file
    for row in data["top"]:
        for cell in row:
            for p in cell:
                p["prob"] = _short(p["prob"])
    data["target_prob"] = [[_short(v) for v in row] for row in data["target_prob"]]
    return {"data": data}


def _head_scores(analysis: Analysis) -> dict[str, Any]:
    from exbert.analysis.detectors import head_scores

    try:
        return {"data": head_scores_json(head_scores(analysis))}
    except ExbertError as exc:
        return _error(exc)


def _rollout(analysis: Analysis, residual: float) -> tuple[dict[str, Any], bytes | None]:
    n_layers, t = analysis.n_layers, len(analysis.tokens)
    size = n_layers * t * t * 2
    if size > ALL_LAYERS_BYTES:
        return {"error": f"the rollout of {t} tokens ({size / 2**20:.0f} MB) is left out; "
                         f"{SERVE}"}, None
    from exbert.analysis.frame import encode_array
    from exbert.analysis.rollout import rollout

    try:
        array = rollout(analysis, residual=residual)
    except ExbertError as exc:
        return _error(exc), None
    layers = list(range(n_layers))
    frame = bytes(encode_array(array, {"mode": "rollout", "layers": layers}))
    return {"layers": layers, "residual": residual}, frame


def _flow(analysis: Analysis, residual: float) -> tuple[dict[str, Any], bytes | None]:
    t = len(analysis.tokens)
    if t > MAX_FLOW_TOKENS:
        return {"error": f"attention flow is computed for inputs up to {MAX_FLOW_TOKENS} "
                         f"tokens; this one has {t}"}, None
    import numpy as np

    from exbert.analysis.frame import encode_array
    from exbert.analysis.rollout import attention_flow

    layers = list(range(analysis.n_layers))
    try:
        array = np.stack([attention_flow(analysis, layer=x, residual=residual) for x in layers])
    except ExbertError as exc:
        return _error(exc), None
    frame = bytes(encode_array(array, {"mode": "flow", "layers": layers}))
    return {"layers": layers, "residual": residual}, frame


def lens_payload(
    model: Any,
    analysis: Analysis,
    *,
    top_k: int = DEFAULT_LENS_TOP_K,
    residual: float = DEFAULT_RESIDUAL,
    flow: bool = False,
) -> LensPayload:
    """The lenses of ``analysis`` (see the module docstring). ``model``: the model
    that made it (None: the logit lens is left out with a message). ``flow=True`` adds
    attention flow for every layer: opt-in, as max-flow is slow (measured on SmolLM2 on a busy
    2-core machine: 25 s for the last layer of 16 tokens, minutes for 60 tokens; the exports and
    the widget leave it out and say so)."""
    info: dict[str, Any] = {"key": analysis_key(analysis)}
    info["logit_lens"] = _logit_lens(model, analysis, top_k)
    info["head_scores"] = _head_scores(analysis)
    info["rollout"], rollout_frame = _rollout(analysis, residual)
    if flow:
        info["flow"], flow_frame = _flow(analysis, residual)
    else:
        info["flow"], flow_frame = {"error": FLOW_LEFT_OUT}, None
    return LensPayload(info, rollout_frame, flow_frame)
