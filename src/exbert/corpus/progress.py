"""What a build reports while it runs (a progress bar) and once it is done (its timings)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


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


class Progress:
    """tqdm to stderr: tokens, tokens/s and an ETA from the share of the input consumed."""

    def __init__(self, enabled: bool, name: str, total_chars: int,
                 max_sentences: int | None, initial: int) -> None:
        self.bar: Any = None
        self.total_chars = max(1, total_chars)
        self.max_sentences = max_sentences
        self.chars = 0
        self.sentences = 0
        self.tokens = initial
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=None, initial=initial, unit="tok", unit_scale=True,
                            desc=f"corpus {name}", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)

    def advance(self, tokens: int, sentences: int, chars: int) -> None:
        self.tokens += tokens
        self.sentences += sentences
        self.chars += chars
        if self.bar is None:
            return
        estimate = self.tokens / max(1, self.chars) * self.total_chars
        if self.max_sentences:
            estimate = min(estimate, self.tokens / max(1, self.sentences) * self.max_sentences)
        self.bar.total = max(int(estimate), self.tokens)
        self.bar.update(tokens)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()
