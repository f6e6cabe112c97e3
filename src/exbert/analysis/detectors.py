"""Head detectors: how much of its attention each head puts on a pattern. CONTRACT STUB."""

from __future__ import annotations

import numpy as np

from exbert.analysis.types import Analysis

DETECTORS = ("previous_token", "induction", "duplicate_token", "first_token", "self", "local")
"""The detectors of :func:`head_scores`, in the order views list them."""


def head_scores(analysis: Analysis) -> dict[str, np.ndarray]:
    """``{detector: float32 [layers, heads]}``: the mean attention mass a head puts on the
    detector's pattern over the query tokens where the pattern applies (NaN where it applies to
    none). Full and lazy analyses give the same numbers."""
    raise NotImplementedError
