"""The document view of a long text (issue 13) in Chromium against a real `exbert serve` with
SmolLM2: a ~6,000-token paste is analysed lazily (one forward, no attention tensor), the app
shows the overview heatmap (canvas), a brushed window in the curved-line viewer, the reading
view coloured by one token's attention, and the per-head statistics that select a layer and
head. One analysis for the whole module (a 6,000-token forward takes a minute or more on a
small CPU): the tests share one page and run in file order, each asserting behaviour, never
times."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from serverproc import SCREENSHOTS, start_server, stop_server
from test_attention_view import tid

from support import SMALL_CORPUS_TEXT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "smollm2-135m"
FORWARD_TIMEOUT_MS = 900_000  # the forward of ~6,000 tokens on a loaded 2-core machine
VIEW_TIMEOUT_MS = 180_000  # a block summary or a window of a 6,000-token analysis


def long_text(repeats: int = 11) -> str:
    """~6,000 SmolLM2 tokens: the small corpus's sentences, shuffled differently in each part."""
    sentences = re.findall(r"[^.]+\.", " ".join(SMALL_CORPUS_TEXT.split()))
    parts = []
    for k in range(repeats):
        order = [s.strip() for s in sentences]
        random.Random(k).shuffle(order)
        parts.append(f"Part {k + 1}.\n" + " ".join(order))
    return "\n\n".join(parts)


@pytest.fixture(scope="module")
def long_server() -> Iterator[str]:
    proc, base = start_server(
        "--model", MODEL, "--no-demo-corpus", "--max-tokens", "8192", timeout=600
    )
    yield base
    stop_server(proc)


@pytest.fixture(scope="module")
def doc(browser, long_server):
    """The page with the long text analysed and its overview painted; the POSTs it made."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    posts: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: posts.append(r.url) if "/api/analyze" in r.url else None)
    pg.goto(long_server + "/")
    pg.wait_for_selector(f"{tid('model-select')} option[value='{MODEL}']", state="attached")
    pg.select_option(tid("model-select"), MODEL)
    text = long_text()
    pg.fill(tid("sentence-input"), text)
    assert pg.input_value(tid("sentence-input")) == text, "the input must take the whole text"
    pg.click(tid("analyze-button"))
    progress = pg.wait_for_selector(tid("analysis-progress"), state="visible")
    assert re.search(r"\d[\d,]* tokens", progress.inner_text())
    pg.wait_for_selector(f'{tid("long-overview")}[data-ready="true"]', timeout=FORWARD_TIMEOUT_MS)
    yield pg, posts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "test_long_document.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def painted(page) -> dict[str, int]:
    """Pixels of the overview canvas: how many are not white, how many distinct colours."""
    return page.evaluate(
        f"""() => {{
            const c = document.querySelector('{tid("long-overview")}');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let ink = 0; const colours = new Set();
            for (let i = 0; i < d.length; i += 4) {{
                if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) ink++;
                colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }}
            return {{ width: c.width, height: c.height, ink, colours: colours.size }};
        }}"""
    )


def window_view(page) -> str:
    return f'{tid("long-window")} {tid("attention-view")}'


def test_long_text_shows_the_document_view_with_a_painted_overview(doc):
    page, _ = doc
    n = int(page.get_attribute(tid("long-reader"), "data-tokens") or 0)
    assert 5000 <= n <= 7500, n
    assert f"{n} tokens" in page.inner_text(tid("model-info"))
    assert page.is_hidden("main.viewer-root"), "the all-tokens view is replaced"
    px = painted(page)
    assert px["width"] == px["height"] == 256
    assert px["ink"] > 0.1 * 256 * 256 // 2, px  # the causal half has attention everywhere
    assert px["colours"] > 20, px
    assert not page.is_visible(tid("error-message"))


def test_brushing_the_overview_shows_that_windows_edges(doc):
    page, _ = doc
    page.wait_for_selector(f'{window_view(page)}[data-ready="true"]', timeout=VIEW_TIMEOUT_MS)
    assert page.get_attribute(tid("long-window"), "data-start") == "0"
    box = page.locator(tid("long-overview")).bounding_box()
    assert box is not None
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.43, y, steps=2)
    page.mouse.up()
    page.wait_for_function(
        f"() => document.querySelector('{tid('long-window')}').dataset.start !== '0'"
    )
    n = int(page.get_attribute(tid("long-reader"), "data-tokens") or 0)
    start = int(page.get_attribute(tid("long-window"), "data-start") or -1)
    stop = int(page.get_attribute(tid("long-window"), "data-stop") or -1)
    assert abs(start - 0.40 * n) <= 15 and abs(stop - 0.43 * n) <= 15, (start, stop, n)
    assert 0 < stop - start <= 512
    brush = page.locator(tid("long-brush"))
    assert brush.get_attribute("data-start") == str(start)
    page.wait_for_selector(f'{window_view(page)}[data-ready="true"]', timeout=VIEW_TIMEOUT_MS)
    edges = int(page.get_attribute(window_view(page), "data-edges") or 0)
    assert edges > 0
    # the window's tokens are the document's tokens start..stop-1
    first = page.inner_text(f'{tid("long-window")} {tid("token-left-0")}').strip()
    reader_first = page.inner_text(f'{tid("long-reader")} span.tk[data-index="{start}"]').strip()
    assert first == reader_first
    assert f"win={start}-{stop}" in page.url


def test_selecting_a_token_colours_the_document(doc):
    page, _ = doc
    token = 3000
    page.click(f'{tid("long-reader")} span.tk[data-index="{token}"]')
    page.wait_for_selector(
        f'{tid("long-reader")}[data-ready="true"][data-token="{token}"]', timeout=VIEW_TIMEOUT_MS
    )
    coloured = page.eval_on_selector_all(
        f'{tid("long-reader")} span.tk', "els => els.filter(e => e.style.backgroundColor).length"
    )
    assert coloured > 100, coloured  # a causal row: tokens before 3,000 get attention
    later = page.eval_on_selector_all(
        f'{tid("long-reader")} span.tk',
        f"els => els.filter(e => +e.dataset.index > {token} && e.style.backgroundColor).length",
    )
    assert later == 0, "SmolLM2 is causal: a token gives no attention to later tokens"
    page.click(tid("long-direction-in"))
    page.wait_for_selector(
        f'{tid("long-reader")}[data-ready="true"][data-direction="in"]', timeout=VIEW_TIMEOUT_MS
    )
    receives = page.eval_on_selector_all(
        f'{tid("long-reader")} span.tk',
        "els => els.filter(e => e.style.backgroundColor).map(e => +e.dataset.index)",
    )
    assert receives and min(receives) >= token, "only later tokens attend to it"


def test_head_stats_cell_selects_layer_and_head_without_rerunning(doc):
    page, posts = doc
    page.wait_for_selector(f'{tid("head-stats")}[data-ready="true"]')
    assert page.locator(f"{tid('head-stats')} rect.hs-cell").count() == 30 * 9
    page.select_option(tid("head-stat-select"), "entropy")
    assert page.get_attribute(tid("head-stats"), "data-stat") == "entropy"
    page.click(f'{tid("head-stats")} rect.hs-cell[data-layer="12"][data-head="4"]')
    page.wait_for_selector(f'{tid("head-stats")}[data-layer="12"][data-heads="4"]')
    assert page.input_value(f'{tid("long-window")} {tid("layer-select")}') == "12"
    page.wait_for_selector(
        f'{tid("long-overview")}[data-ready="true"][data-layer="12"]', timeout=VIEW_TIMEOUT_MS
    )
    page.wait_for_selector(
        f'{window_view(page)}[data-ready="true"][data-layer="12"]', timeout=VIEW_TIMEOUT_MS
    )
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'{tid("head-stats")}[data-layer="13"]')
    page.wait_for_selector(
        f'{tid("long-overview")}[data-ready="true"][data-layer="13"]', timeout=VIEW_TIMEOUT_MS
    )
    assert len(posts) == 1, f"layer and head changes must not re-run the model: {posts}"
