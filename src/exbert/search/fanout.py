"""The parts of a corpus (one per shard, :mod:`exbert.search.part`) as one: global ids from
the shards' offsets, calls on every part in parallel threads, the exact merge of their top k,
and the matches' rows from the parts that own them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from exbert.models import Model
    from exbert.search.options import SearchOptions
    from exbert.search.results import Match


class Parts:
    """``parts`` in shard order; ``tok`` / ``sent``: int64 [parts + 1], the cumulative token
    and sentence counts (a part's offsets)."""

    def __init__(self, parts: Sequence[Any]) -> None:
        import numpy as np

        self.parts = list(parts)
        counts = [p.counts() for p in self.parts]
        self.sent = np.cumsum([0] + [int(c[0]) for c in counts]).astype(np.int64)
        self.tok = np.cumsum([0] + [int(c[1]) for c in counts]).astype(np.int64)
        self.sizes = [int(c[1]) for c in counts]
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.parts)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``fn`` of each item, in parallel threads when there are several (a pool of this
        corpus, so that a part's own chunk threads never wait on it)."""
        if len(items) <= 1:
            return [fn(x) for x in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=max(1, min(len(self.parts), os.cpu_count() or 1)),
                    thread_name_prefix="exbert-shards")
            pool = self._pool
        return list(pool.map(fn, items))

    def of_token(self, token_id: int) -> tuple[int, int]:
        """(part index, local token id) of a global token id."""
        import numpy as np

        tid = int(token_id)
        if not 0 <= tid < int(self.tok[-1]):
            raise IndexError(f"token id {tid} out of range")
        p = int(np.searchsorted(self.tok, tid, side="right")) - 1
        return p, tid - int(self.tok[p])

    def by_part(self, ids: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(part, positions in ``ids``, local ids) for global token ids ``ids``."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= int(self.tok[-1])):
            raise IndexError("token id out of range")
        owner = np.searchsorted(self.tok, ids, side="right") - 1
        out = []
        for p in np.unique(owner):
            where = np.flatnonzero(owner == p)
            out.append((int(p), where, ids[where] - self.tok[int(p)]))
        return out

    def top(self, kind: str, hidden: int, query: np.ndarray, opts: SearchOptions
            ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Every part's top ``opts.k``, merged exactly: (scores, GLOBAL ids, all exact?),
        by score desc, then global id asc."""
        import numpy as np

        live = [i for i, n in enumerate(self.sizes) if n]
        tops = self.map(lambda i: self.parts[i].top(kind, hidden, query, opts), live)
        scores = [np.asarray(t[0], dtype=np.float32) for t in tops]
        ids = [np.asarray(t[1], dtype=np.int64) + self.tok[i]
               for i, t in zip(live, tops, strict=True)]
        s = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        g = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        order = np.lexsort((g, -s))[: opts.k]
        return s[order], g[order], all(bool(t[2]) for t in tops)

    def rows(self, by: str, hidden: int, opts: SearchOptions, scores: np.ndarray,
             ids: np.ndarray, model: Model | None) -> tuple[list[Match], str | None]:
        """The matches of global ids (rank = their order) from the parts that own them."""
        groups = self.by_part(ids)

        def one(group: tuple[int, np.ndarray, np.ndarray]) -> tuple[list[Match], str | None]:
            p, where, local = group
            got: tuple[list[Match], str | None] = self.parts[p].rows(
                by, hidden, opts, scores[where], local, model)
            return got

        found = self.map(one, groups)
        matches: list[Any] = [None] * len(ids)
        reason = None
        for (p, where, _), (got, why) in zip(groups, found, strict=True):
            reason = reason or why
            for w, m in zip(where.tolist(), got, strict=True):
                matches[w] = replace(m, rank=w, sentence_id=m.sentence_id + int(self.sent[p]),
                                     token_id=m.token_id + int(self.tok[p]))
        return matches, reason

    def max_attention(self, ids: np.ndarray, hidden: int, heads: Sequence[int] | None,
                      model: Model | None, special_attention: bool
                      ) -> tuple[list[Any], str | None]:
        out: list[Any] = [None] * len(ids)
        reason = None
        for p, where, local in self.by_part(ids):
            got, why = self.parts[p].max_attention(local, hidden, heads, model,
                                                   special_attention)
            reason = reason or why
            for w, g in zip(where.tolist(), got, strict=True):
                out[w] = g
        return out, reason

    def close(self) -> None:
        for part in self.parts:
            part.close()
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
