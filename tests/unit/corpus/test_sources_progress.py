"""The build's progress total (exbert.corpus.progress): estimated once from a sample of the
input with the model's tokenizer, then steady. The old total was re-projected after every
batch from kept characters over file bytes and jumped (141k -> 25k tokens)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from exbert.corpus.inputs import ReadOptions, sample
from exbert.corpus.progress import (
    Estimate,
    Progress,
    estimate_tokens,
    special_count,
    tokenizer_counter,
)

SENTENCES = [
    "The cat sat on the mat.", "Paris is the capital of France.",
    "She quickly ran to the old station before the train left.",
    "Apple bought a small company in London last year.",
    "The children played football after school on a sunny afternoon.",
]


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


def _true_tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


def test_estimate_of_a_jsonl_ignores_its_metadata_bytes(tmp_path: Path, tokenizer) -> None:
    texts = [f"{SENTENCES[i % 5]} Record {i}." for i in range(400)]
    p = tmp_path / "docs.jsonl"
    p.write_text("".join(json.dumps({"text": t, "id": i, "html": "<p>" + "x" * 800 + "</p>"})
                         + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    s = sample(p, ReadOptions(), max_chars=2000)
    assert s.share < 0.2  # a sample, not the whole file
    est = estimate_tokens(Estimate(s.texts, s.share, s.split, special_count(tokenizer)),
                          tokenizer_counter(tokenizer))
    true = _true_tokens(tokenizer, texts)
    assert 0.8 * true <= est <= 1.25 * true
    limited = estimate_tokens(Estimate(s.texts, s.share, s.split, special_count(tokenizer),
                                       max_sentences=40), tokenizer_counter(tokenizer))
    assert 0.8 * true / 10 <= limited <= 1.25 * true / 10


def test_estimate_of_a_text_counts_its_sentences(tmp_path: Path, tokenizer) -> None:
    paragraphs = [" ".join(SENTENCES[k:] + SENTENCES[:k]) for k in range(5)] * 40
    p = tmp_path / "in.txt"
    p.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    s = sample(p, ReadOptions(), max_chars=3000)
    est = estimate_tokens(Estimate(s.texts, s.share, s.split, special_count(tokenizer), 2),
                          tokenizer_counter(tokenizer))
    true = _true_tokens(tokenizer, SENTENCES * 200)  # each sentence with [CLS] and [SEP]
    assert 0.8 * true <= est <= 1.25 * true


def test_total_is_steady_with_resumed_tokens_and_short_batches_first() -> None:
    """A resumed build (10k tokens done) whose next shard runs its shortest sentences first:
    the total never falls, grows only by bounded steps past the estimate, ends at the count."""
    calls: list[tuple[int, int]] = []
    bar = Progress(False, "t", estimate=12_000, initial=10_000,
                   callback=lambda n, total: calls.append((n, total)))
    for tokens in [8, 8, 9, 40, 300, 700, 900, 1000]:
        bar.advance(tokens)
    bar.close()
    running = [t for _, t in calls[:-1]]
    assert calls[0] == (10_000, 12_000)
    assert all(b >= a for a, b in pairwise(running))
    assert all(n <= t for n, t in calls)
    growth = [b - a for a, b in pairwise(running) if b > a]
    assert growth and max(growth) <= 0.05 * 12_000 + 1000  # a bounded step past the count
    assert calls[-1] == (12_965, 12_965)
