"""The FAISS files of a corpus (read by :mod:`exbert.search.index`), written per shard
(:mod:`exbert.corpus.shard_files`; the optional IVF index by :mod:`exbert.corpus.finalize` or
``exbert corpus index``).

Exact: each (kind, layer) is stored as FAISS ``IndexScalarQuantizer(QT_8bit_uniform)`` files
of at most ``CHUNK_VECTORS`` vectors, whose codes are the uint8 codes of
:mod:`exbert.corpus.vectors` unchanged (decoding gives exactly ``(code - 128) * step``): the
files are the one stored copy of the vectors.

Approximate (optional, ``build(..., approximate=True)``): an ``IndexIVFPQ`` per (kind, layer)
over the decoded vectors (``PQ`` with one byte per 8 dimensions, so about 1/8 of the codes'
size plus 8-byte ids; IVF-Flat below SMALL_IVF vectors). Searches re-score its candidates
exactly from the codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


SMALL_IVF = 20_000  # below this many vectors the approximate index is IVF-Flat


def make_sq(dim: int, step: float) -> Any:
    """An empty exact index whose decoding is ``(uint8 - 128) * step``."""
    import faiss
    import numpy as np

    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit_uniform,
                                       faiss.METRIC_INNER_PRODUCT)
    trained = np.array([-128.5 * step, 255.0 * step], dtype=np.float32)
    faiss.copy_array_to_vector(trained, index.sq.trained)
    index.is_trained = True
    return index


def serialize_codes(codes: np.ndarray, step: float) -> memoryview:
    """The FAISS file bytes of an exact index holding ``codes`` (uint8 [n, dim])."""
    import faiss
    import numpy as np

    index = make_sq(int(codes.shape[1]), step)
    if len(codes):
        index.add_sa_codes(codes)
    return np.asarray(faiss.serialize_index(index)).data


def ivf_shape(n: int, dim: int) -> tuple[int, int]:
    """(nlist, PQ sub-quantizers; 0 = no PQ) for n vectors of width dim."""
    if n < SMALL_IVF:
        return max(1, min(256, n // 64)), 0
    nlist = 1 << max(4, min(16, round(math.log2(4 * math.sqrt(n)))))
    m = dim // 8 if dim % 8 == 0 else dim // 4 if dim % 4 == 0 else dim
    return nlist, m


def build_ivf(parts: Sequence[np.ndarray], n: int, dim: int, step: float,
              *, seed: int = 1234) -> memoryview:
    """The FAISS file bytes of an IVF-PQ index (IVF-Flat for small corpora) over the decoded
    codes of ``parts`` (uint8 [n_i, dim] arrays, or float32 vectors already decoded;
    concatenated: n rows in all)."""
    import faiss
    import numpy as np

    nlist, m = ivf_shape(n, dim)
    quantizer = faiss.IndexFlatIP(dim)
    index: Any
    if m:
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    n_train = min(n, max(40 * nlist, 20_000), 200_000)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=n_train, replace=False))
    offsets = np.cumsum([0] + [len(p) for p in parts])
    sample = np.empty((n_train, dim), dtype=np.float32)
    for j, p in enumerate(parts):
        sel = chosen[(chosen >= offsets[j]) & (chosen < offsets[j + 1])]
        rows = np.searchsorted(chosen, sel)
        sample[rows] = _decoded(p[sel - offsets[j]], step)
    index.train(sample)
    for p in parts:
        for s in range(0, len(p), 65536):
            index.add(_decoded(p[s : s + 65536], step))
    return np.asarray(faiss.serialize_index(index)).data


def _decoded(rows: np.ndarray, step: float) -> np.ndarray:
    """uint8 codes -> ``(code - 128) * step``; float rows (decoded PQ vectors) as they are."""
    import numpy as np

    if rows.dtype == np.uint8:
        out: np.ndarray = (np.asarray(rows, dtype=np.float32) - 128.0) * np.float32(step)
        return out
    return np.ascontiguousarray(rows, dtype=np.float32)


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of the chunks of ``size`` rows over ``n`` rows (one empty chunk for
    n = 0)."""
    return [(s, min(n, s + size)) for s in range(0, max(n, 1), size)]


def gather(parts: list[np.ndarray], start: int, stop: int, width: int) -> np.ndarray:
    """Rows start..stop, uint8 [stop - start, width], of the concatenation of ``parts``
    (without concatenating all)."""
    import numpy as np

    out = np.empty((stop - start, width), dtype=np.uint8)
    offset = 0
    pos = 0
    for p in parts:
        lo, hi = offset, offset + len(p)
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            out[pos : pos + (b - a)] = p[a - lo : b - lo]
            pos += b - a
        offset = hi
    return out
