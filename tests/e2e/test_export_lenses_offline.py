"""The lenses of the HTML export in Chromium, offline: a file exported for SmolLM2 (a causal LM
with its head) and for MiniLM (an encoder without one) opened from disk with the network
blocked; the model view, the logit lens, the head detectors and the raw/rollout/flow switch
draw from the data carried in the file, and their numbers are the library's (flow is not carried:
the view says why)."""

from __future__ import annotations

import numpy as np
import pytest
from serverproc import SCREENSHOTS
from test_export_html import offline_page  # noqa: F401  (the fixture: file:// only, no network)

import exbert
from exbert.analysis.detectors import head_scores
from exbert.analysis.rollout import rollout

pytestmark = pytest.mark.e2e

CAUSAL_TEXT = "When Mary and John went to the store, John gave a drink to Mary."
ENCODER_TEXT = "The cat sat on the mat because it was tired."
VIEW = '[data-testid="attention-view"]'


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def smollm2_export(tmp_path_factory, smollm2_model):
    out = tmp_path_factory.mktemp("lenses") / "smollm2.html"
    a = smollm2_model.analyze(CAUSAL_TEXT, attention="full")
    exbert.export_html(smollm2_model, CAUSAL_TEXT, layer=3, out=out)
    return out, a


@pytest.fixture(scope="module")
def minilm_export(tmp_path_factory, minilm_model):
    out = tmp_path_factory.mktemp("lenses") / "minilm.html"
    a = minilm_model.analyze(ENCODER_TEXT, attention="full")
    exbert.export_html(minilm_model, ENCODER_TEXT, layer=2, out=out)
    return out, a


def open_file(page, path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector('body[data-ready="true"]', timeout=20_000)


def open_tab(page, panel: str) -> None:
    page.click(tid(f"lens-tab-{panel}"))
    page.wait_for_selector(f'{tid("lens-area")}[data-panel="{panel}"]')


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"export_lenses_{name}.png"), full_page=True)


def set_mode(page, mode: str) -> None:
    page.select_option(tid("attention-mode"), mode)
    page.wait_for_selector(f'{VIEW}[data-mode="{mode}"][data-ready="true"]', timeout=20_000)


def js_rollout(page, heads, weights, mode="rollout", layer=0) -> tuple[list[int], np.ndarray]:
    got = page.evaluate(
        """async ([heads, weights, mode, layer]) => {
             const x = window.exbert;
             const r = await x.lenses.rollout(x.viewer.store.state.analysis,
                                              {mode, layer, heads, weights});
             return {layers: r.layers, T: r.T, data: Array.from(r.data)};
           }""",
        [heads, weights, mode, layer],
    )
    t = got["T"]
    return got["layers"], np.array(got["data"], dtype=np.float32).reshape(-1, t, t)


def test_smollm2_export_shows_every_lens_offline(offline_page, smollm2_export):  # noqa: F811
    page = offline_page
    path, a = smollm2_export
    n_layers, n_heads, t = a.attentions.shape[:3]
    open_file(page, path)

    # model view: every layer x head; a click opens that head in the main view
    open_tab(page, "model")
    page.wait_for_selector(tid("model-view"))
    assert page.locator(f'{tid("model-view")} [data-testid^="model-view-cell-"]').count() == \
        n_layers * n_heads
    page.click(tid(f"model-view-cell-{n_layers - 1}-2"))
    page.wait_for_selector(f'{VIEW}[data-layer="{n_layers - 1}"]')
    assert page.eval_on_selector(tid("layer-select"), "s => s.value") == str(n_layers - 1)
    shot(page, "smollm2_model_view")

    # logit lens: hidden states x tokens; the last row's top-1 is the model's own prediction
    open_tab(page, "lens")
    page.wait_for_selector(f'{tid("logit-lens")} td.ll-cell', timeout=20_000)
    assert page.locator(f'{tid("logit-lens")} td.ll-cell').count() == (n_layers + 1) * t
    lens = page.evaluate(
        "async () => { const x = window.exbert;"
        " return await x.lenses.logitLens(x.viewer.store.state.analysis); }")
    assert len(lens["top"]) == n_layers + 1 and lens["positions"] == list(range(t))
    own = [p[0].token for p in a.predictions]
    assert [cell[0]["token"] for cell in lens["top"][-1]] == own
    shot(page, "smollm2_logit_lens")

    # head detectors: a layers x heads heatmap of the library's scores; no probe in a file
    open_tab(page, "heads")
    page.wait_for_selector(tid("head-scores"))
    scores = page.evaluate(
        "async () => { const x = window.exbert;"
        " return await x.lenses.headScores(x.viewer.store.state.analysis); }")
    want = head_scores(a)
    got = np.array([[np.nan if v is None else v for v in row]
                    for row in scores["scores"]["previous_token"]])
    np.testing.assert_allclose(got, want["previous_token"], atol=1e-4)
    assert page.locator(tid("induction-probe-button")).count() == 0
    shot(page, "smollm2_head_scores")

    # rollout and flow: the main view draws them; rollout of a selection is computed in the page
    set_mode(page, "rollout")
    layers, r = js_rollout(page, None, None)
    assert layers == list(range(n_layers))
    np.testing.assert_allclose(r, rollout(a), atol=3e-3)
    layers, r = js_rollout(page, [0, 4], [2.0, 1.0])
    np.testing.assert_allclose(r, rollout(a, heads=[0, 4], weights=[2, 1]), atol=3e-3)
    assert np.allclose(np.triu(r[-1], 1), 0)  # causal zeros kept
    shot(page, "smollm2_rollout")
    # flow is not carried (max-flow is too slow for every export): the view says so
    page.select_option(tid("attention-mode"), "flow")
    page.wait_for_selector(f'{tid("viewer-overlay")}:has-text("exbert serve")')
    shot(page, "smollm2_flow")
    page.click(tid("all-heads-button"))
    set_mode(page, "rollout")
    set_mode(page, "raw")


def test_minilm_export_says_it_has_no_head_and_shows_the_rest(
        offline_page, minilm_export):  # noqa: F811
    page = offline_page
    path, a = minilm_export
    n_layers, n_heads, t = a.attentions.shape[:3]
    open_file(page, path)
    open_tab(page, "lens")
    page.wait_for_selector(tid("logit-lens-message"), timeout=20_000)
    assert "head" in page.inner_text(tid("logit-lens-message")).lower()
    shot(page, "minilm_logit_lens")
    open_tab(page, "heads")
    page.wait_for_selector(tid("head-scores"))
    open_tab(page, "model")
    assert page.locator(f'{tid("model-view")} [data-testid^="model-view-cell-"]').count() == \
        n_layers * n_heads
    set_mode(page, "rollout")
    layers, r = js_rollout(page, None, None)
    assert layers == list(range(n_layers)) and r.shape == (n_layers, t, t)
    np.testing.assert_allclose(r, rollout(a), atol=3e-3)
    layers, r = js_rollout(page, [1, 5, 7], None)
    np.testing.assert_allclose(r, rollout(a, heads=[1, 5, 7]), atol=3e-3)
    shot(page, "minilm_rollout")
