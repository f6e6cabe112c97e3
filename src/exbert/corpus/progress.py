"""What a build reports while it runs (a progress bar) and once it is done (its timings).

The progress total is an estimate of the tokens the build will store, computed once before
the first forward pass from a sample of the input (:func:`estimate_tokens`): the sample's
texts are tokenised by the model's tokenizer and extrapolated by the share of the input they
are. The total then only grows, by a bounded step, if the count passes it, and becomes the
count at the end. (It used to be re-projected after every batch from the characters of the
kept sentences over the input file's bytes: JSON syntax, metadata fields, skipped sentences,
resumed shards and the length-sorted batches each skewed that ratio, so the total jumped,
e.g. from 141k to 25k tokens.)
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: ``callback(tokens, total)``: the tokens stored so far and the current estimate of all.
ProgressCallback = Callable[[int, int], None]

GROWTH = 0.05  # a total passed by the count grows by this share of the first estimate
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")
_WORD = re.compile(r"\w+")


@dataclass
class BuildStats:
    """Counts and seconds of one build (resumed shards included in the counts); they go
    into the manifest's ``build`` section."""

    tokens: int = 0
    sentences: int = 0
    resumed_shards: int = 0
    resumed_tokens: int = 0
    seconds: float = 0.0
    forward_seconds: float = 0.0
    spacy_wait_seconds: float = 0.0
    store_wait_seconds: float = 0.0
    finalize_seconds: float = 0.0
    startup_seconds: float = 0.0


@dataclass(frozen=True)
class Estimate:
    """What :func:`estimate_tokens` extrapolates from: the sample's ``texts``, the ``share``
    of the input they are, whether units are split into sentences (``.txt``), the special
    tokens the model adds per sentence, ``min_words`` and the build's ``max_sentences``."""

    texts: Sequence[str]
    share: float
    split: bool
    specials: int
    min_words: int = 0
    max_sentences: int | None = None


def _sentences(texts: Sequence[str], split: bool, min_words: int) -> list[str]:
    """The sentences of the sample roughly as spaCy cuts them (a punctuation split)."""
    if not split:
        return list(texts)
    out = []
    for t in texts:
        out += [s for s in _SENTENCE_END.split(t) if len(_WORD.findall(s)) >= min_words]
    return out


def estimate_tokens(e: Estimate, count_tokens: Callable[[list[str]], list[int]]) -> int:
    """The tokens a build of the whole input will store (at least 1). ``count_tokens``: the
    model's tokens of each text, without special tokens."""
    sentences = _sentences(e.texts, e.split, e.min_words)
    if not sentences:
        return 1
    counts = [n + e.specials for n in count_tokens(sentences)]
    total = sum(counts) / max(e.share, 1e-9)
    if e.max_sentences is not None:
        total = min(total, sum(counts) / len(counts) * e.max_sentences)
    return max(1, round(total))


def tokenizer_counter(tokenizer: Any) -> Callable[[list[str]], list[int]]:
    """``count_tokens`` for :func:`estimate_tokens` from a Hugging Face tokenizer."""

    def count(texts: list[str]) -> list[int]:
        enc = tokenizer(texts, add_special_tokens=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    return count


def special_count(tokenizer: Any) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=False))
    except (AttributeError, TypeError, ValueError):
        return 0


class Progress:
    """tqdm to stderr (``enabled``) and/or a ``callback(tokens, total)``: tokens, tokens/s
    and an ETA against the ``estimate`` of all the tokens (resumed ones included)."""

    def __init__(self, enabled: bool, name: str, estimate: int, initial: int,
                 callback: ProgressCallback | None = None) -> None:
        self.bar: Any = None
        self.callback = callback
        self.estimate = max(1, estimate)
        self.step = max(1, math.ceil(GROWTH * self.estimate))
        self.tokens = initial
        self.total = max(self.estimate, initial + 1)
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=initial, unit="tok", unit_scale=True,
                            desc=f"corpus {name}", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)
        self._report()

    def _report(self) -> None:
        if self.callback is not None:
            self.callback(self.tokens, self.total)

    def advance(self, tokens: int) -> None:
        self.tokens += tokens
        if self.tokens > self.total:  # the estimate was low: grow by a bounded step
            self.total = self.tokens + self.step
            if self.bar is not None:
                self.bar.total = self.total
        if self.bar is not None:
            self.bar.update(tokens)
        self._report()

    def close(self) -> None:
        """The end: the total is the count."""
        self.total = self.tokens
        if self.bar is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()
        self._report()
