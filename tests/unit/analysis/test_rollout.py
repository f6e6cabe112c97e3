"""Attention rollout: rows sum to 1, causal zeros stay, identity when every head attends to
itself, the head mix and residual as documented, full == lazy on tiny models, the size bound."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import exbert
from exbert.analysis import Analysis, Token
from exbert.errors import InvalidRequest, TooLargeForBudget

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = "The cat sat on the mat because the cat was tired."


def dense_analysis(attn: np.ndarray) -> Analysis:
    """A full analysis carrying the attention array ``attn`` [L, H, T, T] (nothing else)."""
    n_layers, _, t, _ = attn.shape
    return Analysis(
        model="hand-built", kind="causal", text="x" * t, text_b=None, mask=(),
        tokens=[Token("x", i, i + 1, False) for i in range(t)], input_ids=list(range(t)),
        attentions=attn.astype(np.float32), hidden_states=np.zeros((n_layers + 1, t, 1)),
        contexts=np.zeros((n_layers, t, 1, 1)), predictions=None)


@st.composite
def attention(draw: Any, causal: bool) -> np.ndarray:
    """Random row-stochastic attention [L, H, T, T] (causal: zeros above the diagonal)."""
    n_layers, heads, t = (draw(st.integers(1, 4)), draw(st.integers(1, 3)),
                          draw(st.integers(1, 7)))
    raw = draw(arrays(np.float64, (n_layers, heads, t, t),
                      elements=st.floats(0.0, 1.0, allow_nan=False)))
    raw = raw + np.eye(t) * 1e-3  # no empty row
    if causal:
        raw = np.tril(raw)
    return raw / raw.sum(-1, keepdims=True)


def reference(attn: np.ndarray, w: np.ndarray, residual: float) -> np.ndarray:
    """Rollout in float64, straight from the definition."""
    t = attn.shape[-1]
    out, r = [], np.eye(t)
    for layer in attn.astype(np.float64):
        a = residual * np.eye(t) + (1 - residual) * np.einsum("h,hij->ij", w, layer)
        a /= a.sum(-1, keepdims=True)
        r = a @ r
        out.append(r)
    return np.stack(out)


@SETTINGS
@given(attention(causal=True), st.floats(0.0, 1.0))
def test_causal_rollout_rows_sum_to_one_and_keep_zeros(attn: np.ndarray, residual: float) -> None:
    out = exbert.rollout(dense_analysis(attn), residual=residual)
    assert out.dtype == np.float32 and out.shape == (attn.shape[0], *attn.shape[2:])
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    assert not np.triu(out, k=1).any(), "a causal rollout has zeros above the diagonal"
    heads = attn.shape[1]
    np.testing.assert_allclose(out, reference(attn, np.full(heads, 1 / heads), residual),
                               atol=1e-5)


@SETTINGS
@given(attention(causal=False), st.floats(0.0, 1.0), st.data())
def test_weighted_heads_follow_the_app_rule(attn: np.ndarray, residual: float,
                                            data: Any) -> None:
    heads = attn.shape[1]
    chosen = data.draw(st.lists(st.integers(0, heads - 1), min_size=1, max_size=heads,
                                unique=True))
    weights = data.draw(st.lists(st.floats(-1.0, 3.0), min_size=len(chosen),
                                 max_size=len(chosen)))
    out = exbert.rollout(dense_analysis(attn), heads=chosen, weights=weights, residual=residual)
    w = np.clip(np.asarray(weights), 0, None)
    w = w / w.sum() if w.sum() > 0 else np.full(len(chosen), 1 / len(chosen))
    np.testing.assert_allclose(out, reference(attn[:, chosen], w, residual), atol=1e-5)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 9), st.floats(0.0, 1.0))
def test_identity_when_every_head_attends_to_itself(layers: int, heads: int, t: int,
                                                    residual: float) -> None:
    attn = np.broadcast_to(np.eye(t), (layers, heads, t, t)).copy()
    out = exbert.rollout(dense_analysis(attn), residual=residual)
    np.testing.assert_array_equal(out, np.broadcast_to(np.eye(t), out.shape))


def test_full_residual_is_identity_and_zero_residual_is_the_attention_product() -> None:
    rng = np.random.default_rng(0)
    attn = rng.random((3, 2, 5, 5))
    attn /= attn.sum(-1, keepdims=True)
    a = dense_analysis(attn)
    np.testing.assert_allclose(exbert.rollout(a, residual=1.0), np.broadcast_to(np.eye(5),
                                                                                 (3, 5, 5)))
    mean = attn.mean(1)
    np.testing.assert_allclose(exbert.rollout(a, residual=0.0)[2], mean[2] @ mean[1] @ mean[0],
                               rtol=1e-5)


@pytest.mark.parametrize("family", ["bert", "llama", "gemma3"])
def test_lazy_rollout_equals_full(tiny: Any, family: str) -> None:
    model = tiny(family)
    full = model.analyze(TEXT, attention="full", top_k=0)
    lazy = model.analyze(TEXT, attention="lazy", top_k=0)
    for kwargs in ({}, {"heads": [1, 3], "weights": [0.25, 0.75], "residual": 0.3}):
        a, b = exbert.rollout(full, **kwargs), exbert.rollout(lazy, **kwargs)
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    if family != "bert":
        assert not np.triu(exbert.rollout(full), k=1).any()


def test_rollout_past_the_byte_limit_says_how_long_an_input_fits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("exbert.analysis.rollout")  # the name is the function

    attn = np.broadcast_to(np.eye(20), (3, 1, 20, 20)).copy()
    monkeypatch.setattr(module, "MAX_ROLLOUT_BYTES", 3 * 10 * 10 * 4)
    with pytest.raises(TooLargeForBudget) as err:
        exbert.rollout(dense_analysis(attn))
    assert "20 tokens" in err.value.message and "at most 10 tokens" in err.value.message
    assert err.value.details["limit"] == 3 * 10 * 10 * 4


@pytest.mark.parametrize("kwargs", [{"residual": 1.5}, {"residual": float("nan")},
                                    {"heads": [5]}, {"heads": []}, {"weights": [1.0]}])
def test_bad_requests_are_invalid_requests(kwargs: dict[str, Any]) -> None:
    attn = np.broadcast_to(np.eye(4), (2, 2, 4, 4)).copy()
    with pytest.raises(InvalidRequest):
        exbert.rollout(dense_analysis(attn), **kwargs)
