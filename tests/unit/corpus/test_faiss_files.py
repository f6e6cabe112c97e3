"""exbert.corpus.faiss_files: the FAISS files a build writes, read back as the search side
reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exbert.corpus import vectors as vec
from exbert.corpus.faiss_files import build_ivf, chunk_bounds, gather, serialize_codes
from exbert.search.index import ApproxIndex, ExactIndex, codes_view


def test_chunk_bounds_and_gather_cross_parts() -> None:
    assert chunk_bounds(0, 4) == [(0, 0)]
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    rows = np.arange(30, dtype=np.uint8).reshape(10, 3)
    parts = [rows[:3], rows[3:4], rows[4:]]
    for start, stop in [(0, 10), (2, 5), (3, 4), (4, 4), (9, 10)]:
        assert np.array_equal(gather(parts, start, stop, 3), rows[start:stop])


def test_exact_chunks_hold_the_codes_unchanged(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dim, n = 32, 50
    step = vec.code_step(dim)
    codes = vec.encode(vec.unit_rows(rng.standard_normal((n, dim))), vec.rotation(dim), step)
    paths = []
    for c, (start, stop) in enumerate(chunk_bounds(n, 20)):
        p = tmp_path / f"emb_L00.c{c:04d}.faiss"
        p.write_bytes(serialize_codes(gather([codes], start, stop, dim), step))
        paths.append(p)
    assert np.array_equal(codes_view(paths[0], 20, dim), codes[:20])
    index = ExactIndex(paths, n, dim, step, 20)
    np.testing.assert_allclose(index.vectors(np.arange(n)), vec.decode(codes, step))
    query = vec.decode(codes[7:8], step)[0]
    scores, ids = index.search(query, 1)
    assert ids.tolist() == [7]
    np.testing.assert_allclose(scores, [query @ query], rtol=1e-5)
    ivf = tmp_path / "ivf_emb_L00.faiss"
    ivf.write_bytes(build_ivf([codes[:30], codes[30:]], n, dim, step))
    assert ApproxIndex(ivf, index).search(query, 1)[1].tolist() == [7]
