"""Head detectors on hand-built attention patterns (each detector scores 1 on the head built
for it, 0 where the pattern is absent, NaN where it applies to no token), full == lazy on
tiny models, and the numbers shared with head_stats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exbert.analysis import DETECTORS, head_scores
from exbert.analysis.detectors import applies, scores_from_attention

# [BOS] a b c d a b c d: the second copy (positions 5..8) repeats the first (1..4)
IDS = [0, 5, 6, 7, 8, 5, 6, 7, 8]
SPECIAL = [True] + [False] * 8
T = len(IDS)


def one_hot_head(targets: list[int]) -> np.ndarray:
    """[T, T]: row i puts all its attention on ``targets[i]``."""
    out = np.zeros((T, T))
    out[np.arange(T), targets] = 1.0
    return out


def pattern_heads() -> np.ndarray:
    """[1, 6, T, T]: previous token, induction, duplicate, first token, self, far away."""
    def occurrence(i: int) -> int | None:
        return next((j for j in range(i) if IDS[j] == IDS[i] and not SPECIAL[i]), None)

    induction = [occurrence(i) + 1 if occurrence(i) is not None else i for i in range(T)]
    duplicate = [occurrence(i) if occurrence(i) is not None else i for i in range(T)]
    heads = [
        one_hot_head([max(0, i - 1) for i in range(T)]),
        one_hot_head(induction),  # type: ignore[arg-type]
        one_hot_head(duplicate),  # type: ignore[arg-type]
        one_hot_head([0] * T),
        one_hot_head(list(range(T))),
        one_hot_head([(i + T // 2) % T for i in range(T)]),  # 4 or 5 tokens away
    ]
    return np.stack(heads)[None]


def test_where_patterns_apply() -> None:
    where = applies(IDS, SPECIAL)
    assert where["induction"].nonzero()[0].tolist() == [5, 6, 7, 8]
    assert where["duplicate_token"].nonzero()[0].tolist() == [5, 6, 7, 8]
    assert where["previous_token"].nonzero()[0].tolist() == list(range(1, T))
    assert where["self"].all() and where["first_token"].all() and where["local"].all()
    # a token right after its twin: a duplicate, but its twin's next token is itself
    assert applies([3, 3], [False, False])["induction"].tolist() == [False, False]
    assert applies([3, 3, 3], [False] * 3)["induction"].tolist() == [False, False, True]


def test_each_detector_scores_one_on_its_pattern_and_zero_without_it() -> None:
    s = scores_from_attention(pattern_heads(), IDS, SPECIAL)
    assert set(s) == set(DETECTORS)
    assert all(v.shape == (1, 6) and v.dtype == np.float32 for v in s.values())
    prev, ind, dup, first, self_, far = range(6)
    expect = {  # (head, score)
        "previous_token": [(prev, 1), (ind, 0), (dup, 0), (self_, 0), (far, 0)],
        "induction": [(ind, 1), (prev, 0), (dup, 0), (first, 0), (self_, 0), (far, 0)],
        "duplicate_token": [(dup, 1), (prev, 0), (ind, 0), (first, 0), (self_, 0), (far, 0)],
        "first_token": [(first, 1), (self_, 1 / T), (prev, 2 / T)],
        "self": [(self_, 1), (far, 0), (first, 1 / T), (prev, 1 / T)],
        "local": [(prev, 1), (self_, 1), (far, 0), (first, 3 / T)],
    }
    for name, pairs in expect.items():
        for head, score in pairs:
            assert s[name][0, head] == pytest.approx(score, abs=1e-6), (name, head)


def test_mass_splits_and_special_tokens() -> None:
    # half on the previous token, half on the first: 0.5 previous_token (1.0 on row 1)
    half = 0.5 * one_hot_head([max(0, i - 1) for i in range(T)]) + 0.5 * one_hot_head([0] * T)
    s = scores_from_attention(half[None, None], IDS, SPECIAL)
    assert s["previous_token"][0, 0] == pytest.approx((1.0 + 0.5 * 7) / 8)
    # the same ids but every token special: no query for induction or duplicates
    none = scores_from_attention(pattern_heads(), IDS, [True] * T)
    assert np.isnan(none["induction"]).all() and np.isnan(none["duplicate_token"]).all()
    # all different tokens: NaN, not 0
    distinct = scores_from_attention(pattern_heads(), list(range(T)), SPECIAL)
    assert np.isnan(distinct["induction"]).all()
    assert not np.isnan(distinct["self"]).any()


@pytest.mark.parametrize("family", ["bert", "llama", "gemma3"])
def test_full_and_lazy_give_the_same_scores_and_match_head_stats(tiny: Any,
                                                                 family: str) -> None:
    model = tiny(family)
    text = "the cat sat on the mat and the cat sat on the mat again"
    full = model.analyze(text, attention="full", top_k=0)
    lazy = model.analyze(text, attention="lazy", top_k=0)
    a, b = head_scores(full), model.head_scores(lazy)
    for name in DETECTORS:
        assert a[name].shape == (full.n_layers, full.n_heads)
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)
        assert not np.isnan(a[name]).any(), name  # the text repeats: every pattern applies
    # the raw array through the pure function: the same numbers
    assert full.attentions is not None
    pure = scores_from_attention(full.attentions, full.input_ids,
                                 [t.special for t in full.tokens])
    for name in DETECTORS:
        np.testing.assert_allclose(pure[name], a[name], atol=1e-6)
    stats, t = full.head_stats(), full.n_tokens
    np.testing.assert_allclose(a["first_token"], stats["first_token"], atol=1e-6)
    np.testing.assert_allclose(a["self"], stats["self"], atol=1e-6)
    np.testing.assert_allclose(a["previous_token"], stats["previous_token"] * t / (t - 1),
                               atol=1e-6)
