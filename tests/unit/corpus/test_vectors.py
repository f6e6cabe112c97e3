"""exbert.corpus.vectors: rotation, 8-bit codes, context queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exbert.corpus import vectors as vec


@pytest.mark.parametrize("dim", [384, 576])
def test_rotation_is_orthogonal_and_deterministic(dim: int) -> None:
    r = vec.rotation(dim)
    assert r.dtype == np.float32 and r.shape == (dim, dim)
    np.testing.assert_allclose(r @ r.T, np.eye(dim), atol=1e-5)
    assert np.array_equal(r, vec.rotation(dim))


def test_encoding_preserves_cosine() -> None:
    rng = np.random.default_rng(0)
    dim = 384
    x = rng.standard_normal((500, dim)).astype(np.float32)
    x[:, 7] *= 40  # an outlier dimension, as in real transformer states
    u = vec.unit_rows(x)
    r, step = vec.rotation(dim), vec.code_step(dim)
    codes = vec.encode(u, r, step)
    assert codes.dtype == np.uint8
    stored = vec.decode(codes, step)
    q = vec.rotate_query(u[:10], r)
    approx = q @ stored.T
    exact = u[:10] @ u.T
    assert np.abs(approx - exact).max() < 0.01
    assert np.all(np.argmax(approx, axis=1) == np.arange(10))


def test_context_query_is_mean_per_head_cosine() -> None:
    rng = np.random.default_rng(1)
    heads, dh = 6, 16
    a = rng.standard_normal((heads, dh)).astype(np.float32)
    b = rng.standard_normal((heads, dh)).astype(np.float32)
    stored = vec.unit_heads(b)
    assert math.isclose(float(np.linalg.norm(stored)), 1.0, rel_tol=1e-5)
    for sel in ([0], [1, 4], list(range(heads))):
        q, factor = vec.context_query(a, sel)
        per_head = [float(a[h] @ b[h] / np.linalg.norm(a[h]) / np.linalg.norm(b[h]))
                    for h in sel]
        assert math.isclose(float(q @ stored) * factor, float(np.mean(per_head)), abs_tol=1e-5)
