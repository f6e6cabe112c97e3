"""The browser app against a real `exbert serve` on the shipped models, in Chromium."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

SENTENCE = "The cat sat on the mat because it was tired."


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


# The drawn edges, whether SVG paths (few) or painted on a canvas (many): the view's SVG lists
# them through its test accessor `exbertEdges()` (frontend/src/attention/view.ts) and counts
# them in `data-edge-count`. Weights as the SVG paths' data-weight: 4 decimals.
EDGES_JS = "v => v.exbertEdges().map(e => [String(e.from), String(e.to), e.weight.toFixed(4)])"


def edges(page) -> list[tuple[str, str, str]]:
    return page.eval_on_selector(tid("attention-view"), EDGES_JS)


def wait_ready(page, layer: int | None = None) -> None:
    """The view drawn (at ``layer``, when given), with its edges."""
    sel = f'{tid("attention-view")}[data-ready="true"]'
    if layer is not None:
        sel += f'[data-layer="{layer}"]'
    page.wait_for_selector(sel, timeout=60_000)
    page.wait_for_selector(
        f"{tid('attention-view')}[data-edge-count]:not([data-edge-count='0'])", timeout=60_000)


def analyse(page, server: str, model: str, text: str = SENTENCE, text_b: str | None = None):
    page.goto(server + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='{model}']", state="attached")
    page.select_option(tid("model-select"), model)
    page.fill(tid("sentence-input"), text)
    if text_b is not None:
        page.fill(tid("sentence-b-input"), text_b)
    page.click(tid("analyze-button"))
    wait_ready(page)


def changed_after(page, action) -> bool:
    before = edges(page)
    action()
    page.wait_for_function(
        """([sel, before]) => {
            const v = document.querySelector(sel);
            const now = v.exbertEdges()
              .map(e => [e.from, e.to, e.weight.toFixed(4)].join()).join('|');
            return now !== before;
        }""",
        arg=[tid("attention-view"), "|".join(",".join(e) for e in before)],
        timeout=10_000,
    )
    return edges(page) != before


def test_sentence_draws_edges_and_layers_heads_change_them(page, server):
    analyse(page, server, "minilm-l6")
    first = edges(page)
    assert len(first) > 0
    assert all(0 < float(w) <= 1.0001 for _, _, w in first)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/analyze" in r.url else None)
    assert changed_after(page, lambda: page.select_option(tid("layer-select"), "3"))
    assert changed_after(page, lambda: page.click(tid("head-5")))
    assert "selected" in (page.get_attribute(tid("head-5"), "class") or "")
    assert changed_after(page, lambda: page.keyboard.press("ArrowLeft"))
    assert page.input_value(tid("layer-select")) == "2"
    assert requests == [], "changing layer or heads must not re-run the model"


def test_special_tokens_hidden_by_default_and_can_be_shown(page, server):
    analyse(page, server, "minilm-l6")
    n = len(page.query_selector_all("[data-testid^='token-left-']"))
    assert page.is_checked(tid("special-toggle"))
    specials = {"0", str(n - 1)}  # [CLS] ... [SEP] when shown
    shown = edges(page)
    assert not any(f in specials or t in specials for f, t, _ in shown)
    page.uncheck(tid("special-toggle"))
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('{tid("attention-view")} path.edge')]
              .some(e => e.dataset.to === '0')"""
    )
    assert any(t == "0" for _, t, _ in edges(page))


def test_hover_shows_next_token_predictions(page, server):
    analyse(page, server, "smollm2-135m", "The capital of France is")
    tokens = page.query_selector_all("[data-testid^='token-left-']")
    tokens[-1].hover()
    tip = page.wait_for_selector(tid("prediction-tooltip"), state="visible")
    assert "Paris" in tip.inner_text()


def test_model_without_head_says_so(page, server):
    analyse(page, server, "minilm-l6")
    page.hover(tid("token-left-2"))
    tip = page.wait_for_selector(tid("prediction-tooltip"), state="visible")
    assert re.search(r"head", tip.inner_text(), re.I)


def test_mask_a_token_reruns_and_changes_attention(page, server):
    analyse(page, server, "minilm-l6")
    with page.expect_response(lambda r: "/api/analyze" in r.url):
        page.dblclick(tid("token-left-3"))
    wait_ready(page)
    page.wait_for_function("() => location.search.includes('mask')")
    assert "MASK" in page.inner_text(tid("token-left-3")).upper()
    before_url = page.url
    # unmask restores the original attention
    with page.expect_response(lambda r: "/api/analyze" in r.url):
        page.dblclick(tid("token-left-3"))
    wait_ready(page)
    assert page.url != before_url


def test_url_state_reproduces_the_view(page, server):
    analyse(page, server, "minilm-l6", text_b="It purred loudly.")
    page.select_option(tid("layer-select"), "4")
    page.click(tid("head-2"))
    page.wait_for_timeout(200)
    view = edges(page)
    url = page.url
    assert "layer" in url
    page.goto("about:blank")
    page.goto(url)
    wait_ready(page)
    assert page.input_value(tid("layer-select")) == "4"
    assert page.input_value(tid("sentence-b-input")) == "It purred loudly."
    assert edges(page) == view


def test_errors_are_shown_in_the_page(page, server):
    page.goto(server + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='minilm-l6']", state="attached")
    page.select_option(tid("model-select"), "minilm-l6")
    page.fill(tid("sentence-input"), "word " * 700)
    page.click(tid("analyze-button"))
    err = page.wait_for_selector(tid("error-message"), state="visible", timeout=30_000)
    assert "512" in err.inner_text()
    page.fill(tid("sentence-input"), "   ")
    page.click(tid("analyze-button"))
    page.wait_for_function(
        f"() => /empty/i.test(document.querySelector('{tid('error-message')}').innerText)"
    )
