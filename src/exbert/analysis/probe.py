"""The induction probe: random tokens repeated twice. CONTRACT STUB."""

from __future__ import annotations

from exbert.analysis.types import Analysis, ModelHandle
from exbert.view import DEFAULT_PROBE_LENGTH


def induction_probe(model: ModelHandle, length: int = DEFAULT_PROBE_LENGTH, seed: int = 0
                    ) -> Analysis:
    """Analyse ``length`` random whole-word tokens followed by the same tokens again; the
    analysis' ``text`` re-tokenises to exactly those tokens (so the app can show it by text)."""
    raise NotImplementedError
