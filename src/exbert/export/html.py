"""One self-contained HTML file per analysis: the viewer's JavaScript and CSS (one IIFE bundle,
``static/standalone/exbert-standalone.js``) and the EXB1 frame (base64) inlined. It opens from
disk (``file://``) with no server and no network, and is interactive: layers, heads, weights,
threshold, special tokens, hover/pin with predictions, SVG/PNG download; and, unless
``lenses=False``, the lenses of :mod:`exbert.export.lenses` (model view, logit lens, head
detectors, rollout; flow is left out, with a message: too slow to compute for each file),
carried as ``exbert-lenses`` (JSON) and ``exbert-lens-rollout`` (a base64 float16 array frame;
``exbert-lens-flow`` too when a payload carries flow)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exbert.export._common import Request, frame_bytes, get_model, is_analysis, prepare, static_file
from exbert.export.lenses import LensPayload, lens_payload
from exbert.view import DEFAULT_THRESHOLD, DEFAULT_TOP_K, ViewSpec, check_layer

BUNDLE = ("standalone", "exbert-standalone.js")


def standalone_bundle() -> str:
    """The standalone viewer bundle, made safe to inline in a ``<script>`` element."""
    js = static_file(*BUNDLE, what="the standalone viewer bundle").read_text("utf-8")
    return inline_script(js)


def inline_script(js: str) -> str:
    """Escape what would end or confuse an HTML ``<script>`` element: ``</script`` and
    ``<!--`` (both valid JavaScript after the escape: in strings, templates and regexes
    ``<\\/`` is ``</`` and ``\\x3C`` is ``<``)."""
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    return js.replace("<!--", "\\x3C!--")


def json_for_script(data: Any) -> str:
    """JSON inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _base64_lines(data: bytes) -> str:
    """Base64 wrapped so that editors and diff tools cope with the file."""
    b64 = base64.b64encode(data).decode("ascii")
    return "\n".join(b64[i : i + 120] for i in range(0, len(b64), 120))


def _lens_scripts(lenses: LensPayload | None) -> str:
    if lenses is None:
        return ""
    info = json_for_script(lenses.info)
    out = f'<script type="application/json" id="exbert-lenses">{info}</script>\n'
    for name, data in lenses.arrays.items():
        out += (f'<script type="application/octet-stream" id="exbert-lens-{name}">\n'
                f"{_base64_lines(data)}\n</script>\n")
    return out


def render_html(
    frame: bytes,
    spec: ViewSpec,
    *,
    lenses: LensPayload | None = None,
    title: str | None = None,
    page_title: str | None = None,
    background: str = "white",
    legend: bool = True,
    png_scale: float = 2,
) -> str:
    """The HTML document for ``frame`` (EXB1 bytes) shown with the view ``spec``. ``title``
    replaces the model line of the page header; ``page_title`` is the window title; ``lenses``
    the lens panels' data (none: the page offers no lenses)."""
    options: dict[str, Any] = {
        "state": spec.to_state(),
        "export": {"background": background, "legend": legend, "pngScale": png_scale},
    }
    if title:
        options["title"] = title
    b64 = _base64_lines(frame)
    head_title = html.escape(page_title or title or "exbert")
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<meta name=\"generator\" content=\"exbert\">\n"
        # Nothing may be loaded from anywhere: the page is data and inline code only.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:\">\n"
        f"<title>{head_title}</title>\n"
        f'<script type="application/json" id="exbert-options">{json_for_script(options)}</script>\n'
        f'<script type="application/octet-stream" id="exbert-frame">\n{b64}\n</script>\n'
        f"{_lens_scripts(lenses)}"
        "</head>\n<body>\n"
        '<div id="app"></div>\n'
        "<noscript>This exbert view needs JavaScript.</noscript>\n"
        f"<script>\n{standalone_bundle()}\n</script>\n"
        "</body>\n</html>\n"
    )


def export_html(
    model_or_name: Any,
    text: str | None = None,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    layer: int | None = None,
    heads: Sequence[int] | str | None = None,
    weights: Sequence[float] | str | None = None,
    hide_special: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    color_by_head: bool = False,
    hide_first: bool = False,
    layers: Sequence[int] | None = None,
    top_k: int = DEFAULT_TOP_K,
    title: str | None = None,
    background: str = "white",
    lenses: bool = True,
    out: str | os.PathLike[str] | None = None,
) -> str:
    """A self-contained interactive HTML view of one analysis; returns the HTML and writes it
    to ``out`` when given.

    ``model_or_name``: an ``exbert.Model``, a name/path for ``exbert.load`` or an
    ``exbert.Analysis``. ``layer`` (transformer layer, 0-based, negative from the end), ``heads``
    (list or ``"0,3"``; ``None`` = all) and ``weights`` set the initial view. ``layers`` limits
    the layers stored in the file (default all: the file grows as layers x heads x T^2 x 2
    bytes). ``lenses``: carry the lenses (logit lens, head detectors, rollout; see
    :mod:`exbert.export.lenses`; the logit lens needs the model, not only an Analysis);
    ``False`` leaves them out.
    """
    request = Request(text_b=text_b, mask=mask, top_k=top_k, layer=layer, heads=heads,
                      weights=weights, hide_special=hide_special, threshold=threshold,
                      color_by_head=color_by_head, hide_first=hide_first)
    analysis, spec = prepare(model_or_name, text, request)
    stored = None
    if layers is not None:
        n_layers = analysis.n_layers
        stored = sorted({check_layer(x, n_layers) for x in layers} | {spec.layer})
    payload = None
    if lenses:
        model = None if is_analysis(model_or_name) else get_model(model_or_name)
        payload = lens_payload(model, analysis)
    doc = render_html(
        frame_bytes(analysis, stored), spec, lenses=payload, title=title,
        page_title=f"exbert · {analysis.model} · {analysis.text[:60]}", background=background,
    )
    if out is not None:
        Path(out).write_text(doc, encoding="utf-8")
    return doc
