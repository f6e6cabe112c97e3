"""The browser app's links and history against a real `exbert serve`, in Chromium: a link naming
a model the server does not serve is an error on the page (nothing analysed, the URL kept); view
changes are history entries that Back and Forward step through without re-running the model;
weights enter the URL rounded."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from test_attention_view import SENTENCE, edges, tid, wait_ready

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-app")


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def analyze_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/analyze" in r.url else None)
    return seen


def test_unknown_model_in_a_link_is_an_error_on_the_page(page, server):
    requests = analyze_requests(page)
    link = server + "/?model=bert-large-nope&text=hello"
    page.goto(link)
    err = page.wait_for_selector(tid("error-message"), state="visible", timeout=30_000)
    text = err.inner_text()
    assert "this server does not serve model 'bert-large-nope'" in text
    assert "it serves: minilm-l6, smollm2-135m" in text
    assert err.get_attribute("data-type") == "UnknownModel"
    page.wait_for_timeout(700)  # time for any (wrong) analysis or URL rewrite to start
    assert page.url == link, "the URL is left as the user gave it"
    assert requests == [], "nothing is analysed with another model"
    assert page.get_attribute(tid("attention-view"), "data-ready") != "true"
    # the corpus panel does not suggest building a corpus for the unknown model
    note = page.wait_for_selector(tid("corpus-note"), state="visible").inner_text()
    assert "bert-large-nope" not in note and "served model" in note
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "unknown-model.png"))

    # a served model from the message: analysed with it, a new history entry
    with page.expect_response(lambda r: "/api/analyze" in r.url):
        page.click(tid("switch-model-minilm-l6"))
    wait_ready(page)
    assert query(page)["model"] == ["minilm-l6"]
    assert query(page)["text"] == ["hello"]
    assert page.is_hidden(tid("error-message"))
    assert page.input_value(tid("model-select")) == "minilm-l6"

    # Back: the link again, its error again, nothing analysed
    n = len(requests)
    page.go_back()
    page.wait_for_selector(tid("error-message"), state="visible")
    assert page.url == link
    assert "does not serve model 'bert-large-nope'" in page.inner_text(tid("error-message"))
    page.wait_for_timeout(300)
    assert len(requests) == n

    # the model picker works from the error too
    with page.expect_response(lambda r: "/api/analyze" in r.url):
        page.select_option(tid("model-select"), "smollm2-135m")
    wait_ready(page)
    assert query(page)["model"] == ["smollm2-135m"]


def test_back_and_forward_step_through_view_changes_without_reanalysing(page, server):
    page.goto("about:blank")
    page.goto(server + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='minilm-l6']", state="attached")
    page.fill(tid("sentence-input"), SENTENCE)
    page.click(tid("analyze-button"))
    wait_ready(page, 0)
    start_len = page.evaluate("history.length")
    views = {"start": (page.url, edges(page))}

    page.select_option(tid("layer-select"), "3")
    wait_ready(page, 3)
    views["layer3"] = (page.url, edges(page))
    page.wait_for_timeout(600)  # a separate change, not a drag
    page.click(tid("head-5"))
    page.wait_for_function("() => new URLSearchParams(location.search).get('heads') === '5'")
    views["head5"] = (page.url, edges(page))
    assert page.evaluate("history.length") == start_len + 2

    # a held arrow key (rapid changes of the same control) is one entry
    page.wait_for_timeout(600)
    # two key repeats within the grouping window, dispatched together so that a slow machine
    # cannot space them apart (the window itself: frontend/test/hosts/history.test.ts)
    page.evaluate("""() => { for (let i = 0; i < 2; i++) document.dispatchEvent(
        new KeyboardEvent("keydown", {key: "ArrowLeft", bubbles: true, cancelable: true})); }""")
    page.wait_for_function("() => new URLSearchParams(location.search).get('layer') === '1'")
    assert page.evaluate("history.length") == start_len + 3

    requests = analyze_requests(page)
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('layer') === '3'")
    wait_ready(page, 3)
    assert page.url == views["head5"][0]
    assert page.input_value(tid("layer-select")) == "3"
    assert page.eval_on_selector_all(".head-box.selected", "els => els.map(e => e.dataset.head)") == ["5"]
    assert edges(page) == views["head5"][1]

    page.go_back()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('heads')")
    assert page.url == views["layer3"][0]
    assert edges(page) == views["layer3"][1]

    page.go_back()
    wait_ready(page, 0)
    assert page.url == views["start"][0]
    assert page.input_value(tid("layer-select")) == "0"
    assert edges(page) == views["start"][1]

    page.go_forward()
    wait_ready(page, 3)
    assert page.url == views["layer3"][0]
    assert edges(page) == views["layer3"][1]
    page.wait_for_timeout(300)
    assert requests == [], "Back/Forward over view changes must not re-run the model"

    # Back over the text: the previous inputs return; past the first entry the app is left
    page.go_back()
    page.go_back()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('text')")
    assert page.input_value(tid("sentence-input")) == ""
    page.go_back()
    page.wait_for_url("about:blank")


def test_text_change_is_an_entry_and_back_reanalyses_the_old_text(page, server):
    page.goto(server + "/?model=minilm-l6&text=" + "The+cat+sat.")
    wait_ready(page)
    first = edges(page)
    page.fill(tid("sentence-input"), "A dog barked at the moon.")
    page.click(tid("analyze-button"))
    page.wait_for_function("() => new URLSearchParams(location.search).get('text') === 'A dog barked at the moon.'")
    wait_ready(page)
    with page.expect_response(lambda r: "/api/analyze" in r.url):
        page.go_back()
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid^="token-left-"]')]
              .map(e => e.innerText.trim()).join(' ').includes('cat sat')"""
    )
    wait_ready(page)
    assert page.input_value(tid("sentence-input")) == "The cat sat."
    assert edges(page) == first


def test_weights_enter_the_url_rounded(page, server):
    w = "0.3333333333333333"
    page.goto(server + f"/?model=minilm-l6&text=hello+there&heads=0,1,2&w={w},{w},{w}")
    wait_ready(page)
    page.wait_for_function("() => new URLSearchParams(location.search).get('w') === '0.333,0.333,0.333'")
    assert query(page)["w"] == ["0.333,0.333,0.333"]
