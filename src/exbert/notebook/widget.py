"""The anywidget widget behind :func:`exbert.show`.

Python holds the model and the analysis; the browser holds the view. Synced traits:

- ``frame`` (bytes): the EXB1 frame of the analysis (docs/API.md), all layers, or only the
  shown layer when all would exceed ``ALL_LAYERS_BYTES`` (the frame then follows ``layer``).
- view state: ``layer`` (0-based), ``heads`` (sorted list, ``None`` = all), ``weights``
  (one per selected head, ``None`` = equal), ``hide_special``, ``threshold``.
- inputs: ``text``, ``text_b``, ``mask`` (token positions; bidirectional models). Changing
  one of them, from Python or from the view (double-click on a token masks it), re-runs the
  model and sends the new frame; a change that cannot be analysed is refused (``TraitError``
  in Python; in the view the ``error`` trait is shown and the state is restored).
- read-only facts: ``model_name``, ``kind``, ``n_layers``, ``n_heads``, ``mask_token``,
  ``busy``, ``error``.
- lenses (``lenses``: True unless ``lenses=False``): the view's model view, logit lens, head
  detectors and attention-mode switch. Nothing is computed with the analysis: the view asks
  for a part (logit lens, head scores, rollout) when a panel or the rollout mode first needs
  it, and the kernel computes it once per analysis (:meth:`lens_part`, :mod:`.lenses`). The
  view's "Run induction probe" shows ``model.induction_probe()`` (:meth:`run_induction_probe`).
- corpus search (``corpus=`` a folder built by ``exbert corpus build`` or an opened
  ``exbert.search.Corpus``): ``corpus_name``, and ``search_result`` (the last search, as
  ``SearchResult.to_dict()``), filled by :meth:`ExbertWidget.search` or by the view's search
  buttons (pin a token, then search by embedding or by context).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anywidget
import traitlets

from exbert.errors import ExbertError
from exbert.export._common import STATIC, frame_bytes, get_analysis, get_model, is_analysis
from exbert.notebook.actions import ViewActions
from exbert.notebook.lenses import LensParts
from exbert.view import (
    ALL_LAYERS_BYTES,
    DEFAULT_THRESHOLD,
    DEFAULT_TOP_K,
    check_heads,
    check_layer,
    check_threshold,
    check_weights,
    view_spec,
)

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model

T = TypeVar("T")

WIDGET_JS = STATIC / "widget" / "widget.js"

_NOT_BUILT = """
export default { render({ el }) {
  el.textContent = "exbert: the widget's JavaScript is not built (static/widget/widget.js is "
    + "missing): run `make install`, or `cd frontend && npm ci && npm run build`.";
} };
"""


def _esm() -> Path | str:
    return WIDGET_JS if WIDGET_JS.is_file() else _NOT_BUILT


def _checked(check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check(*args, **kwargs)``, its ExbertError as the TraitError that traitlets reports."""
    try:
        return check(*args, **kwargs)
    except ExbertError as exc:
        raise traitlets.TraitError(exc.message) from exc


class ExbertWidget(ViewActions, anywidget.AnyWidget):  # type: ignore[misc]
    """The browser app's attention view in a notebook (see the module docstring)."""

    _esm = _esm()

    frame = traitlets.Bytes(b"").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    heads = traitlets.List(traitlets.Int(), default_value=None, allow_none=True).tag(sync=True)
    weights = traitlets.List(traitlets.Float(), default_value=None, allow_none=True).tag(
        sync=True
    )
    hide_special = traitlets.Bool(True).tag(sync=True)
    threshold = traitlets.Float(DEFAULT_THRESHOLD).tag(sync=True)
    color_by_head = traitlets.Bool(False).tag(sync=True)
    hide_first = traitlets.Bool(False).tag(sync=True)
    mask = traitlets.List(traitlets.Int()).tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    text_b = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    model_name = traitlets.Unicode("").tag(sync=True)
    kind = traitlets.Unicode("").tag(sync=True)
    n_layers = traitlets.Int(0).tag(sync=True)
    n_heads = traitlets.Int(0).tag(sync=True)
    mask_token = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    corpus_name = traitlets.Unicode("").tag(sync=True)
    search_result = traitlets.Dict(default_value=None, allow_none=True).tag(sync=True)
    lenses = traitlets.Bool(True).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self.model: Model | None = None
        self.analysis: Analysis | None = None
        self.corpus: Any = None
        self.top_k = DEFAULT_TOP_K
        #: The lens parts of the current analysis computed so far (None with lenses=False).
        self.lens_parts: LensParts | None = None
        self._probe_seed = 0
        #: The last files saved with the view's SVG/PNG buttons: {"svg": bytes, "png": bytes}.
        self.exports: dict[str, bytes] = {}
        self.export_name = ""
        self._applying = False
        self._pending: Analysis | None = None
        super().__init__(**kwargs)
        self.on_msg(self._on_custom)

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        model_or_name: Any,
        text: str | None = None,
        *,
        text_b: str | None = None,
        mask: Sequence[int] = (),
        layer: int | None = None,
        heads: Any = None,
        weights: Sequence[float] | None = None,
        hide_special: bool = True,
        threshold: float = DEFAULT_THRESHOLD,
        top_k: int = DEFAULT_TOP_K,
        corpus: Any = None,
        color_by_head: bool = False,
        hide_first: bool = False,
        lenses: bool = True,
    ) -> ExbertWidget:
        """Analyse ``text`` with the model (or take the given Analysis) and build the widget;
        ``lenses=False``: no lenses (faster for long inputs)."""
        model = None if is_analysis(model_or_name) else get_model(model_or_name)
        analysis = get_analysis(
            model if model is not None else model_or_name, text, text_b=text_b, mask=mask,
            top_k=top_k,
        )
        from exbert.notebook.corpus import corpus_name, open_corpus

        opened = open_corpus(corpus, model)
        w = cls()
        w.model = model
        w.top_k = top_k
        w.lenses = bool(lenses)
        w.corpus = opened
        w.corpus_name = corpus_name(opened)
        info = model.info if model is not None else None
        n_layers, n_heads = analysis.full_attentions("the widget").shape[:2]
        with w.hold_sync():
            w._apply(analysis)
            w.model_name = analysis.model
            w.kind = analysis.kind
            w.n_layers = n_layers
            w.n_heads = n_heads
            w.mask_token = info.mask_token if info is not None else None
            spec = view_spec(n_layers, n_heads, layer=layer, heads=heads, weights=weights,
                             hide_special=hide_special, threshold=threshold)
            w.layer = spec.layer
            w.heads = spec.heads  # type: ignore[assignment]
            w.weights = spec.weights  # type: ignore[assignment]
            w.hide_special = spec.hide_special
            w.threshold = spec.threshold
            w.color_by_head = bool(color_by_head)
            w.hide_first = bool(hide_first)
        return w

    # --- analysis ----------------------------------------------------------------------------

    def _run(self, text: str, text_b: str | None, mask: Sequence[int]) -> Analysis:
        if self.model is None:
            raise traitlets.TraitError(
                "this widget shows a fixed Analysis: create it from a model to change the text "
                "or the mask"
            )
        self.busy = True
        try:
            return _checked(self.model.analyze, text, text_b=text_b, mask=tuple(mask),
                            top_k=self.top_k, attention="full")
        finally:
            self.busy = False

    def _frame_layers(self, analysis: Analysis) -> list[int] | None:
        n_layers, n_heads, t = analysis.full_attentions("the widget").shape[:3]
        if n_layers * n_heads * t * t * 2 <= ALL_LAYERS_BYTES:
            return None
        return [min(self.layer, n_layers - 1)]

    def _apply(self, analysis: Analysis) -> None:
        """Show ``analysis``: set the inputs to its own and send its frame."""
        self._applying = True
        try:
            # the lenses of the previous analysis go; this one's are computed when asked for
            self.lens_parts = LensParts(self.model, analysis) if self.lenses else None
            with self.hold_sync():
                self.analysis = analysis
                self.text = analysis.text
                self.text_b = analysis.text_b
                self.mask = list(analysis.mask)
                self.frame = frame_bytes(analysis, self._frame_layers(analysis))
                self.error = ""
        finally:
            self._applying = False

    @traitlets.observe("lenses")
    def _lenses_changed(self, change: Any) -> None:
        a = self.analysis
        self.lens_parts = LensParts(self.model, a) if change["new"] and a is not None else None

    @traitlets.validate("mask")
    def _valid_mask(self, proposal: Any) -> list[int]:
        value = sorted({int(i) for i in proposal["value"]})
        if self._applying or self.analysis is None:
            return value
        if value and (self.kind != "bidirectional" or not self.mask_token):
            raise traitlets.TraitError(
                f"{self.model_name} cannot mask: masking needs a bidirectional model with a "
                "mask token"
            )
        self._pending = self._run(self.text, self.text_b, value)
        return value

    @traitlets.validate("text", "text_b")
    def _valid_text(self, proposal: Any) -> str | None:
        value: str | None = proposal["value"]
        if self._applying or self.analysis is None:
            return value
        name = proposal["trait"].name
        text = value if name == "text" else self.text
        text_b = value if name == "text_b" else self.text_b
        if text_b == "":
            text_b = None
        self._pending = self._run(text or "", text_b, ())
        return value

    @traitlets.observe("mask", "text", "text_b")
    def _inputs_changed(self, change: Any) -> None:
        if self._applying or self._pending is None:
            return
        pending, self._pending = self._pending, None
        self._apply(pending)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        if not self.n_layers:
            return int(proposal["value"])
        return _checked(check_layer, proposal["value"], self.n_layers)

    @traitlets.validate("heads")
    def _valid_heads(self, proposal: Any) -> list[int] | None:
        value = proposal["value"]
        if value is None or not self.n_heads:
            return value if value is None else sorted(set(value))
        return _checked(check_heads, value, self.n_heads)

    @traitlets.observe("heads")
    def _heads_changed(self, change: Any) -> None:
        w = self.weights
        n = len(change["new"]) if change["new"] is not None else self.n_heads
        if w is not None and len(w) != n:
            self.weights = None  # type: ignore[assignment]

    @traitlets.validate("weights")
    def _valid_weights(self, proposal: Any) -> list[float] | None:
        value: list[float] | None = proposal["value"]
        if value is None or not self.n_heads:
            return value
        return _checked(check_weights, value, self.heads, self.n_heads)

    @traitlets.observe("weights")
    def _weights_changed(self, change: Any) -> None:
        if change["new"] is not None and self.heads is None:
            self.heads = list(range(self.n_heads))

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal: Any) -> float:
        return _checked(check_threshold, proposal["value"])

    @traitlets.observe("layer")
    def _layer_changed(self, change: Any) -> None:
        # one layer at a time (large analyses): the frame follows the layer
        a = self.analysis
        if a is not None and self._frame_layers(a) is not None and not self._applying:
            self.frame = frame_bytes(a, [self.layer])

    # --- messages from the view --------------------------------------------------------------

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """A change from the view. One that cannot be applied (e.g. a mask the model refuses)
        is rolled back, shown as ``error``, and the view gets the kernel's state again."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as exc:
            self.busy = False
            self.error = str(exc)
            self.send_state(list(sync_data))

    def _on_custom(self, _: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "export" and buffers and content.get("kind") in ("svg", "png"):
            self.exports[str(content["kind"])] = bytes(buffers[0])
            self.export_name = str(content.get("filename", ""))
        elif kind == "lens":
            self._answer_lens(content)
        elif kind == "induction_probe":
            self.run_induction_probe()
        elif kind == "search":
            by = "context" if content.get("by") == "context" else "embedding"
            try:
                self.search(int(content.get("token", -1)), by=by, heads=self.heads)
            except (ExbertError, ValueError, TypeError) as exc:
                self.error = getattr(exc, "message", None) or str(exc)
                self.search_result = None  # type: ignore[assignment]

    def lens_part(self, part: str) -> tuple[dict[str, Any], bytes | None]:
        """``part`` ("logit_lens", "head_scores", "rollout", "flow") of the current analysis's
        lenses as the view gets it, ``(result, buffer)`` (see :mod:`exbert.notebook.lenses`):
        computed the first time it is asked for, then remembered until the analysis changes."""
        if self.lens_parts is None:
            raise ExbertError("the widget has no analysis yet" if self.lenses
                              else "this widget shows no lenses (lenses=False)")
        return self.lens_parts.get(part)

    def _answer_lens(self, content: dict[str, Any]) -> None:
        """The view asks for a lens part: answer with it and the analysis it is for."""
        part = str(content.get("part", ""))
        parts = self.lens_parts
        answer: dict[str, Any] = {"type": "lens", "id": content.get("id"), "part": part}
        buffers: list[bytes] = []
        try:
            result, buffer = self.lens_part(part)
        except ExbertError as exc:
            result, buffer = {"error": exc.message}, None
        except ValueError as exc:
            result, buffer = {"error": str(exc)}, None
        answer["key"] = parts.key if parts is not None else None
        answer["result"] = result
        if buffer:
            buffers.append(buffer)
        self.send(answer, buffers or None)

    def run_induction_probe(self) -> None:
        """Show ``model.induction_probe()`` (random tokens repeated twice: induction heads light
        up on the second copy); the view's "Run induction probe" button. Errors go to
        ``error``."""
        if self.model is None:
            self.error = "the induction probe needs the model: create the widget from a model"
            return
        self.busy = True
        try:
            probe = self.model.induction_probe(seed=self._probe_seed)
            self._probe_seed += 1
        except ExbertError as exc:
            self.error = exc.message
            return
        finally:
            self.busy = False
        self._apply(probe)

    def __repr__(self) -> str:
        heads = "all" if self.heads is None else ",".join(map(str, self.heads))
        return (
            f"<ExbertWidget {self.model_name} {self.kind} layer={self.layer} heads={heads} "
            f"mask={self.mask} text={self.text[:40]!r}>"
        )
