"""The notebook widget's JavaScript (static/widget/widget.js) in Chromium, with a stand-in for
anywidget's model and this test as the kernel: traits in, view out; view changes out, traits in;
a double-click masks through the kernel; the SVG button hands the file to the kernel."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest
from serverproc import SCREENSHOTS

import exbert
from exbert.notebook.widget import WIDGET_JS

pytestmark = pytest.mark.e2e

TEXT = "The cat sat on the mat because it was tired."
VIEW = '[data-testid="attention-view"]'
ORIGIN = "http://widget.test"
SYNCED = ("layer", "heads", "weights", "hide_special", "threshold", "mask", "mask_token",
          "error", "busy", "text", "text_b", "corpus_name", "search_result")

# A notebook page stand-in: loads the widget module and renders it with a fake anywidget model
# (get/set/save_changes/on/off/send) whose saved changes and messages the test reads.
PAGE = """<!doctype html><html><head><meta charset="utf-8"></head>
<body style="margin:0"><div id="out" style="width:1200px"></div>
<script type="application/json" id="state">STATE</script>
<script type="module">
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
class FakeModel {
  constructor(state) { this.state = state; this.listeners = {}; this.sent = []; this.saved = []; this.changed = {}; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; this.changed[k] = v; }
  save_changes() { this.saved.push(this.changed); this.changed = {}; }
  on(ev, cb) { (this.listeners[ev] ||= []).push(cb); }
  off(ev, cb) { this.listeners[ev] = (this.listeners[ev] || []).filter((f) => f !== cb); }
  send(content, callbacks, buffers) {
    this.sent.push([content, (buffers || []).map((b) => new TextDecoder().decode(b))]);
  }
  push(k, v) {
    this.state[k] = k === "frame" ? new DataView(b64(v).buffer) : v;
    (this.listeners["change:" + k] || []).forEach((f) => f());
  }
}
const mod = await import("ORIGIN/widget.js");
const init = JSON.parse(document.getElementById("state").textContent);
init.frame = new DataView(b64(init.frame).buffer);
window.model = new FakeModel(init);
mod.default.render({ model: window.model, el: document.getElementById("out") });
window.widgetReady = true;
</script></body></html>"""


def page_html(w) -> str:
    state = {k: getattr(w, k) for k in SYNCED}
    state["frame"] = base64.b64encode(w.frame).decode()
    return PAGE.replace("STATE", json.dumps(state).replace("<", "\\u003c")).replace(
        "ORIGIN", ORIGIN)


def push(page, w, *names: str) -> None:
    """The kernel sends trait values to the view."""
    for name in names:
        value = base64.b64encode(w.frame).decode() if name == "frame" else getattr(w, name)
        page.evaluate("([k, v]) => window.model.push(k, v)", [name, value])


@pytest.fixture
def widget_page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    html: dict[str, str] = {}

    def route(r):
        url = r.request.url
        if url == f"{ORIGIN}/":
            r.fulfill(body=html["page"], content_type="text/html")
        elif url == f"{ORIGIN}/widget.js":
            r.fulfill(body=WIDGET_JS.read_bytes(), content_type="text/javascript")
        else:
            outside.append(url)
            r.abort()

    page.route("**/*", route)

    def open_widget(w):
        html["page"] = page_html(w)
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("window.widgetReady === true")
        page.wait_for_selector(f'{VIEW}[data-ready="true"]')
        return page

    yield open_widget
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, errors
    assert outside == [], f"the widget loaded something else: {outside}"


def edge_count(page) -> int:
    """Edges drawn (SVG paths or canvas: the view's data-edge-count, 0 before a view)."""
    return page.eval_on_selector_all(VIEW, "vs => vs.length ? Number(vs[0].dataset.edgeCount ?? 0) : 0")


def test_widget_renders_and_follows_python(widget_page, minilm_model):
    w = exbert.show(minilm_model, TEXT, layer=2, heads=[0, 3])
    page = widget_page(w)
    # inside a shadow root, styled by the module's own stylesheet
    assert page.evaluate("() => !!document.getElementById('out').shadowRoot")
    assert page.eval_on_selector(VIEW, "e => getComputedStyle(e).display") == "block"
    assert edge_count(page) > 0
    assert page.input_value('[data-testid="layer-select"]') == "2"
    assert page.eval_on_selector_all(".head-box.selected", "els => els.map(e => e.dataset.head)") \
        == ["0", "3"]
    # Python sets traits, the view follows
    w.layer = 5
    w.heads = [7]
    push(page, w, "layer", "heads")
    page.wait_for_selector(f'{VIEW}[data-layer="5"]')
    assert page.eval_on_selector_all(".head-box.selected", "els => els.map(e => e.dataset.head)") \
        == ["7"]
    w.hide_special = False
    push(page, w, "hide_special")
    page.wait_for_selector('[data-testid="token-left-0"]:not([hidden])')


def test_widget_view_changes_reach_python(widget_page, minilm_model):
    w = exbert.show(minilm_model, TEXT, layer=1)
    page = widget_page(w)
    page.select_option('[data-testid="layer-select"]', "4")
    page.click('[data-testid="head-2"]')
    page.click('[data-testid="head-6"]', modifiers=["Shift"])
    for change in page.evaluate("window.model.saved"):
        w.set_state(change)  # what ipywidgets does with the view's update messages
    assert (w.layer, w.heads) == (4, [2, 6])


def test_widget_double_click_masks_through_the_kernel(widget_page, minilm_model):
    w = exbert.show(minilm_model, TEXT, layer=3)
    page = widget_page(w)
    before = w.frame
    page.dblclick('[data-testid="token-left-3"]')
    saved = page.evaluate("window.model.saved")
    assert saved[-1] == {"mask": [3]}
    page.wait_for_selector('[data-testid="loading"]:not([hidden])')
    w.set_state(saved[-1])  # the kernel re-analyses
    assert w.frame != before and w.mask == [3]
    push(page, w, "mask", "frame", "busy")
    page.wait_for_selector('[data-testid="token-left-3"].masked')
    assert "[MASK]" in page.inner_text('[data-testid="token-left-3"]')
    page.wait_for_selector(f'{VIEW}[data-ready="true"]')
    # a refused mask shows the kernel's error and keeps the view
    w.set_state({"mask": [0, 3]})
    push(page, w, "error", "mask")
    page.wait_for_selector('[data-testid="error-message"]:not([hidden])')
    assert "special" in page.inner_text('[data-testid="error-message"]')


def test_widget_svg_button_sends_the_file_to_the_kernel(widget_page, minilm_model):
    w = exbert.show(minilm_model, TEXT, layer=2)
    page = widget_page(w)
    n = edge_count(page)
    with page.expect_download() as dl:
        page.click('[data-testid="export-svg-button"]')
    assert dl.value.suggested_filename == "exbert-minilm-l6-layer2.svg"
    page.wait_for_function("window.model.sent.length > 0")
    content, buffers = page.evaluate("window.model.sent[0]")
    assert content == {"type": "export", "kind": "svg", "filename": "exbert-minilm-l6-layer2.svg"}
    w._on_custom(w, content, [buffers[0].encode()])
    root = ET.fromstring(w.exports["svg"])
    paths = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("class") == "edge"]
    assert len(paths) == n > 0


def test_widget_corpus_search(widget_page, minilm_model, tmp_path):
    from exbert.corpus import build

    (tmp_path / "text.txt").write_text(
        "The cat sat on the mat. A dog barked at the mailman. The detective looked at the door."
        "\n\nShe opened the window. The old man walked to the station. He read the letter.")
    build(tmp_path / "text.txt", minilm_model, tmp_path / "corpus", layers="all", progress=False)
    w = exbert.show(minilm_model, "The cat looked at the door.", layer=2,
                    corpus=tmp_path / "corpus")
    page = widget_page(w)
    page.wait_for_selector('[data-testid="corpus-panel"]:not([hidden])')
    assert page.is_disabled('[data-testid="corpus-search-embedding"]')
    page.click('[data-testid="token-left-2"]')  # pin "cat"
    assert "cat" in page.inner_text('[data-testid="corpus-panel"]')
    page.click('[data-testid="corpus-search-embedding"]')
    page.wait_for_function("window.model.sent.length > 0")
    content, _ = page.evaluate("window.model.sent.at(-1)")
    assert content == {"type": "search", "token": 2, "by": "embedding"}
    w._on_custom(w, content, [])  # the kernel searches
    push(page, w, "search_result")
    page.wait_for_selector('[data-testid="corpus-match-0"]')
    rows = page.eval_on_selector_all('[data-testid^="corpus-match-"]', "els => els.length")
    assert rows == len(w.search_result["matches"]) > 0
    best = w.search_result["matches"][0]
    token = best["tokens"][best["position"]]
    assert page.inner_text('[data-testid="corpus-match-0"] .c-match') == \
        best["text"][token["start"]:token["end"]]
    assert page.inner_text('[data-testid="corpus-match-0"] .c-left') + \
        page.inner_text('[data-testid="corpus-match-0"] .c-match') + \
        page.inner_text('[data-testid="corpus-match-0"] .c-right') == best["text"]
    # one layer numbering: the view's layer 2 is what the caption and the max-attention
    # histogram name (no "block")
    assert w.search_result["layer"] == 2
    caption = page.inner_text('[data-testid="corpus-caption"]')
    histogram = page.inner_text('[data-testid="corpus-panel"] .corpus-figures')
    assert "at layer 2" in caption and "(layer 2, all heads" in histogram
    assert "block" not in page.inner_text('[data-testid="corpus-panel"]').lower()
