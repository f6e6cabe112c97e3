"""The prediction tooltip stays where it can be seen: inside a notebook output that clips (a
JupyterLab panel has CSS containment, which also makes it the containing block of `position:
fixed`), inside a narrow window, and never over the head thumbnails it refers to."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import exbert
from exbert.notebook.widget import WIDGET_JS

pytestmark = pytest.mark.e2e

TEXT = "The cat sat on the mat because it was tired."
VIEW = '[data-testid="attention-view"]'
TIP = '[data-testid="prediction-tooltip"]'
ORIGIN = "http://widget.test"
SHOTS = Path("/tmp/shots-app")
SYNCED = ("layer", "heads", "weights", "hide_special", "threshold", "mask", "mask_token",
          "error", "busy", "text", "text_b", "corpus_name", "search_result")

# A JupyterLab stand-in (its structure as measured in JupyterLab 4.6): a side bar, then the
# notebook panel (lumino's `contain: strict`, a scrolling output area) that holds the widget,
# narrower than the window.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
html, body { margin: 0; overflow: hidden; }  /* as JupyterLab's (the body has no height) */
#sidebar { position: absolute; left: 0; top: 0; width: 280px; height: 100vh; background: #eee; }
#panel { position: absolute; left: 280px; top: 30px; width: 660px; height: 760px;
         contain: strict; overflow: hidden; background: #fafafa; }
#output { margin: 10px; overflow: auto; height: 720px; }
</style></head>
<body><div id="sidebar"></div><div id="panel"><div id="output"><div id="out"></div></div></div>
<script type="application/json" id="state">STATE</script>
<script type="module">
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
class FakeModel {
  constructor(state) { this.state = state; this.listeners = {}; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; }
  save_changes() {}
  on(ev, cb) { (this.listeners[ev] ||= []).push(cb); }
  off(ev, cb) { this.listeners[ev] = (this.listeners[ev] || []).filter((f) => f !== cb); }
  send() {}
}
const mod = await import("ORIGIN/widget.js");
const init = JSON.parse(document.getElementById("state").textContent);
init.frame = new DataView(b64(init.frame).buffer);
mod.default.render({ model: new FakeModel(init), el: document.getElementById("out") });
window.widgetReady = true;
</script></body></html>"""


def box(page, selector: str) -> dict[str, float]:
    return page.eval_on_selector(
        selector,
        "e => { const r = e.getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }",
    )


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (inner["left"] >= outer["left"] - 0.5 and inner["top"] >= outer["top"] - 0.5
            and inner["right"] <= outer["right"] + 0.5 and inner["bottom"] <= outer["bottom"] + 0.5)


def intersects(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["left"] < b["right"] and b["left"] < a["right"]
            and a["top"] < b["bottom"] and b["top"] < a["bottom"])


def viewport(page) -> dict[str, float]:
    vp = page.viewport_size
    return {"left": 0, "top": 0, "right": vp["width"], "bottom": vp["height"]}


def test_tooltip_stays_inside_a_clipping_notebook_output(browser, smollm2_model):
    w = exbert.show(smollm2_model, TEXT, layer=2)
    state = {k: getattr(w, k) for k in SYNCED}
    state["frame"] = base64.b64encode(w.frame).decode()
    html = PAGE.replace("STATE", json.dumps(state).replace("<", "\\u003c")).replace("ORIGIN", ORIGIN)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url == f"{ORIGIN}/":
            r.fulfill(body=html, content_type="text/html")
        elif r.request.url == f"{ORIGIN}/widget.js":
            r.fulfill(body=WIDGET_JS.read_bytes(), content_type="text/javascript")
        else:
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("window.widgetReady === true")
        page.wait_for_selector(f'{VIEW}[data-ready="true"]')
        panel = box(page, "#output")
        n = page.eval_on_selector_all("[data-testid^='token-right-']", "els => els.length")
        for k in (1, n // 2, n - 2):
            token = f'[data-testid="token-right-{k}"]'
            page.hover(token)
            page.wait_for_selector(TIP, state="visible")
            tip = box(page, TIP)
            assert inside(tip, panel), (k, tip, panel)
            assert inside(tip, viewport(page)), (k, tip)
            assert not intersects(tip, box(page, token)), "the tooltip covers its own token"
            # the probabilities (the tooltip's right column) are visible
            probs = page.eval_on_selector_all(
                f"{TIP} .tt-prob", "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })")
            assert probs and all(inside(p, panel) for p in probs)
        page.click('[data-testid="token-left-3"]')  # pinned, left column
        page.mouse.move(2, 2)
        tip = box(page, TIP)
        assert inside(tip, panel), (tip, panel)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.hover(f'[data-testid="token-right-{n - 2}"]')
        page.screenshot(path=str(SHOTS / "tooltip-widget-edge.png"))
        assert not errors, errors
    finally:
        context.close()


def analyse(page, server: str) -> None:
    page.goto(server + "/?model=minilm-l6&text=" + TEXT.replace(" ", "+"))
    page.wait_for_selector(f'{VIEW}[data-ready="true"]', timeout=60_000)
    page.wait_for_selector(f"{VIEW} path.edge", timeout=60_000)


def test_pinned_tooltip_does_not_cover_the_head_thumbnails(page, server):
    analyse(page, server)
    grid = box(page, ".heads-grid")
    n = page.eval_on_selector_all("[data-testid^='token-left-']", "els => els.length")
    for side, k in (("left", 1), ("left", 2), ("right", 1), ("left", n - 2)):
        token = f'[data-testid="token-{side}-{k}"]'
        page.click(token)
        page.mouse.move(2, 2)  # hover gone: the tooltip shows the pinned token
        page.wait_for_selector(TIP, state="visible")
        assert "pinned" in page.inner_text(TIP)
        tip = box(page, TIP)
        assert not intersects(tip, grid), (side, k, tip, grid)
        assert not intersects(tip, box(page, token)), "the tooltip covers its own token"
        assert inside(tip, viewport(page))
        if k == 1 and side == "left":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "tooltip-pinned-app.png"))
        page.click(token)  # unpin


def test_tooltip_stays_inside_a_narrow_window(page, server):
    page.set_viewport_size({"width": 700, "height": 700})
    analyse(page, server)
    n = page.eval_on_selector_all("[data-testid^='token-right-']", "els => els.length")
    token = f'[data-testid="token-right-{n - 2}"]'
    page.hover(token)
    page.wait_for_selector(TIP, state="visible")
    tip = box(page, TIP)
    assert inside(tip, viewport(page)), tip
    assert not intersects(tip, box(page, token))
