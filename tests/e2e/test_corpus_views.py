"""The browser app's corpus views against a real `exbert serve` with a small real corpus
(built here with the library), in Chromium: search from a token, results, colour summary,
histograms, head discovery."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverproc import SCREENSHOTS, start_server, stop_server

from support import build_small_corpus

pytestmark = pytest.mark.e2e

SENTENCE = "The cat sat on the mat because it was tired."
CORPUS = "tiny-minilm"
N_LAYERS, N_HEADS = 6, 12



def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_corpus(tmp_path_factory.mktemp("corpus-views"), CORPUS)


@pytest.fixture(scope="module")
def corpus_server(corpus_dir: Path) -> Iterator[str]:
    proc, base = start_server("--model", "minilm-l6", "--corpus", str(corpus_dir))
    yield base
    stop_server(proc)


def analyse(page, base: str, text: str = SENTENCE) -> None:
    page.goto(base + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='minilm-l6']", state="attached")
    page.select_option(tid("model-select"), "minilm-l6")
    page.fill(tid("sentence-input"), text)
    page.click(tid("analyze-button"))
    page.wait_for_selector(f'{tid("attention-view")}[data-ready="true"]', timeout=60_000)
    page.wait_for_selector(f"{tid('corpus-select')} option[value='{CORPUS}']", state="attached")


def search(page, button: str) -> dict:
    """Click a search button; return the request body once the results are drawn."""
    with page.expect_request(lambda r: r.url.endswith("/api/search")) as req:
        page.click(tid(button))
    page.wait_for_selector(tid("search-result"), timeout=60_000)
    page.wait_for_selector(tid("corpus-loading"), state="hidden", timeout=60_000)
    body: dict = json.loads(req.value.post_data or "{}")
    return body


def matrix_colours(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        f"{tid('summary-matrix')} td.sm-cell[data-label]",
        "els => els.map(e => [e.dataset.label, getComputedStyle(e).backgroundColor])",
    )


def legend(page) -> list[str]:
    return page.eval_on_selector_all(
        f"{tid('summary-legend')} .lg-item", "els => els.map(e => e.dataset.label)"
    )


def bars(page, name: str) -> list[tuple[str, int]]:
    return page.eval_on_selector_all(
        f"{tid(name)} rect.bar", "els => els.map(e => [e.dataset.label, Number(e.dataset.count)])"
    )


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_search_by_embedding_shows_results_summary_and_histograms(page, corpus_server):
    analyse(page, corpus_server)
    assert page.input_value(tid("corpus-select")) == CORPUS
    assert re.search(r"\d+ sentences", page.inner_text(tid("corpus-info")))

    # No token selected yet: a hint, no request.
    page.click(tid("search-embedding-button"))
    hint = page.wait_for_selector(tid("corpus-hint"))
    assert "click a token" in hint.inner_text().lower()

    page.select_option(tid("layer-select"), "3")
    page.click(tid("token-left-2"))  # "cat"
    # one layer numbering: the view's layer 3 is the searched layer 3, never a "block"
    query = page.inner_text(tid("corpus-query"))
    assert "layer 3" in query and "block" not in query.lower()
    assert "0-based" in (page.get_attribute(tid("corpus-query-layer"), "title") or "")
    req = search(page, "search-embedding-button")
    assert (req["by"], req["token"], req["layer"], req["corpus"]) == ("embedding", 2, 3, CORPUS)
    caption = page.inner_text(tid("search-caption"))
    assert "layer 3" in caption and "block" not in caption.lower()
    assert "block" not in page.inner_text(tid("corpus-section")).lower()
    assert req["special_attention"] is False  # the view hides special tokens by default

    results = page.query_selector_all(tid("search-result"))
    assert len(results) > 0
    for r in results:
        assert len(r.query_selector_all(tid("matched-token"))) == 1
    scores = [float(r.get_attribute("data-score") or "nan") for r in results]
    assert scores == sorted(scores, reverse=True)
    assert "cat" in page.inner_text(tid("search-caption"))

    # Metadata on hover.
    page.hover(f"{tid('search-result')} >> nth=0 >> {tid('matched-token')}")
    tip = page.wait_for_selector(tid("token-meta-tooltip"), state="visible")
    assert "POS" in tip.inner_text() and "DEP" in tip.inner_text()

    # Colour summary and histograms.
    rows = page.query_selector_all(f"{tid('summary-matrix')} {tid('summary-row')}")
    assert len(rows) > 0
    assert page.get_attribute(tid("summary-matrix"), "data-field") == "pos"
    matched = bars(page, "histogram-matched")
    assert matched and sum(n for _, n in matched) == len(results)
    assert bars(page, "histogram-max-attention")
    pos_colours, pos_legend = matrix_colours(page), legend(page)
    assert "NOUN" in pos_legend
    shot(page, "corpus_search_embedding_pos")

    # Switch the colours to DEP: matrix, legend and histograms follow.
    page.click(tid("summary-field-dep"))
    page.wait_for_selector(f'{tid("summary-matrix")}[data-field="dep"]')
    dep_colours, dep_legend = matrix_colours(page), legend(page)
    assert dep_legend != pos_legend and "NOUN" not in dep_legend
    assert any(lab in dep_legend for lab in ("nsubj", "dobj", "pobj", "det", "ROOT"))
    assert [c for _, c in dep_colours] != [c for _, c in pos_colours]
    assert {lab for lab, _ in bars(page, "histogram-matched")} <= set(dep_legend) | {"(other)"}

    # Expand the summary to every match.
    if page.is_visible(tid("summary-toggle")):
        page.click(tid("summary-toggle"))
        n = len(page.query_selector_all(f"{tid('summary-matrix')} {tid('summary-row')}"))
        assert n == len(results)
    assert (
        "corpus=" + CORPUS in page.url and "sby=embedding" in page.url and "color=dep" in page.url
    )
    shot(page, "corpus_search_embedding_dep")

    # Max attention skips special tokens while the view hides them; showing them re-runs the
    # search counting them, and MiniLM's heads park most attention on [CLS]/[SEP].
    hist = page.query_selector(tid("histogram-max-attention"))
    assert hist and "special tokens skipped" in hist.inner_text()
    assert "(special)" not in {lab for lab, _ in bars(page, "histogram-max-attention")}
    with page.expect_request(lambda r: r.url.endswith("/api/search")) as again:
        page.click(tid("special-toggle"))
    assert json.loads(again.value.post_data or "{}")["special_attention"] is True
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="histogram-max-attention"] rect.bar')]
            .some(e => e.dataset.label === '(special)')""",
        timeout=60_000,
    )
    shot(page, "corpus_search_special_attention")


def test_filters_and_reload_restore_the_search(page, corpus_server):
    analyse(page, corpus_server)
    page.click(tid("token-left-2"))
    search(page, "search-embedding-button")
    with page.expect_request(lambda r: r.url.endswith("/api/search")) as req:
        page.fill(tid("filter-pos"), "VERB")
        page.press(tid("filter-pos"), "Enter")
    assert json.loads(req.value.post_data or "{}")["filters"] == {"pos": "VERB"}
    page.wait_for_function(
        """() => {
            const m = [...document.querySelectorAll('[data-testid="matched-token"]')];
            return m.length > 0 && m.every(e => e.dataset.pos === 'VERB');
        }""",
        timeout=30_000,
    )
    assert "filter pos=VERB" in page.inner_text(tid("search-caption"))
    n = len(page.query_selector_all(tid("search-result")))
    url = page.url
    assert "fpos=VERB" in url and "stok=2" in url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector(tid("search-result"), timeout=60_000)
    assert len(page.query_selector_all(tid("search-result"))) == n
    assert page.input_value(tid("filter-pos")) == "VERB"
    assert "pinned" in (page.get_attribute(tid("token-left-2"), "class") or "")


def test_search_by_context_uses_the_selected_heads(page, corpus_server):
    analyse(page, corpus_server)
    page.select_option(tid("layer-select"), "1")
    page.click(tid("head-5"))
    page.click(tid("token-left-2"))
    assert "head 5" in page.inner_text(tid("corpus-query"))
    req = search(page, "search-context-button")
    assert (req["by"], req["layer"], req["heads"], req["token"]) == ("context", 1, [5], 2)
    assert len(page.query_selector_all(tid("search-result"))) > 0
    caption = page.inner_text(tid("search-caption"))
    assert "by context" in caption and "heads 5" in caption
    assert page.query_selector_all(f"{tid('summary-matrix')} {tid('summary-row')}")
    assert bars(page, "histogram-matched") and bars(page, "histogram-max-attention")
    shot(page, "corpus_search_context")


def test_head_ranking_click_selects_layer_and_head(page, corpus_server):
    analyse(page, corpus_server)
    page.wait_for_selector(f"{tid('head-ranking')} rect.hr-cell")
    cells = page.query_selector_all(f"{tid('head-ranking')} rect.hr-cell")
    assert len(cells) == N_LAYERS * N_HEADS
    titles = page.eval_on_selector_all(
        f"{tid('head-ranking')} .hr-axis-title", "els => els.map(e => e.textContent)"
    )
    assert any("layer" in t for t in titles) and any("head" in t for t in titles)
    target = f"{tid('head-ranking')} rect.hr-cell[data-layer='4'][data-head='7']"
    page.hover(target)
    tip = page.wait_for_selector(tid("head-ranking-tooltip"), state="visible")
    assert (
        "Layer 4" in tip.inner_text() and "head 7" in tip.inner_text() and "%" in tip.inner_text()
    )
    before = page.get_attribute(target, "data-score")

    page.click(target)
    page.wait_for_function(f"() => document.querySelector('{tid('layer-select')}').value === '4'")
    assert "selected" in (page.get_attribute(tid("head-7"), "class") or "")
    selected = page.eval_on_selector_all(
        "[data-testid^='head-']",
        "els => els.filter(e => /^head-\\d+$/.test(e.dataset.testid) && e.classList.contains('selected')).map(e => e.dataset.testid)",
    )
    assert selected == ["head-7"]
    assert "layer=4" in page.url and "heads=7" in page.url
    assert "selected" in (page.get_attribute(target, "class") or "")

    # The top-heads chips do the same; another relation gives other scores.
    page.click(tid("head-top-0"))
    top_layer = page.get_attribute(tid("head-top-0"), "data-layer")
    top_head = page.get_attribute(tid("head-top-0"), "data-head")
    page.wait_for_function(
        f"() => document.querySelector('{tid('layer-select')}').value === '{top_layer}'"
    )
    assert "selected" in (page.get_attribute(tid(f"head-{top_head}"), "class") or "")
    page.select_option(tid("head-relation-select"), "prev_token")
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).dataset.score !== before",
        arg=[target, before],
    )
    assert "rel=prev_token" in page.url
    shot(page, "corpus_head_ranking")


def test_search_errors_are_shown_in_the_panel(page, corpus_server):
    analyse(page, corpus_server)
    page.route(
        "**/api/search",
        lambda route: route.fulfill(
            status=422,
            content_type="application/json",
            body=json.dumps(
                {
                    "error": {
                        "type": "InvalidRequest",
                        "message": "layer 9 is not stored",
                        "status": 422,
                    }
                }
            ),
        ),
    )
    page.click(tid("token-left-2"))
    page.click(tid("search-embedding-button"))
    err = page.wait_for_selector(tid("corpus-error"))
    assert "layer 9 is not stored" in err.inner_text()


def test_no_corpus_for_the_model_says_so(page, server):
    page.goto(server + "/")
    note = page.wait_for_selector(tid("corpus-note"), state="visible")
    assert "No corpus" in note.inner_text()
    assert not page.is_visible(tid("search-embedding-button"))
