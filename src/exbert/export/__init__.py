"""Exports of the attention view: one self-contained interactive HTML file, and SVG/PNG
figures drawn by the browser app's own JavaScript (in headless Chromium).

    exbert.export_html("minilm-l6", "The cat sat.", out="view.html")
    exbert.export_svg("minilm-l6", "The cat sat.", layer=3, heads=[0, 3], out="fig.svg")
    exbert.export_png("smollm2-135m", "The capital of France is", layer=5, scale=3, out="fig.png")

The HTML export carries the lenses (logit lens, head detectors, rollout) of
:func:`exbert.export.lenses.lens_payload`, the same payload the notebook widget sends.

Imports stay light (no torch) until an export runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exbert._lazy import lazy_attributes

if TYPE_CHECKING:
    from exbert.errors import ExportError
    from exbert.export.html import export_html, render_html
    from exbert.export.lenses import LensPayload, lens_payload
    from exbert.export.render import export_png, export_svg, find_chromium, png_size

_LAZY = {
    "ExportError": "exbert.errors",
    "export_html": "exbert.export.html",
    "render_html": "exbert.export.html",
    "LensPayload": "exbert.export.lenses",
    "lens_payload": "exbert.export.lenses",
    "export_png": "exbert.export.render",
    "export_svg": "exbert.export.render",
    "find_chromium": "exbert.export.render",
    "png_size": "exbert.export.render",
}

__all__ = [
    "ExportError",
    "LensPayload",
    "export_html",
    "export_png",
    "export_svg",
    "find_chromium",
    "lens_payload",
    "png_size",
    "render_html",
]


__getattr__ = lazy_attributes(__name__, _LAZY)
