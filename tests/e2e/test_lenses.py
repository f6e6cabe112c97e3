"""The lens views of the app (issue 14) against a real `exbert serve`, in Chromium: the model
view, the logit lens, the head detectors with the induction probe, and the attention mode
switch (raw, rollout, flow). Screenshots of each view go to test-output/screenshots/lens-*.png."""

from __future__ import annotations

import json
import urllib.request

import pytest
from serverproc import SCREENSHOTS
from test_attention_view import SENTENCE, analyse, edges, tid, wait_ready

pytestmark = pytest.mark.e2e

# 64 SmolLM2 tokens: the model view's paint budget is stated at T = 64.
PARAGRAPH = (
    "Holmes had been seated for some hours in silence with his long, thin back curved over a "
    "chemical vessel in which he was brewing a particularly malodorous product. His head was "
    "sunk upon his breast, and he looked from my point of view like a strange, lank bird with dull grey plumage and a crest."
)


@pytest.fixture(autouse=True, scope="module")
def _models_loaded(server):
    """Both models loaded one after the other before the first page asks for one (a request
    that loads a model while the other loads in the background can race transformers' lazy
    imports: ImportError 'cannot import name AutoConfig')."""
    for model in ("minilm-l6", "smollm2-135m"):
        req = urllib.request.Request(
            server + "/api/analyze", data=json.dumps({"model": model, "text": "warm up"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as res:
            res.read()


def shot(page, name: str, selector: str | None = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"lens-{name}.png")
    if selector:
        page.locator(selector).screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)


def open_panel(page, panel: str) -> None:
    page.click(tid(f"lens-tab-{panel}"))
    page.wait_for_selector(f"{tid('lens-area')}[data-panel='{panel}']")


def token_count(page) -> int:
    return page.locator("[data-testid^='token-left-']").count()


def test_model_view_cells_select_layer_and_head(page, server):
    analyse(page, server, "smollm2-135m", PARAGRAPH)
    T = token_count(page)
    assert T == 64
    open_panel(page, "model")
    page.wait_for_selector(f"{tid('model-view')}[data-ready='true']", timeout=60_000)
    assert page.locator(".mv-cell").count() == 30 * 9
    assert page.locator(tid("model-view-cell-29-8")).count() == 1
    # (the paint time is reported, not asserted: tests do not assert wall times)
    ms = float(page.get_attribute(tid("model-view"), "data-paint-ms"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "lens-model-view-paint.json").write_text(
        json.dumps({"layers": 30, "heads": 9, "tokens": T, "paint_ms": ms}))
    page.hover(tid("model-view-cell-3-4"))
    page.wait_for_selector(f"{tid('model-view-preview')}:visible")
    assert "layer 3 \u00b7 head 4" in page.inner_text(tid("model-view-preview"))
    shot(page, "model-view", tid("lens-area"))
    page.click(tid("model-view-cell-5-2"))
    wait_ready(page, layer=5)
    assert page.input_value(tid("layer-select")) == "5"
    assert "selected" in (page.get_attribute(tid("head-2"), "class") or "")
    assert "selected" not in (page.get_attribute(tid("head-3"), "class") or "")
    assert "selected" in (page.get_attribute(tid("model-view-cell-5-2"), "class") or "")


def test_model_view_of_an_input_sent_per_layer_says_its_limit(page, server):
    """Past ALL_LAYERS_BYTES (SmolLM2: 30 layers x 9 heads, about 249 tokens) the analysis comes
    per layer: the model view draws the layers at hand, says up to how many tokens it shows every
    layer, and does not pull in the others."""
    analyse(page, server, "smollm2-135m", " ".join([PARAGRAPH] * 5))
    T = token_count(page)
    assert T > 260
    attention_requests: list[str] = []
    page.on("request", lambda r: "/attention?" in r.url and attention_requests.append(r.url))
    open_panel(page, "model")
    page.wait_for_selector(f"{tid('model-view')}[data-limit]", timeout=60_000)
    limit = int(page.get_attribute(tid("model-view"), "data-limit"))
    assert 30 * 9 * limit * limit * 2 <= 32 * 2**20 < 30 * 9 * (limit + 1) ** 2 * 2
    assert f"up to {limit} tokens for this model" in page.inner_text(tid("model-view"))
    assert page.get_attribute(tid("model-view"), "data-loaded") == "1"
    page.wait_for_timeout(300)
    assert attention_requests == []
    shot(page, "model-view-limit", tid("lens-area"))


def test_logit_lens_last_row_is_the_models_predictions(page, server):
    analyse(page, server, "smollm2-135m")
    T = token_count(page)
    open_panel(page, "lens")
    page.wait_for_selector(f"{tid('logit-lens')}[data-state='ready']", timeout=60_000)
    assert page.get_attribute(tid("logit-lens"), "data-layers") == "31"  # embeddings + 30 layers
    assert page.locator("td.ll-cell").count() == 31 * T
    for i in (0, 3, T - 1):
        cell = page.locator(f"td.ll-cell[data-layer='30'][data-position='{i}']")
        token = cell.get_attribute("data-token")
        prob = float(cell.get_attribute("data-prob"))
        page.hover(tid(f"token-left-{i}"))
        page.wait_for_selector(f"{tid('prediction-tooltip')} .tt-pred")
        shown = page.locator(f"{tid('prediction-tooltip')} .tt-pred").first.inner_text()
        shown_prob = page.locator(f"{tid('prediction-tooltip')} .tt-prob").first.inner_text()
        assert shown == json.dumps(token)[1:-1]
        assert abs(float(shown_prob.rstrip("%")) - 100 * prob) <= 0.11
    # the top-k on hover; a layer change does not ask for the lens again
    lens_requests: list[str] = []
    page.on("request", lambda r: "/lens" in r.url and lens_requests.append(r.url))
    page.hover("td.ll-cell[data-layer='20'][data-position='2']")
    page.wait_for_selector(f"{tid('logit-lens-tooltip')}:visible")
    assert page.locator(f"{tid('logit-lens-tooltip')} li").count() == 5
    shot(page, "logit-lens", tid("lens-area"))
    page.click(tid("layer-next"))
    wait_ready(page, layer=1)
    page.wait_for_timeout(200)
    assert lens_requests == []
    assert page.get_attribute(tid("logit-lens"), "data-state") == "ready"


def test_logit_lens_of_a_model_without_head_says_so(page, server):
    analyse(page, server, "minilm-l6")
    open_panel(page, "lens")
    page.wait_for_selector(tid("logit-lens-message"), timeout=60_000)
    msg = page.inner_text(tid("logit-lens-message"))
    assert "no output head" in msg and "minilm-l6" in msg
    shot(page, "logit-lens-no-head", tid("lens-area"))


def test_head_scores_and_induction_probe(page, server):
    analyse(page, server, "smollm2-135m")
    open_panel(page, "heads")
    page.wait_for_selector(f"{tid('head-scores')}[data-state='ready']", timeout=60_000)
    assert page.locator("rect.hd-cell").count() == 30 * 9
    assert page.get_attribute(tid("head-scores"), "data-detector") == "previous_token"
    page.select_option(tid("head-detector-select"), "first_token")
    page.wait_for_selector(f"{tid('head-scores')}[data-detector='first_token']")
    page.click("rect.hd-cell[data-layer='7'][data-head='1']")
    wait_ready(page, layer=7)
    assert "selected" in (page.get_attribute(tid("head-1"), "class") or "")
    # the probe: its text replaces the input and is analysed; the heatmap scores the new analysis
    page.select_option(tid("head-detector-select"), "induction")
    page.click(tid("induction-probe-button"))
    page.wait_for_function("([s, old]) => document.querySelector(s).value !== old",
                           arg=[tid("sentence-input"), SENTENCE], timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid^='token-left-']\").length >= 100",
                           timeout=60_000)
    wait_ready(page)
    page.wait_for_selector(f"{tid('head-scores')}[data-state='ready'][data-detector='induction']",
                           timeout=60_000)
    values = [float(v) for v in page.eval_on_selector_all(
        "rect.hd-cell", "rs => rs.map(r => r.dataset.value).filter(v => v !== '')")]
    # random tokens repeated twice: SmolLM2's induction heads attend to the token after the
    # earlier occurrence of the current one with most of their attention
    assert max(values) > 0.5
    shot(page, "head-scores-probe", tid("lens-area"))


def test_attention_mode_switch_changes_the_drawn_edges(page, server):
    analyse(page, server, "smollm2-135m")
    rollout_requests: list[str] = []
    page.on("request", lambda r: "/rollout" in r.url and rollout_requests.append(r.url))
    page.select_option(tid("layer-select"), "4")
    wait_ready(page, layer=4)
    raw = edges(page)
    page.select_option(tid("attention-mode"), "rollout")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='rollout'][data-ready='true']",
                           timeout=60_000)
    rolled = edges(page)
    assert rolled and rolled != raw
    shot(page, "rollout")
    # the server answers the layer asked for: a layer change is one small request ...
    page.select_option(tid("layer-select"), "10")
    page.wait_for_selector(
        f"{tid('attention-view')}[data-mode='rollout'][data-layer='10'][data-ready='true']",
        timeout=60_000)
    assert edges(page) != rolled
    assert len(rollout_requests) == 2 and "layer=10" in rollout_requests[-1]
    # ... and a layer seen before none
    page.select_option(tid("layer-select"), "4")
    page.wait_for_selector(
        f"{tid('attention-view')}[data-mode='rollout'][data-layer='4'][data-ready='true']")
    assert edges(page) == rolled
    assert len(rollout_requests) == 2
    page.select_option(tid("attention-mode"), "flow")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='flow'][data-ready='true']",
                           timeout=60_000)
    flow = edges(page)
    assert flow
    shot(page, "flow")
    page.select_option(tid("layer-select"), "11")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='flow'][data-layer='11'][data-ready='true']",
                           timeout=60_000)
    assert len(rollout_requests) == 4 and "mode=flow" in rollout_requests[-1]
    page.select_option(tid("attention-mode"), "raw")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='raw'][data-ready='true']")
    page.select_option(tid("layer-select"), "4")
    wait_ready(page, layer=4)
    assert edges(page) == raw


def test_weight_edits_ask_for_one_rollout(page, server):
    """Head weights typed or stepped in quick succession start one server job, for the last
    weights, not one per step."""
    analyse(page, server, "smollm2-135m")
    page.click(tid("head-1"))
    page.click(tid("head-2"), modifiers=["Shift"])
    page.select_option(tid("attention-mode"), "rollout")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='rollout'][data-ready='true']",
                           timeout=60_000)
    rollout_requests: list[str] = []
    page.on("request", lambda r: "/rollout" in r.url and rollout_requests.append(r.url))
    page.eval_on_selector(tid("head-weight-1"), """el => {
        for (const v of ["0.9", "0.8", "0.7", "0.6", "0.5", "0.4", "0.3"]) {
            el.value = v;
            el.dispatchEvent(new Event("input", { bubbles: true }));
        }
    }""")
    page.wait_for_selector(f"{tid('attention-view')}[data-mode='rollout'][data-ready='true']",
                           timeout=60_000)
    page.wait_for_timeout(400)
    assert len(rollout_requests) == 1
    assert "weights=0.3%2C" in rollout_requests[0]


def test_flow_is_offered_only_for_short_inputs(page, server):
    analyse(page, server, "smollm2-135m", " ".join([PARAGRAPH] * 2))
    assert token_count(page) > 64
    flow = page.locator(f"{tid('attention-mode')} option[value='flow']")
    assert flow.is_disabled()
    assert "64" in (flow.get_attribute("title") or "")
