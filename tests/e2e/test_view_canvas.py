"""The curved-line view of a long input (MiniLM, ~256 tokens, all heads): too many edges for SVG
paths, so they are painted on a canvas under the token columns; hover, pinning, layer changes,
scrolling and the SVG export keep working (no timing asserts: behaviour only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_attention_view import EDGES_JS, analyse, changed_after, edges, tid, wait_ready

pytestmark = pytest.mark.e2e

VIEW = tid("attention-view")
BASE = f"{VIEW} canvas[data-layer='base']"
FOCUS = f"{VIEW} canvas[data-layer='focus']"
SENTENCES = [
    "The old lighthouse keeper watched the storm roll in from the sea.",
    "Every night he climbed the stairs and lit the great lamp for the ships.",
    "Sailors far away saw the light and knew the rocks were near.",
    "In the morning the village children came to hear his stories of the war.",
    "He told them about the winter when the harbour froze and nobody could fish.",
]
TEXT = " ".join(SENTENCES * 4)  # ~250 word pieces with MiniLM

PAINTED = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0, h = 0;
    for (let k = 3; k < d.length; k += 4) if (d[k]) { n++; h = (h * 31 + d[k] + k) | 0; }
    return [n, h];
}"""


def paint_done(page) -> None:
    page.wait_for_selector(f"{VIEW} .edge-canvas[data-paint='done']", state="attached", timeout=30_000)


def test_many_edges_are_painted_on_a_canvas_and_follow_layer_hover_pin(page, server):
    analyse(page, server, "minilm-l6", TEXT)
    page.click(tid("all-heads-button"))
    wait_ready(page)
    n_tokens = len(page.query_selector_all("[data-testid^='token-left-']"))
    assert 200 <= n_tokens <= 320, n_tokens
    view = page.locator(VIEW)
    assert view.get_attribute("data-edge-mode") == "canvas"
    count = int(view.get_attribute("data-edge-count") or 0)
    assert count > 1500
    assert page.locator(f"{VIEW} path.edge").count() == 0  # no DOM node per edge
    listed = edges(page)
    assert len(listed) == count
    assert all(0 < float(w) <= 1.0001 for _, _, w in listed)
    paint_done(page)
    pixels, first_hash = page.eval_on_selector(BASE, PAINTED)
    assert pixels > 2000, "the canvas shows the edges"

    # a layer change changes the drawn edges and the pixels
    assert changed_after(page, lambda: page.select_option(tid("layer-select"), "4"))
    wait_ready(page, 4)
    paint_done(page)
    pixels, layer_hash = page.eval_on_selector(BASE, PAINTED)
    assert pixels > 2000 and layer_hash != first_hash

    # hover: only that token's edges are highlighted, over a dimmed base
    page.hover(tid("token-left-40"))
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.focus === 'left:40'")
    recs = page.eval_on_selector(VIEW, "v => v.exbertEdges()")
    hovered = [r for r in recs if r["hover"]]
    assert hovered and all(r["from"] == 40 for r in hovered)
    assert len(hovered) == sum(1 for r in recs if r["from"] == 40)
    assert page.eval_on_selector(FOCUS, PAINTED)[0] > 0
    assert float(page.eval_on_selector(BASE, "c => getComputedStyle(c).opacity")) < 0.5
    tip = page.wait_for_selector(tid("prediction-tooltip"), state="visible")
    assert "40" in tip.inner_text()

    # a right token highlights the edges it receives; leaving clears the focus
    page.hover(tid("token-right-41"))
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.focus === 'right:41'")
    recs = page.eval_on_selector(VIEW, "v => v.exbertEdges()")
    assert all(r["to"] == 41 for r in recs if r["hover"])
    page.mouse.move(2, 2)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.focus === ''")
    assert page.eval_on_selector(FOCUS, PAINTED)[0] == 0
    assert float(page.eval_on_selector(BASE, "c => getComputedStyle(c).opacity")) == 1

    # a click pins the token: its edges stay highlighted after the pointer leaves
    page.click(tid("token-left-12"))
    page.mouse.move(2, 2)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.focus === 'left:12'")
    recs = page.eval_on_selector(VIEW, "v => v.exbertEdges()")
    pinned = [r for r in recs if r["pinned"]]
    assert pinned and all(r["from"] == 12 for r in pinned)
    assert page.eval_on_selector(FOCUS, PAINTED)[0] > 0


def test_scrolling_repaints_the_part_in_view_and_the_export_has_every_edge(page, server, tmp_path: Path):
    analyse(page, server, "minilm-l6", TEXT)
    page.click(tid("all-heads-button"))
    wait_ready(page)
    paint_done(page)
    fo = page.locator(f"{VIEW} .edge-canvas")
    top = float(fo.get_attribute("y") or 0)
    last = page.locator("[data-testid^='token-left-']:not([hidden])").last
    last.scroll_into_view_if_needed()
    page.wait_for_function(
        f"Number(document.querySelector('{VIEW} .edge-canvas').getAttribute('y')) > {top}")
    paint_done(page)
    assert page.eval_on_selector(BASE, PAINTED)[0] > 2000
    # the app still answers: hovering the last token highlights its edges
    last.hover()
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.focus.startsWith('left:')")

    # the exported SVG has one path per drawn edge
    count = int(page.get_attribute(VIEW, "data-edge-count") or 0)
    with page.expect_download() as dl:
        page.click(tid("export-svg-button"))
    svg = Path(dl.value.path()).read_text(encoding="utf-8")
    assert svg.count('<path class="edge"') == count
    assert f'data-edges="{count}"' in svg
    assert len(page.eval_on_selector(VIEW, EDGES_JS)) == count
