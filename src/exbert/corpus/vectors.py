"""How vectors are stored: one 8-bit copy, rotated, with a fixed scale.

Every stored vector is first made unit-length (cosine similarity becomes an inner product),
then multiplied by a random orthogonal matrix ``R`` (block-diagonal, stored in the corpus),
then rounded to int8 with one fixed step for the whole corpus::

    code = clip(rint((x / |x|) @ R / step), -127, 127)      step = 6 / (127 * sqrt(D))
    stored vector  x_hat = code * step                       (what every search compares)

Why: the rotation spreads the few huge "outlier" dimensions of transformer states over their
block of 128 dimensions, so every coordinate of a unit vector is close to N(0, 1/D); a fixed
step that covers SCALE_SIGMAS standard deviations then wastes little range, needs no
statistics of the data (so a build writes final codes shard by shard, and a resumed build
gives the same codes), and clips essentially never. Inner products are unchanged by the
rotation (``R`` is orthogonal): the query is rotated the same way. On real token vectors the
ranking of the top matches equals the float32 ranking up to near-ties.

Contexts are normalised *per head* and the concatenation divided by sqrt(H), so that a search
restricted to a subset S of heads is an exact cosine between the concatenations of the
per-head-normalised contexts over S (see :func:`context_query`).

Codes are written in FAISS's ``QT_8bit_uniform`` layout (uint8 = code + 128; decoding
``vmin + (c + 0.5) * vdiff / 255`` with ``vmin = -128.5 * step``, ``vdiff = 255 * step``
gives exactly ``code * step``), so the same bytes are the storage and the exact index.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SCALE_SIGMAS = 6.0
ROTATION_SEED = 0x65786265  # "exbe"
EPS = 1e-12


def code_step(dim: int) -> float:
    return SCALE_SIGMAS / (127.0 * math.sqrt(dim))


def block_size(dim: int) -> int:
    """The size of the rotation's diagonal blocks: 128, 64 or 32 when it divides ``dim``."""
    for b in (128, 64, 32):
        if dim % b == 0:
            return b
    return dim


@functools.lru_cache(maxsize=8)
def rotation_block(dim: int, seed: int = ROTATION_SEED) -> np.ndarray:
    """A random orthogonal [b, b] float32 matrix, b = :func:`block_size` (QR of a Gaussian,
    signs fixed), read-only."""
    b = block_size(dim)
    rng = np.random.default_rng(seed + dim)
    q, r = np.linalg.qr(rng.standard_normal((b, b)))
    q *= np.sign(np.diag(r))[None, :]
    out = np.ascontiguousarray(q, dtype=np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def rotation(dim: int, seed: int = ROTATION_SEED) -> np.ndarray:
    """The [dim, dim] orthogonal matrix R: block-diagonal, every block :func:`rotation_block`.

    Blocks of 128 (or 64, 32) dimensions are enough: an outlier dimension is spread over its
    block (its largest coordinate shrinks by sqrt(128)), and the encoding then costs a third
    (384 dims) to a ninth (576) of a dense rotation. A build stores R in the corpus; searches
    read it from there, never regenerate it."""
    block = rotation_block(dim, seed)
    b = block.shape[0]
    out = np.zeros((dim, dim), dtype=np.float32)
    for i in range(0, dim, b):
        out[i : i + b, i : i + b] = block
    out.flags.writeable = False
    return out


def _norms(x: np.ndarray) -> np.ndarray:
    """Euclidean norms of the last axis (keepdims), at least EPS; no [..., d] temporary."""
    norms: np.ndarray = np.sqrt(np.einsum("...i,...i->...", x, x))[..., None]
    out: np.ndarray = np.maximum(norms, np.float32(EPS))
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""

    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray = x / _norms(x)
    return out


def unit_heads(contexts: np.ndarray) -> np.ndarray:
    """[..., H, dh] -> [..., H*dh]: each head unit-length, the whole divided by sqrt(H)."""

    c = np.asarray(contexts, dtype=np.float32)
    heads = c.shape[-2]
    unit: np.ndarray = c / (_norms(c) * np.float32(math.sqrt(heads)))
    return unit.reshape(*c.shape[:-2], heads * c.shape[-1])


def encode(unit: np.ndarray, rot: np.ndarray, step: float) -> np.ndarray:
    """Unit vectors [n, D] float32 -> uint8 codes [n, D] (FAISS QT_8bit_uniform layout).

    ``rot`` is :func:`rotation` (block-diagonal): each block of dimensions is multiplied by
    the block matrix in one GEMM. In torch, not numpy: numpy's BLAS starts its own threads,
    which fight the forward pass for the cores during a build."""
    import torch

    n, dim = unit.shape
    b = block_size(dim)
    x = torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))
    r = torch.from_numpy(np.asarray(rot[:b, :b], dtype=np.float32) * np.float32(1.0 / step))
    y = (x.view(n * (dim // b), b) @ r).round_().clamp_(-127, 127).add_(128)
    out: np.ndarray = y.to(torch.uint8).view(n, dim).numpy()
    return out


def encode_tensor(x: torch.Tensor, rot: np.ndarray, step: float,
                  heads: int | None = None) -> np.ndarray:
    """Raw vectors [n, D] (a tensor of any float dtype, on any device) -> uint8 codes [n, D]:
    made unit length by :func:`unit_rows`, or with ``heads`` by :func:`unit_heads` (per head
    of D / heads dimensions), the same normalisation as the query side. A CPU float32 tensor
    is read in place (no copy)."""
    import torch

    v = x.detach().to("cpu", torch.float32).numpy()
    unit = unit_rows(v) if heads is None else unit_heads(v.reshape(len(v), heads, -1))
    return encode(unit, rot, step)


def decode(codes: np.ndarray, step: float) -> np.ndarray:
    """uint8 codes [n, D] -> the stored (rotated) float32 vectors."""

    return (codes.astype(np.float32) - 128.0) * np.float32(step)


def rotate_query(unit: np.ndarray, rot: np.ndarray) -> np.ndarray:

    return np.ascontiguousarray(np.asarray(unit, dtype=np.float32) @ rot, dtype=np.float32)


def context_query(contexts: np.ndarray, heads: list[int]) -> tuple[np.ndarray, float]:
    """The query vector for a context search over ``heads`` and the factor that turns the raw
    inner product into the reported score.

    With ``u_h`` the unit-length context of head h: the stored vector is
    ``concat_h(u_h) / sqrt(H)`` and the query ``concat_{h in S}(u_h) / sqrt(|S|)`` (zeros on
    the other heads). Their inner product times ``sqrt(H / |S|)`` is
    ``mean_{h in S} cos(q_h, x_h)``, the cosine between the concatenations over S of the
    per-head-normalised contexts.
    """

    c = unit_rows(np.asarray(contexts, dtype=np.float32))  # [H, dh]
    n_heads, dh = c.shape
    q = np.zeros((n_heads, dh), dtype=np.float32)
    q[heads] = c[heads]
    q = q.reshape(-1) / np.float32(math.sqrt(len(heads)))
    return q, math.sqrt(n_heads / len(heads))
