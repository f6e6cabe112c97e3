"""The nearest corpus tokens of a query vector: the per-layer FAISS indexes of a corpus,
opened on first use and kept, and the top-k under a filter mask."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from exbert.corpus.layout import layer_key

if TYPE_CHECKING:
    import numpy as np

    from exbert.search.files import CorpusFiles
    from exbert.search.index import ApproxIndex, ExactIndex


class NearestTokens:
    """Index cache of one corpus. ``kind`` is ``"emb"`` (hidden states) or ``"ctx"``
    (per-head contexts); a query is a rotated unit vector float32 [D]."""

    def __init__(self, files: CorpusFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._exact: dict[str, ExactIndex] = {}
        self._approx: dict[str, ApproxIndex] = {}

    def exact(self, kind: str, layer: int) -> ExactIndex:
        from exbert.search.index import ExactIndex

        files, v = self._files, self._files.vectors
        key = layer_key(kind, layer)
        with self._lock:
            if key in self._exact:
                return self._exact[key]
            names = list(v["chunks"][key])
            files.verify(names)
            try:
                index = ExactIndex([files.data / n for n in names], files.manifest.n_tokens,
                                   int(v["width"][kind]), float(v["step"][kind]),
                                   int(v["chunk_vectors"]))
            except (RuntimeError, ValueError) as exc:
                files.corrupt(names[0], f"unreadable index: {exc}")
            self._exact[key] = index
            return index

    def approximate(self, kind: str, layer: int) -> ApproxIndex | None:
        """The approximate index of a layer, or None when the corpus has none."""
        from exbert.search.index import ApproxIndex

        key = layer_key(kind, layer)
        fname = self._files.vectors.get("approximate", {}).get(key)
        if fname is None:
            return None
        exact = self.exact(kind, layer)
        with self._lock:
            if key not in self._approx:
                self._files.verify([fname])
                try:
                    self._approx[key] = ApproxIndex(self._files.data / fname, exact)
                except (RuntimeError, ValueError) as exc:
                    self._files.corrupt(fname, f"unreadable index: {exc}")
            return self._approx[key]

    def top(self, kind: str, layer: int, query: np.ndarray, k: int, mask: np.ndarray | None,
            exact: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        """(scores float32 [k'], token ids int64 [k'], exact?) of the ``k`` best allowed
        tokens, k' = min(k, allowed tokens). ``exact=False`` needs an approximate index; when
        it returns fewer than k' tokens the exact search answers."""
        import numpy as np

        index = self.exact(kind, layer)
        n = index.n
        allowed = n if mask is None else int(mask.sum())
        want = min(k, allowed)
        if want == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), True
        approx = None if exact else self.approximate(kind, layer)
        if approx is not None:
            s, i = approx.search(query, want, mask)
            if len(i) >= want:
                return s, i, False
        if mask is not None and allowed / n >= 0.25:
            # most tokens allowed: an unrestricted scan with post-filtering is faster than a
            # selector; exact as long as enough allowed tokens are among the fetched ones
            fetch = min(n, math.ceil(2 * want * n / allowed) + 16)
            s, i = index.search(query, fetch)
            keep = mask[i]
            if int(keep.sum()) >= want:
                return s[keep][:want], i[keep][:want], True
        s, i = index.search(query, want, mask)
        return s, i, True

    def close(self) -> None:
        with self._lock:
            self._exact.clear()
            self._approx.clear()
