"""Max attention of matched corpus tokens: where a token's attention at a layer is strongest
(outward) and which token attends to it most (inward), for a set of heads.

All heads and single heads, special tokens skipped, come from the argmaxes the build stored
(``attn_Lxx.npy`` int16 [n_tokens, 2H+2]: per head outward, per head inward, mean outward,
mean inward; ``attnw_Lxx.npy`` float16 the same shape: their weights; -1 = none). Other head
subsets, and counting special tokens, re-run the matched sentences through the model.

Layers here are the stored hidden-state indices ``1..L`` (``attn_L04`` is ``attentions[3]``,
layer 3 as users name it); :class:`~exbert.search.corpus.Corpus` converts at its edge.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from exbert.corpus.layout import ATTENTION_KINDS, layer_file
from exbert.search.results import MaxAttention

if TYPE_CHECKING:
    import numpy as np

    from exbert.models import Model
    from exbert.search.files import CorpusFiles
    from exbert.search.tables import CorpusTables

MaxAttentions = tuple[list[MaxAttention | None], str | None]
_RERUN_BATCH = 16


def needs_rerun(heads: list[int] | None, n_heads: int, special_attention: bool) -> bool:
    """Whether the max attention of ``heads`` (checked, None = all) re-runs the sentences."""
    return special_attention or not (heads is None or len(heads) in (1, n_heads))


class MaxAttentionReader:
    """Max attention of token ids; the stored argmaxes of a layer are mapped on first use."""

    def __init__(self, files: CorpusFiles, tables: CorpusTables) -> None:
        self._files = files
        self._tables = tables
        self._lock = threading.Lock()
        self._stored: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _argmaxes(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if layer not in self._stored:
                n = self._files.manifest.n_tokens
                argmax, weight = (self._files.npy(layer_file(kind, layer), n)
                                  for kind in ATTENTION_KINDS)
                self._stored[layer] = (argmax, weight)
            return self._stored[layer]

    def needs_model(self, heads: list[int] | None, special_attention: bool) -> bool:
        """Whether these heads (None = all) need the matched sentences re-run: the build
        stored the argmaxes of all heads and of each single head, special tokens skipped."""
        return needs_rerun(heads, self._files.manifest.model.heads, special_attention)

    def of(self, ids: np.ndarray, layer: int, heads: list[int] | None, model: Model | None,
           special_attention: bool) -> MaxAttentions:
        """For each token id int64 [n]: its :class:`MaxAttention` at stored hidden-state index
        ``layer`` (1..L: ``attentions[layer - 1]``) summing the attention of ``heads`` (None =
        all, sorted and checked), or None; and the reason when none could be computed. A
        special token has none unless ``special_attention`` (which only a corpus with special
        tokens should pass)."""
        n_heads = self._files.manifest.model.heads
        if not self.needs_model(heads, special_attention):
            return self._stored_of(ids, layer, heads), None
        if model is None:
            what = "counting special tokens" if special_attention else "for a subset of heads"
            return [None] * len(ids), (
                f"max attention {what} needs the full attention: pass the model "
                "(exbert.search.search does) to compute it from the matched sentences")
        selected = heads if heads is not None else list(range(n_heads))
        return self._recompute(ids, layer, selected, model, special_attention), None

    def _stored_of(self, ids: np.ndarray, layer: int, heads: list[int] | None
                   ) -> list[MaxAttention | None]:
        import numpy as np

        n_heads = self._files.manifest.model.heads
        a, w = self._argmaxes(layer)
        if heads is None or len(heads) == n_heads:
            c_out, c_in = 2 * n_heads, 2 * n_heads + 1
        else:
            c_out, c_in = heads[0], n_heads + heads[0]
        rows_a, rows_w = np.asarray(a[ids]), np.asarray(w[ids]).astype(np.float32)
        return [None if ra[c_out] < 0 or ra[c_in] < 0 else
                MaxAttention(int(ra[c_out]), float(rw[c_out]), int(ra[c_in]), float(rw[c_in]))
                for ra, rw in zip(rows_a, rows_w, strict=True)]

    def _recompute(self, ids: np.ndarray, layer: int, heads: list[int], model: Model,
                   special_attention: bool) -> list[MaxAttention | None]:
        """Max attention from the live attention of the matched sentences."""
        t = self._tables
        where = [t.sentence_of(int(i)) for i in ids]
        sids = sorted({s for s, _ in where})
        attn: dict[int, np.ndarray] = {}
        for start in range(0, len(sids), _RERUN_BATCH):
            group = sids[start : start + _RERUN_BATCH]
            analyses = model.analyze_batch([t.sentence_text(s) for s in group])
            for s, a in zip(group, analyses, strict=True):
                if a.n_tokens == int(t.sentences[s]["n_tokens"]):
                    m = a.full_attentions("max attention")[layer - 1][heads].sum(axis=0)
                    if not special_attention:
                        special = [tok.special for tok in a.tokens]
                        m[special, :] = 0
                        m[:, special] = 0
                    attn[s] = m
        out: list[MaxAttention | None] = []
        for s, p in where:
            m = attn.get(s)
            if m is None:
                out.append(None)
                continue
            row, col = m[p], m[:, p]
            o, i = int(row.argmax()), int(col.argmax())
            if row[o] == 0 or col[i] == 0:  # a special token, with special tokens skipped
                out.append(None)
                continue
            out.append(MaxAttention(o, float(row[o]) / len(heads), i,
                                    float(col[i]) / len(heads)))
        return out

    def close(self) -> None:
        with self._lock:
            self._stored.clear()
