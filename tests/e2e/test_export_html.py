"""The exports in Chromium: the self-contained HTML file opened from disk with the network
blocked, its SVG/PNG exports, exbert.export_svg/export_png from Python, and the SVG/PNG
buttons of the served app."""

from __future__ import annotations

import base64
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from serverproc import SCREENSHOTS

import exbert
from exbert.export import png_size

pytestmark = pytest.mark.e2e

SVG = "{http://www.w3.org/2000/svg}"
TEXT = "The cat sat on the mat because it was tired."
TEXT_B = "It purred."
VIEW = '[data-testid="attention-view"]'


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def html_file(tmp_path_factory, minilm_model) -> Path:
    out = tmp_path_factory.mktemp("export") / "view.html"
    exbert.export_html(minilm_model, TEXT, text_b=TEXT_B, layer=1, out=out)
    return out


@pytest.fixture
def offline_page(browser, request):
    """A page whose every non-file request is recorded and refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    attempted: list[str] = []
    requested: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    context.on("request", lambda req: requested.append(req.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.attempted = attempted  # type: ignore[attr-defined]
    page.requested = requested  # type: ignore[attr-defined]
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert attempted == [], f"the page tried the network: {attempted}"
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requested), requested


def edges(page) -> list[tuple[str, str, str]]:
    return page.eval_on_selector_all(
        f"{VIEW} path.edge", "els => els.map(e => [e.dataset.from, e.dataset.to, e.dataset.weight])"
    )


def wait_changed(page, before) -> None:
    page.wait_for_function(
        """([sel, before]) => [...document.querySelectorAll(sel)]
              .map(e => [e.dataset.from, e.dataset.to, e.dataset.weight].join()).join('|') !== before""",
        arg=[f"{VIEW} path.edge", "|".join(",".join(e) for e in before)],
        timeout=10_000,
    )


def open_view(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector(f'{VIEW}[data-ready="true"]', timeout=30_000)
    page.wait_for_selector(f"{VIEW} path.edge", timeout=30_000)


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return root


def svg_edges(root: ET.Element) -> list[ET.Element]:
    return [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]


def svg_token_texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")
            if (t.get("class") or "").startswith("token")]


def live_token_texts(page) -> list[str]:
    return page.eval_on_selector_all(
        f"{VIEW} div.token:not([hidden]) .txt",
        # as shown: a word piece's continuation mark ("##") and its text
        "els => els.map(e => (e.parentElement.querySelector('.cont')?.textContent ?? '') + e.textContent)",
    )


def first_pixel(png: bytes) -> tuple[int, ...]:
    """RGBA of the top-left pixel (any PNG filter leaves the first pixel of row 0 as is)."""
    pos, idat = 8, b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    assert png[25] == 6, "expected RGBA"
    raw = zlib.decompress(idat)
    return tuple(raw[1:5])


def test_static_html_works_from_disk_offline(offline_page, html_file):
    page = offline_page
    open_view(page, html_file)
    first = edges(page)
    assert len(first) > 0
    assert page.input_value(tid("layer-select")) == "1"
    # layers
    page.select_option(tid("layer-select"), "4")
    wait_changed(page, first)
    assert page.get_attribute(VIEW, "data-layer") == "4"
    # heads
    before = edges(page)
    page.click(tid("head-3"))
    wait_changed(page, before)
    assert "selected" in (page.get_attribute(tid("head-3"), "class") or "")
    # keyboard
    before = edges(page)
    page.keyboard.press("ArrowLeft")
    wait_changed(page, before)
    assert page.input_value(tid("layer-select")) == "3"
    # hover: attention highlight and the tooltip (no LM head: it says so)
    page.hover(tid("token-left-3"))
    page.wait_for_selector(f"{tid('prediction-tooltip')}:not([hidden])")
    assert page.eval_on_selector_all(f"{VIEW} path.edge.hover", "els => els.length") > 0
    assert "no language-model head" in page.inner_text(tid("prediction-tooltip"))
    # the sentence is on the page
    assert TEXT in page.inner_text(tid("static-text"))


def test_svg_and_png_buttons_of_the_static_page(offline_page, html_file):
    page = offline_page
    open_view(page, html_file)
    page.click(tid("head-0"))
    page.click(tid("head-5"), modifiers=["Shift"])
    page.wait_for_function("document.querySelectorAll('.head-box.selected').length === 2")
    live = edges(page)
    with page.expect_download() as dl:
        page.click(tid("export-svg-button"))
    download = dl.value
    assert download.suggested_filename == "exbert-minilm-l6-layer1.svg"
    text = Path(download.path()).read_text("utf-8")
    root = parse_svg(text)
    paths = svg_edges(root)
    assert len(paths) == len(live) > 0
    assert sorted((p.get("data-from"), p.get("data-to"), p.get("data-weight")) for p in paths) == \
        sorted(tuple(e) for e in live)
    assert sorted(svg_token_texts(root)) == sorted(live_token_texts(page))
    all_text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "minilm-l6" in all_text and "layer 1" in all_text and "heads 0, 5" in all_text
    assert "attention weight" in all_text  # the legend
    assert root.find(f"{SVG}foreignObject") is None
    width, height = float(root.get("width")), float(root.get("height"))

    with page.expect_download() as dl:
        page.click(tid("export-png-button"))
    png = Path(dl.value.path()).read_bytes()
    assert dl.value.suggested_filename.endswith(".png")
    assert png_size(png) == (round(width * 2), round(height * 2))
    assert first_pixel(png) == (255, 255, 255, 255)  # white background


def test_python_export_svg_matches_the_live_view(offline_page, minilm_model, tmp_path):
    page = offline_page
    view = tmp_path / "view.html"
    exbert.export_html(minilm_model, TEXT, text_b=TEXT_B, layer=3, heads=[0, 3], out=view)
    open_view(page, view)
    live = edges(page)
    tokens = live_token_texts(page)

    svg = exbert.export_svg(minilm_model, TEXT, text_b=TEXT_B, layer=3, heads=[0, 3],
                            out=tmp_path / "fig.svg")
    assert (tmp_path / "fig.svg").read_text("utf-8") == svg
    root = parse_svg(svg)
    assert len(svg_edges(root)) == len(live) > 0
    assert sorted(svg_token_texts(root)) == sorted(tokens)
    assert root.get("data-edges") == str(len(live))
    assert "It" in svg_token_texts(root)  # the pair's second sentence

    png = exbert.export_png(minilm_model, TEXT, text_b=TEXT_B, layer=3, heads=[0, 3], scale=3,
                            background="transparent", out=tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes() == png
    assert png_size(png) == (round(float(root.get("width")) * 3),
                             round(float(root.get("height")) * 3))
    assert first_pixel(png)[3] == 0  # transparent
    clear = parse_svg(exbert.export_svg(minilm_model, TEXT, layer=3, background="transparent",
                                        legend=False))
    assert not [r for r in clear.iter(f"{SVG}rect") if r.get("class") == "background"]
    assert not [g for g in clear.iter(f"{SVG}g") if g.get("class") == "legend"]


def test_python_export_of_a_causal_model(smollm2_model, tmp_path):
    svg = exbert.export_svg(smollm2_model, "The capital of France is", layer=-1, heads="0,4")
    root = parse_svg(svg)
    texts = svg_token_texts(root)
    assert texts.count("capital") == 2 and texts.count("France") == 2  # both columns
    assert "layer 29" in svg and "heads 0, 4" in svg
    # causal: nothing attends to a later token
    assert all(int(p.get("data-to")) <= int(p.get("data-from")) for p in svg_edges(root))
    png = exbert.export_png(smollm2_model, "The capital of France is", layer=-1)
    assert png_size(png) == (2 * int(float(root.get("width"))), 2 * int(float(root.get("height"))))
    (tmp_path / "fig.png").write_bytes(png)


def test_app_export_buttons(page, server):
    page.goto(server + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='smollm2-135m']", state="attached")
    page.select_option(tid("model-select"), "smollm2-135m")
    page.fill(tid("sentence-input"), "The capital of France is")
    page.click(tid("analyze-button"))
    page.wait_for_selector(f'{VIEW}[data-ready="true"]', timeout=60_000)
    page.select_option(tid("layer-select"), "5")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.layer === '5'")
    live = edges(page)
    with page.expect_download() as dl:
        page.click(tid("export-svg-button"))
    assert dl.value.suggested_filename == "exbert-smollm2-135m-layer5.svg"
    root = parse_svg(Path(dl.value.path()).read_text("utf-8"))
    assert len(svg_edges(root)) == len(live) > 0
    assert sorted(svg_token_texts(root)) == sorted(live_token_texts(page))
    with page.expect_download() as dl:
        page.click(tid("export-png-button"))
    png = Path(dl.value.path()).read_bytes()
    assert png_size(png) == (2 * int(float(root.get("width"))), 2 * int(float(root.get("height"))))


def test_png_data_url_from_the_page_api(offline_page, html_file):
    page = offline_page
    open_view(page, html_file)
    url = page.evaluate("() => window.exbert.exportPng({ scale: 1 })")
    png = base64.b64decode(url.split(",", 1)[1])
    svg = page.evaluate("() => window.exbert.exportSvg()")
    root = parse_svg(svg)
    assert png_size(png) == (int(float(root.get("width"))), int(float(root.get("height"))))
