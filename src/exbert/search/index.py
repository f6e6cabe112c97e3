"""FAISS indexes over the stored int8 codes, the read side (the files are written by
:mod:`exbert.corpus.faiss_files`).

Exact search: each (kind, layer) is stored as FAISS ``IndexScalarQuantizer(QT_8bit_uniform)``
files (storage "sq8") or ``IndexPQ`` files (storage "pq": product-quantisation codes) of at most
``CHUNK_VECTORS`` vectors; the kind of each file is read from the file itself. The files
are the one stored copy of the vectors: they are opened memory-mapped (``IO_FLAG_MMAP_IFC``, no
copy in RAM) after their checksum is
verified, and searched in parallel threads (one query scans each chunk on its own core; FAISS
parallelises over queries, not over one query's database). The scan decodes ``code * step``
and computes float inner products: it returns exactly what a brute-force numpy search over
the decoded stored vectors returns (``tests/integration/test_corpus_search.py``). A PQ file
is searched by FAISS's table lookups (the inner product with the decoded vector) without a
mask, and with a mask by scoring the allowed vectors decoded (``sa_decode``) in blocks (FAISS's
``IndexPQ`` takes no selector); its stored vectors are the decoded codes.

Approximate search (optional, ``build(..., approximate=True)``): an IVF index per
(kind, layer) over the same vectors, whose candidates (``rerank`` times k) are re-scored
exactly from the int8 codes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The threads that scan index chunks in parallel (one per core)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                            thread_name_prefix="exbert-search"))
        return _POOL[0]


def codes_view(path: Path, n: int, dim: int) -> np.ndarray:
    """The codes inside an exact-index file (FAISS stores them last) as a read-only memmap."""
    import numpy as np

    size = path.stat().st_size
    if n == 0:
        return np.zeros((0, dim), dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=size - n * dim, shape=(n, dim))


def _merge(scores: list[np.ndarray], ids: list[np.ndarray], k: int) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Top k of several candidate lists by score, ties broken by the smaller id."""
    import numpy as np

    s = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    i = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    keep = i >= 0
    s, i = s[keep], i[keep]
    order = np.lexsort((i, -s))[:k]
    return s[order], i[order]


def _selector(mask: np.ndarray) -> tuple[Any, np.ndarray]:
    import faiss
    import numpy as np

    bits = np.packbits(mask.astype(bool), bitorder="little")
    return faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)), bits


_DECODE_BLOCK = 1 << 15


def _is_sq(index: Any) -> bool:
    import faiss

    return isinstance(faiss.downcast_index(index), faiss.IndexScalarQuantizer)


def _masked_decoded(index: Any, q: np.ndarray, allowed: np.ndarray, k: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Top k of the ``allowed`` local ids of a non-SQ index, scored on decoded vectors."""
    import numpy as np

    scores = np.empty(len(allowed), dtype=np.float32)
    for s in range(0, len(allowed), _DECODE_BLOCK):
        ids = allowed[s : s + _DECODE_BLOCK]
        scores[s : s + len(ids)] = index.reconstruct_batch(ids) @ q[0]
    return _merge([scores], [allowed], k)


class ExactIndex:
    """Exact inner-product search over the chunk files of one (kind, layer): each file an
    ``IndexScalarQuantizer`` (8-bit codes, read through a memmap of its codes) or another
    FAISS flat-code index such as ``IndexPQ`` (vectors decoded by FAISS)."""

    def __init__(self, paths: Sequence[Path], n: int, dim: int, step: float,
                 chunk: int) -> None:
        import faiss

        self.dim, self.step, self.n, self.chunk = dim, step, n, chunk
        self.paths = list(paths)
        self.starts = [c * chunk for c in range(len(self.paths))]
        self.sizes = [min(chunk, n - s) for s in self.starts]
        self.indexes = [faiss.read_index(str(p), faiss.IO_FLAG_MMAP_IFC) for p in self.paths]
        for idx, size, p in zip(self.indexes, self.sizes, self.paths, strict=True):
            if idx.ntotal != size or idx.d != dim:
                raise ValueError(f"{p.name}: {idx.ntotal} vectors of width {idx.d}, "
                                 f"expected {size} of width {dim}")
        self.sq = [_is_sq(idx) for idx in self.indexes]
        self._codes = [codes_view(p, s, dim) if sq else None
                       for p, s, sq in zip(self.paths, self.sizes, self.sq, strict=True)]

    @property
    def storage(self) -> str:
        """"sq8" when every chunk holds 8-bit codes, else "pq" (some chunk is compressed)."""
        return "sq8" if all(self.sq) else "pq"

    def search(self, query: np.ndarray, k: int,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and global ids of the k best vectors (restricted to ``mask`` if given)."""
        import faiss
        import numpy as np

        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)

        def one(c: int) -> tuple[np.ndarray, np.ndarray]:
            idx, start, size = self.indexes[c], self.starts[c], self.sizes[c]
            kk = min(k, size)
            if kk <= 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            if mask is None:
                d, i = idx.search(q, kk)
            else:
                part = mask[start : start + size]
                if not part.any():
                    return np.zeros(0, np.float32), np.zeros(0, np.int64)
                if not self.sq[c]:
                    s, ids = _masked_decoded(idx, q, np.flatnonzero(part).astype(np.int64), kk)
                    return s, ids + start
                sel, bits = _selector(part)
                params = faiss.SearchParameters()
                params.sel = sel
                d, i = idx.search(q, kk, params=params)
                del bits
            ids = i[0].astype(np.int64)
            ids[ids >= 0] += start
            return d[0], ids

        if len(self.indexes) == 1:
            results = [one(0)]
        else:
            results = list(_pool().map(one, range(len(self.indexes))))
        return _merge([r[0] for r in results], [r[1] for r in results], k)

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The stored uint8 codes of ids (any order); sq8 chunks only."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.dim), dtype=np.uint8)
        chunk_of = ids // self.chunk
        for c in np.unique(chunk_of):
            sel = chunk_of == c
            codes = self._codes[int(c)]
            if codes is None:
                raise ValueError(f"{self.paths[int(c)].name} holds no 8-bit codes")
            out[sel] = codes[ids[sel] - self.starts[int(c)]]
        return out

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (rotated, decoded) float32 vectors of ids (any order)."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if all(self.sq):
            return (self.codes(ids).astype(np.float32) - 128.0) * np.float32(self.step)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        chunk_of = ids // self.chunk
        for c in np.unique(chunk_of):
            sel = chunk_of == c
            local = ids[sel] - self.starts[int(c)]
            if self.sq[int(c)]:
                out[sel] = (self.codes(ids[sel]).astype(np.float32) - 128.0) * np.float32(
                    self.step)
            else:
                out[sel] = self.indexes[int(c)].reconstruct_batch(local)
        return out


class ApproxIndex:
    """IVF-PQ candidates, re-scored exactly from the stored codes of ``exact``."""

    def __init__(self, path: Path, exact: ExactIndex, nprobe: int | None = None,
                 rerank: int = 10) -> None:
        import faiss

        index: Any = faiss.read_index(str(path))
        self.index = index
        self.exact = exact
        if index.ntotal != exact.n:
            raise ValueError(f"{path.name}: {index.ntotal} vectors, expected {exact.n}")
        nlist = int(faiss.extract_index_ivf(index).nlist)
        self.nprobe = nprobe or min(nlist, max(8, nlist // 64))
        self.rerank = rerank

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss
        import numpy as np

        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe or self.nprobe
        bits = None
        if mask is not None:
            params.sel, bits = _selector(mask)
        kk = min(self.exact.n, max(k * self.rerank, k + 64))
        _, cand = self.index.search(q, kk, params=params)
        del bits
        ids = cand[0][cand[0] >= 0].astype(np.int64)
        if len(ids) == 0:
            return np.zeros(0, np.float32), ids
        scores = self.exact.vectors(ids) @ q[0]
        return _merge([scores.astype(np.float32)], [ids], k)
