"""The app's corpus filters and document metadata against a real `exbert serve` with two small
real corpora (a .jsonl with metadata in English, and French), in Chromium: a match's document
metadata on hover, labels in any case, a failed search (422) clears the old results, and each
corpus offers its own spaCy labels (French dependency labels for the French corpus)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverproc import start_server, stop_server

pytestmark = pytest.mark.e2e

SENTENCE = "The cat sat on the mat because it was tired."
EN, FR = "docs-minilm", "fr-minilm"
TEXTS = [
    "The cat sat on the mat.", "Paris is the capital of France.",
    "She quickly ran to the old station.", "The dog chased a cat in the garden.",
    "The children played football after school.", "A cat slept under the kitchen table.",
]
FRENCH = [
    "Le livre a été écrit par Marie.", "La maison a été construite en 1900.",
    "Le chat dort sur le canapé du salon.", "Les enfants jouent dans le jardin.",
]


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from exbert.corpus import build

    root = tmp_path_factory.mktemp("corpus-filters")
    en = root / "docs.jsonl"
    en.write_text("".join(json.dumps({"text": t, "id": f"doc-{i}", "source": "wiki"}) + "\n"
                          for i, t in enumerate(TEXTS)), encoding="utf-8")
    fr = root / "fr.jsonl"
    fr.write_text("".join(json.dumps({"text": t}) + "\n" for t in FRENCH), encoding="utf-8")
    build(en, "minilm-l6", root / EN, progress=False, name=EN)
    build(fr, "minilm-l6", root / FR, progress=False, name=FR, spacy_pipeline="fr_core_news_sm")
    return root / EN, root / FR


@pytest.fixture(scope="module")
def filters_server(corpora: tuple[Path, Path]) -> Iterator[str]:
    proc, base = start_server("--model", "minilm-l6", "--corpus", str(corpora[0]),
                              "--corpus", str(corpora[1]))
    yield base
    stop_server(proc)


def analyse(page, base: str) -> None:
    page.goto(base + "/")
    page.wait_for_selector(f"{tid('model-select')} option[value='minilm-l6']", state="attached")
    page.select_option(tid("model-select"), "minilm-l6")
    page.fill(tid("sentence-input"), SENTENCE)
    page.click(tid("analyze-button"))
    page.wait_for_selector(f'{tid("attention-view")}[data-ready="true"]', timeout=60_000)
    page.wait_for_selector(f"{tid('corpus-select')} option[value='{EN}']", state="attached")


def options(page, key: str) -> list[str]:
    return page.eval_on_selector_all(f"{tid(f'filter-{key}-values')} option",
                                      "els => els.map(e => e.value)")


def search_cat(page) -> None:
    page.click(tid("token-left-2"))  # "cat"
    page.click(tid("search-embedding-button"))
    page.wait_for_selector(tid("search-result"), timeout=60_000)
    page.wait_for_selector(tid("corpus-loading"), state="hidden", timeout=60_000)


def test_hover_shows_the_document_metadata(page, filters_server):
    analyse(page, filters_server)
    page.select_option(tid("corpus-select"), EN)
    search_cat(page)
    first = f"{tid('search-result')} >> nth=0"
    doc = json.loads(page.get_attribute(first, "data-document") or "{}")
    assert doc["source"] == "wiki" and doc["id"].startswith("doc-")
    page.hover(f"{first} >> {tid('matched-token')}")
    tip = page.wait_for_selector(tid("token-meta-tooltip"), state="visible")
    text = tip.inner_text()
    assert "POS" in text and "doc.source" in text and "wiki" in text and doc["id"] in text


def test_lowercase_filter_works_and_a_422_clears_the_results(page, filters_server):
    analyse(page, filters_server)
    page.select_option(tid("corpus-select"), EN)
    page.fill(tid("filter-pos"), "noun")
    search_cat(page)
    assert page.query_selector(tid("corpus-error")) is None
    pos = page.eval_on_selector_all(f"{tid('search-result')} {tid('matched-token')}",
                                    "els => els.map(e => e.dataset.pos)")
    assert pos and set(pos) == {"NOUN"}

    # A label this corpus does not have: the server says 422, the old results go away.
    with page.expect_response(lambda r: r.url.endswith("/api/search")) as resp:
        page.fill(tid("filter-pos"), "nuon")
        page.press(tid("filter-pos"), "Enter")
    assert resp.value.status == 422
    err = page.wait_for_selector(tid("corpus-error"))
    assert "nuon" in err.inner_text() and "NOUN" in err.inner_text()
    page.wait_for_selector(tid("search-result"), state="detached")
    assert not page.is_visible(tid("matched-token"))

    # Fixing the filter runs the search again.
    with page.expect_response(lambda r: r.url.endswith("/api/search")) as resp:
        page.fill(tid("filter-pos"), "Noun")
        page.press(tid("filter-pos"), "Enter")
    assert resp.value.status == 200
    page.wait_for_selector(tid("search-result"), timeout=60_000)
    assert page.query_selector(tid("corpus-error")) is None


def test_each_corpus_offers_its_own_labels(page, filters_server):
    analyse(page, filters_server)
    page.select_option(tid("corpus-select"), EN)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"filter-dep-values\"] option').length > 0")
    en_deps = options(page, "dep")
    assert "nsubj" in en_deps and "nsubj:pass" not in en_deps
    assert "NOUN" in options(page, "pos")
    page.select_option(tid("corpus-select"), FR)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"filter-dep-values\"] option')]"
        ".some(o => o.value === 'nsubj:pass')")
    fr_deps = options(page, "dep")
    assert "nsubj:pass" in fr_deps and "dobj" not in fr_deps and "nsubjpass" not in fr_deps
    # only labels this corpus has, not a fixed list of every English label
    assert "agent" not in fr_deps and "INTJ" not in options(page, "pos")
