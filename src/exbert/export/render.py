"""SVG and PNG figures from Python, drawn by the same JavaScript as the browser app: the
self-contained HTML page (:mod:`exbert.export.html`) is opened in headless Chromium through
Playwright, from a temporary file with every network request refused, and its exporter
(``window.exbert.exportSvg`` / ``exportPng``) returns the SVG text or the PNG bytes.

Chromium: ``$EXBERT_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on
the PATH, else Playwright's own download when there is one.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from exbert.errors import ExportError, InvalidRequest
from exbert.export._common import Request, frame_bytes, prepare
from exbert.export.html import render_html
from exbert.view import DEFAULT_THRESHOLD, DEFAULT_TOP_K

T = TypeVar("T")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


def find_chromium() -> str | None:
    """A Chromium/Chrome executable: ``$EXBERT_CHROMIUM`` or the first on the PATH."""
    env = os.environ.get("EXBERT_CHROMIUM")
    if env:
        if not Path(env).is_file():
            raise ExportError(f"EXBERT_CHROMIUM={env!r} is not a file")
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


_MISSING = (
    "exporting SVG/PNG needs a Chromium browser, and none was found: install one (Debian: "
    "`apt-get install chromium`, or `make browser`) or set EXBERT_CHROMIUM to a Chrome/Chromium "
    "executable. The HTML export (`export_html`, `exbert export --out view.html`) needs no browser."
)


def _launch(p: Any) -> Any:
    path = find_chromium()
    try:
        if path is not None:
            return p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        return p.chromium.launch(headless=True, args=CHROMIUM_ARGS)  # Playwright's own, if any
    except Exception as exc:
        if path is None:
            raise ExportError(_MISSING) from exc
        raise ExportError(f"Chromium ({path}) did not start: {exc}") from exc


def _in_thread(fn: Callable[[], T]) -> T:
    """Playwright's sync API refuses to run where an asyncio loop runs (a Jupyter kernel):
    then do the work in a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="exbert-export") as pool:
        return pool.submit(fn).result()


_lock = threading.Lock()


def run_in_page(document: str, script: str, arg: Any = None) -> Any:
    """Open ``document`` (HTML text) from a temporary file in headless Chromium with the
    network refused, wait for the view, and return ``script`` evaluated with ``arg``."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ExportError(
            "exporting SVG/PNG needs the `playwright` Python package (pip install "
            "'playwright==1.65.2'; its browser download is not needed when Chromium is "
            "installed)"
        ) from exc

    def work() -> Any:
        with tempfile.TemporaryDirectory(prefix="exbert-export-") as tmp:
            page_file = Path(tmp) / "view.html"
            page_file.write_text(document, encoding="utf-8")
            with sync_playwright() as p:
                browser = _launch(p)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    errors: list[str] = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.route(
                        "**/*",
                        lambda route: route.continue_()
                        if route.request.url.startswith("file:")
                        else route.abort(),
                    )
                    page.goto(page_file.as_uri())
                    try:
                        page.wait_for_function(
                            "() => window.exbert && document.body.dataset.ready === 'true'",
                            timeout=TIMEOUT_MS,
                        )
                        return page.evaluate(script, arg)
                    except PlaywrightError as exc:
                        detail = f" (page errors: {'; '.join(errors)})" if errors else ""
                        raise ExportError(f"the export page failed: {exc}{detail}") from exc
                finally:
                    browser.close()

    with _lock:
        return _in_thread(work)


def _figure_page(model_or_name: Any, text: str | None, request: Request, *, background: str,
                 legend: bool) -> str:
    """The HTML page that draws one figure: only the shown layer is stored."""
    analysis, spec = prepare(model_or_name, text, request)
    return render_html(
        frame_bytes(analysis, [spec.layer]), spec, background=background, legend=legend
    )


def export_svg(
    model_or_name: Any,
    text: str | None = None,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    layer: int = 0,
    heads: Sequence[int] | str | None = None,
    weights: Sequence[float] | str | None = None,
    hide_special: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    color_by_head: bool = False,
    hide_first: bool = False,
    top_k: int = DEFAULT_TOP_K,
    background: str = "white",
    legend: bool = True,
    out: str | os.PathLike[str] | None = None,
) -> str:
    """The attention view of ``text`` at ``layer`` (heads, weights, threshold as in the app)
    as an SVG document: one ``<path>`` per drawn edge, tokens as ``<text>``, a title with the
    model, layer and heads, and a legend. ``background``: ``"white"``, ``"transparent"`` or a
    CSS colour. Written to ``out`` when given. Needs Chromium (see :func:`find_chromium`)."""
    request = Request(text_b=text_b, mask=mask, top_k=top_k, layer=layer, heads=heads,
                      weights=weights, hide_special=hide_special, threshold=threshold,
                      color_by_head=color_by_head, hide_first=hide_first)
    doc = _figure_page(model_or_name, text, request, background=background, legend=legend)
    svg = str(run_in_page(doc, "o => window.exbert.exportSvg(o)", {}))
    if out is not None:
        Path(out).write_text(svg, encoding="utf-8")
    return svg


def export_png(
    model_or_name: Any,
    text: str | None = None,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    layer: int = 0,
    heads: Sequence[int] | str | None = None,
    weights: Sequence[float] | str | None = None,
    hide_special: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    color_by_head: bool = False,
    hide_first: bool = False,
    top_k: int = DEFAULT_TOP_K,
    background: str = "white",
    legend: bool = True,
    scale: float = 2,
    out: str | os.PathLike[str] | None = None,
) -> bytes:
    """The same figure as :func:`export_svg`, drawn from the SVG onto a canvas at ``scale`` x
    its size (2 = twice the pixels in each direction) and encoded as PNG."""
    if not (0 < scale <= 8):
        raise InvalidRequest(f"scale must be in (0, 8], not {scale!r}")
    request = Request(text_b=text_b, mask=mask, top_k=top_k, layer=layer, heads=heads,
                      weights=weights, hide_special=hide_special, threshold=threshold,
                      color_by_head=color_by_head, hide_first=hide_first)
    doc = _figure_page(model_or_name, text, request, background=background, legend=legend)
    url = str(run_in_page(doc, "o => window.exbert.exportPng(o)", {"scale": scale}))
    prefix = "data:image/png;base64,"
    if not url.startswith(prefix):
        raise ExportError("the page did not return a PNG")
    png = base64.b64decode(url[len(prefix) :])
    if out is not None:
        Path(out).write_bytes(png)
    return png


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)
