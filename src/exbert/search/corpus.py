"""``Corpus.open(dir)``: a verified, memory-mapped corpus, searchable by embedding or context.

A :class:`Corpus` puts together the parts of the read side, each in its own module:
:mod:`~exbert.search.files` (listing and checksums), :mod:`~exbert.search.tables` (sentences,
tokens, words), :mod:`~exbert.search.filters` (filter masks), :mod:`~exbert.search.nearest`
(FAISS indexes, top-k), :mod:`~exbert.search.max_attention` and
:mod:`~exbert.search.results` (what a search returns).

Layers: its public methods take and return layers as everywhere in exbert
(:mod:`exbert.view`: ``"embeddings"`` or transformer layer ``0..L-1``); the parts read files
by the stored hidden-state index (``0..L``); :meth:`Corpus._stored` converts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import vectors as vec
from exbert.corpus.layout import HEADS_FILE
from exbert.corpus.manifest import CorpusManifest, check_model, read_manifest
from exbert.errors import CorpusCorrupt, InvalidRequest
from exbert.search.files import CorpusFiles, MissingFile, Verify
from exbert.search.filters import FilterMasks
from exbert.search.heads import HeadRanking
from exbert.search.max_attention import MaxAttentionReader, MaxAttentions
from exbert.search.nearest import NearestTokens
from exbert.search.options import SearchOptions, check_k
from exbert.search.results import CorpusToken, Match, SearchResult, Summary
from exbert.search.tables import CorpusTables
from exbert.view import (
    DEFAULT_K,
    DEFAULT_WINDOW,
    EMBEDDINGS,
    LAYER_CONVENTION,
    Layer,
    check_heads,
    hidden_to_layer,
    layer_name,
    layer_to_hidden,
)

if TYPE_CHECKING:
    import numpy as np

    from exbert.models import Model

_OPEN_ATTEMPTS = 3


class Corpus:
    """A published corpus. Thread-safe for concurrent searches."""

    def __init__(self, path: Path, manifest: CorpusManifest, verify: Verify = "auto") -> None:
        self.path = path
        self.manifest = manifest
        self.name: str = manifest.name or path.name
        self.files = CorpusFiles(path, manifest, verify)
        self.tables = CorpusTables(self.files)
        self._masks = FilterMasks(self.tables)
        self._nearest = NearestTokens(self.files)
        self._max_attention = MaxAttentionReader(self.files, self.tables)
        self._heads = self.files.json(HEADS_FILE)
        self._rot = {kind: self.files.rotation(fname)
                     for kind, fname in self.files.vectors["rotation"].items()}
        self._model_ok: set[int] = set()

    @classmethod
    def open(cls, path: str | Path, model: Model | None = None, *,
             verify: Verify = "auto") -> Corpus:
        """Open and verify the corpus in ``path`` (see :mod:`exbert.search.files`); with
        ``model``, refuse a corpus that another model built (:class:`CorpusMismatch`, with the
        rebuild command)."""
        if verify not in ("auto", "full", "lazy"):
            raise InvalidRequest("verify must be 'auto', 'full' or 'lazy'")
        folder = Path(path).expanduser()
        for attempt in range(_OPEN_ATTEMPTS):
            manifest = read_manifest(folder)
            if model is not None:
                check_model(manifest, model, folder)
            try:
                corpus = cls(folder, manifest, verify)
            except MissingFile as exc:  # replaced while opening: read the new manifest
                if attempt < _OPEN_ATTEMPTS - 1:
                    time.sleep(0.05)
                    continue
                raise CorpusCorrupt(
                    f"{folder}: {exc} is missing; rebuild the corpus: "
                    f"{manifest.rebuild_command}",
                    path=str(folder), rebuild_command=manifest.rebuild_command,
                ) from None
            if model is not None:
                corpus._model_ok.add(id(model))
            return corpus
        raise AssertionError("unreachable")  # pragma: no cover

    def check_model(self, model: Model) -> None:
        """Raise :class:`CorpusMismatch` unless ``model`` is the model this corpus is for."""
        if id(model) in self._model_ok:
            return
        check_model(self.manifest, model, self.path)
        self._model_ok.add(id(model))

    def verify(self) -> None:
        """Verify every file's checksum now (``exbert corpus info --verify``)."""
        self.files.verify(list(self.manifest.files))

    # --- what it holds ------------------------------------------------------------------------

    @property
    def verify_mode(self) -> Verify:
        return self.files.mode

    @property
    def sentences(self) -> np.ndarray:
        return self.tables.sentences

    @property
    def tokens(self) -> np.ndarray:
        return self.tables.tokens

    @property
    def words(self) -> np.ndarray:
        return self.tables.words

    @property
    def labels(self) -> dict[str, list[str]]:
        return self.tables.labels

    @property
    def n_tokens(self) -> int:
        return self.manifest.n_tokens

    @property
    def n_sentences(self) -> int:
        return self.manifest.n_sentences

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers stored for embedding search: ``"embeddings"`` and/or ``0..L-1``."""
        return tuple(hidden_to_layer(b) for b in self.manifest.layers)

    @property
    def context_layers(self) -> tuple[int, ...]:
        """The layers stored for context search and max attention, ``0..L-1``."""
        return tuple(int(hidden_to_layer(b)) for b in self.manifest.context_layers)

    @property
    def has_approximate(self) -> bool:
        return bool(self.files.vectors.get("approximate"))

    def sentence_text(self, sid: int) -> str:
        return self.tables.sentence_text(sid)

    def sentence_of(self, token_id: int) -> tuple[int, int]:
        """(sentence id, position in the sentence) of a global token id."""
        return self.tables.sentence_of(token_id)

    def sentence_tokens(self, sid: int) -> list[CorpusToken]:
        """The model tokens of sentence ``sid`` with their words' annotation."""
        return self.tables.sentence_tokens(sid)

    def stored_vectors(self, kind: str, layer: Layer, ids: Sequence[int] | np.ndarray
                       ) -> np.ndarray:
        """The stored (rotated, decoded) vectors float32 [n, D] of token ids at ``layer``: what
        the exact search compares against. ``kind``: "emb" or "ctx"."""
        import numpy as np

        hidden = self._stored(layer, kind)
        return self._nearest.exact(kind, hidden).vectors(np.asarray(ids, dtype=np.int64))

    def rotation(self, kind: str) -> np.ndarray:
        """The rotation float32 [D, D] applied to vectors of ``kind`` before encoding."""
        return self._rot[kind]

    def head_ranking(self) -> HeadRanking:
        """Head discovery: every stored layer x head scored per linguistic relation."""
        return HeadRanking.from_dict(self._heads)

    def info(self) -> dict[str, Any]:
        """JSON-ready description (what ``exbert corpus info`` prints)."""
        m = self.manifest
        total = self.files.total_bytes
        return {
            "name": self.name,
            "path": str(self.path),
            "model": m.model.to_dict(),
            "layers": list(self.layers),
            "context_layers": list(self.context_layers),
            "layer_convention": LAYER_CONVENTION,
            "counts": m.raw.get("counts"),
            "spacy": m.raw.get("spacy"),
            "input": m.raw.get("input"),
            "approximate": self.has_approximate,
            "bytes": total,
            "bytes_per_token": round(total / max(1, m.n_tokens), 1),
            "build": m.raw.get("build"),
            "created": m.raw.get("created"),
            "schema_version": m.schema_version,
            "rebuild_command": m.rebuild_command,
        }

    # --- search -------------------------------------------------------------------------------

    def search_embedding(
        self, vector: np.ndarray | Sequence[float], layer: Layer, k: int = DEFAULT_K,
        filters: Any = None, *, heads: Sequence[int] | None = None, exact: bool = True,
        include_special: bool = False, window: int = DEFAULT_WINDOW, model: Model | None = None,
        special_attention: bool = False,
    ) -> SearchResult:
        """The k corpus tokens whose output of ``layer`` (``"embeddings"`` or ``0..L-1``,
        negative from the end) is most cosine-similar to ``vector`` float32 [hidden].
        ``heads``: the heads of the max-attention summary (default all); the other options as
        in :class:`SearchOptions`. ``model`` lets a head subset's max attention, or one that
        counts special tokens, be computed (see :meth:`max_attention`)."""
        import numpy as np

        started = time.perf_counter()
        hidden = self._stored(layer, "emb")
        k = check_k(k)
        v = _as_vector(vector, (self.manifest.model.hidden_size,), "vector")
        opts = SearchOptions.of(self.manifest.model.heads, k=k, filters=filters, heads=heads,
                                exact=exact, include_special=include_special, window=window,
                                special_attention=special_attention)
        q = vec.rotate_query(vec.unit_rows(v), self._rot["emb"])
        scores, ids, exact = self._top("emb", hidden, q, opts)
        return self._result("embedding", hidden, opts, np.clip(scores, -1.0, 1.0), ids, exact,
                            model, started)

    def search_context(
        self, contexts: np.ndarray | Sequence[Sequence[float]], layer: int,
        heads: Sequence[int] | None = None, k: int = DEFAULT_K, filters: Any = None, *,
        exact: bool = True, include_special: bool = False, window: int = DEFAULT_WINDOW,
        model: Model | None = None, special_attention: bool = False,
    ) -> SearchResult:
        """The k corpus tokens whose per-head contexts at layer ``layer`` (``0..L-1``, negative
        from the end; ``contexts[layer]`` of an analysis) are closest to ``contexts`` float32
        [heads, head_dim], restricted to ``heads`` (default all); the other options as in
        :meth:`search_embedding`.

        Score: the mean over the selected heads of the per-head cosine, which is the cosine
        between the concatenations of the selected heads' unit-length contexts."""
        import numpy as np

        started = time.perf_counter()
        hidden = self._stored(layer, "ctx")
        mi = self.manifest.model
        k = check_k(k)
        c = _as_vector(contexts, (mi.heads, mi.head_dim), "contexts")
        opts = SearchOptions.of(mi.heads, k=k, filters=filters, heads=heads, exact=exact,
                                include_special=include_special, window=window,
                                special_attention=special_attention)
        selected = list(opts.heads) if opts.heads is not None else list(range(mi.heads))
        q, factor = vec.context_query(c, selected)
        if not np.any(q):
            raise InvalidRequest("the selected heads' contexts are all zero")
        q = vec.rotate_query(q, self._rot["ctx"])
        scores, ids, exact = self._top("ctx", hidden, q, opts)
        scores = np.clip(scores * np.float32(factor), -1.0, 1.0)
        return self._result("context", hidden, opts, scores, ids, exact, model, started)

    def max_attention(self, token_ids: Sequence[int] | np.ndarray, layer: Layer,
                      heads: Sequence[int] | None = None, model: Model | None = None, *,
                      special_attention: bool = False) -> MaxAttentions:
        """For each token id: where its attention at ``layer`` (``0..L-1``) is strongest
        (outward) and which token attends to it most (inward), summing the attention of
        ``heads``, among the sentence's non-special tokens (most heads park much of their
        attention on [CLS], [SEP] or BOS, which would otherwise be every match's answer);
        ``special_attention`` counts special tokens too. All heads and single heads come from
        the stored argmaxes; other subsets and ``special_attention`` re-run the matched
        sentences with ``model`` (without it: ``None`` and the reason). See
        :mod:`exbert.search.max_attention`."""
        import numpy as np

        ids = np.asarray(token_ids, dtype=np.int64)
        hidden = layer_to_hidden(layer, self.manifest.model.layers)
        if hidden == 0:
            return [None] * len(ids), "the embeddings have no attention: it starts at layer 0"
        return self._max_attention_at(ids, hidden, heads, model, special_attention)

    def _max_attention_at(self, ids: np.ndarray, hidden: int, heads: Sequence[int] | None,
                          model: Model | None, special_attention: bool) -> MaxAttentions:
        """:meth:`max_attention` at stored hidden-state index ``hidden`` (layer ``hidden - 1``)."""
        if hidden not in self.manifest.context_layers:
            return [None] * len(ids), (
                f"the attention of layer {hidden_to_layer(hidden)} is not stored")
        chosen = check_heads(heads, self.manifest.model.heads)
        special_attention = special_attention and self.tables.has_special  # else none to count
        if model is not None and self._max_attention.needs_model(chosen, special_attention):
            self.check_model(model)
        return self._max_attention.of(ids, hidden, chosen, model, special_attention)

    def _stored(self, layer: Layer, kind: str) -> int:
        """The stored hidden-state index of ``layer`` for search ``kind`` ("emb" or "ctx");
        :class:`InvalidRequest` when the model has no such layer or the corpus does not store
        it (naming what it stores)."""
        what = "embedding" if kind == "emb" else "context"
        if kind == "ctx" and layer == EMBEDDINGS:
            raise InvalidRequest("context search needs a layer 0..L-1: the embeddings have no "
                                 "attention", layer=EMBEDDINGS)
        hidden = layer_to_hidden(layer, self.manifest.model.layers)
        stored = self.manifest.layers if kind == "emb" else self.manifest.context_layers
        if hidden not in stored:
            names = [hidden_to_layer(b) for b in stored]
            raise InvalidRequest(
                f"{layer_name(hidden_to_layer(hidden))} is not stored for {what} search in corpus "
                f"{self.name!r}; stored {what} layers: {', '.join(map(str, names))}",
                layer=hidden_to_layer(hidden), stored=names,
            )
        return hidden

    def _top(self, kind: str, layer: int, query: np.ndarray, opts: SearchOptions
             ) -> tuple[np.ndarray, np.ndarray, bool]:
        if not opts.exact and self._nearest.approximate(kind, layer) is None:
            raise InvalidRequest(
                f"corpus {self.name!r} has no approximate index; rebuild it with "
                "--approximate, or search exactly"
            )
        mask = self._masks.mask(list(opts.conditions), opts.include_special)
        return self._nearest.top(kind, layer, query, opts.k, mask, opts.exact)

    def _result(self, by: str, hidden: int, opts: SearchOptions, scores: np.ndarray,
                ids: np.ndarray, exact: bool, model: Model | None,
                started: float) -> SearchResult:
        n_heads = self.manifest.model.heads
        att_heads = list(opts.heads) if opts.heads is not None else list(range(n_heads))
        if hidden == 0:
            max_att, reason = self.max_attention(ids, EMBEDDINGS)
        else:
            max_att, reason = self._max_attention_at(ids, hidden, att_heads, model,
                                                     opts.special_attention)
        texts: dict[int, tuple[str, list[CorpusToken]]] = {}
        matches = []
        for rank, (score, tid, ma) in enumerate(zip(scores.tolist(), ids.tolist(), max_att,
                                                    strict=True)):
            sid, pos = self.sentence_of(tid)
            if sid not in texts:
                texts[sid] = (self.sentence_text(sid), self.sentence_tokens(sid))
            text, toks = texts[sid]
            matches.append(Match(rank=rank, score=float(score), sentence_id=sid,
                                 token_id=int(tid), position=pos, text=text, tokens=toks,
                                 max_attention=ma, document=self.tables.document(sid)))
        return SearchResult(
            corpus=self.name,
            model=self.manifest.model.name,
            by=by,
            layer=hidden_to_layer(hidden),
            heads=opts.head_list if by == "context" else None,
            k=opts.k,
            filters=[str(c) for c in opts.conditions],
            exact=exact,
            matches=matches,
            summary=Summary.of(matches, opts.window),
            attention_heads=att_heads,
            special_attention=opts.special_attention,
            max_attention_unavailable=reason,
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        self._nearest.close()
        self._max_attention.close()


def _as_vector(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as float32 ``shape``, finite and not all zero."""
    import numpy as np

    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{what} must be numbers") from None
    if arr.size != math.prod(shape):
        raise InvalidRequest(f"{what} must have shape {list(shape)}, not {list(arr.shape)}")
    arr = arr.reshape(shape)
    if not np.all(np.isfinite(arr)) or not np.any(arr):
        raise InvalidRequest(f"{what} must be finite and not all zero")
    return arr
