"""``Corpus.open(dir)``: a verified, memory-mapped corpus, searchable by embedding or context.

A corpus is a set of shards (:mod:`exbert.corpus.manifest`; a schema-2 corpus is one). A
:class:`Corpus` is the facade over one part per shard (:mod:`~exbert.search.part`: the
single-folder reader: files and checksums, tables, filter masks, FAISS indexes, max attention),
local by default or given by a ``part_factory`` (e.g. Ray actors). A search computes the query
once, asks every part for its top k (in threads), merges exactly (score desc, then global token
id asc: the same matches as one unsharded index) and asks the owning parts for the matches'
rows. Users see GLOBAL ids: a shard's token (sentence) offset, the counts of the shards before
it, plus its local id. :mod:`~exbert.search.shard_tables` gives the tables as a whole.

Layers: its public methods take and return layers as everywhere in exbert
(:mod:`exbert.view`: ``"embeddings"`` or transformer layer ``0..L-1``); the parts read files
by the stored hidden-state index (``0..L``); :meth:`Corpus._stored` converts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import vectors as vec
from exbert.corpus.layout import layer_key
from exbert.corpus.manifest import CorpusManifest, check_model, read_manifest
from exbert.errors import CorpusCorrupt, InvalidRequest
from exbert.search.fanout import Parts
from exbert.search.files import MissingFile, Verify
from exbert.search.heads import HeadRanking, sum_heads
from exbert.search.max_attention import MaxAttentions, needs_rerun
from exbert.search.options import SearchOptions, as_vector, check_k
from exbert.search.part import EMBEDDINGS_HAVE_NO_ATTENTION, check_listings, open_local_parts
from exbert.search.results import CorpusToken, SearchResult, Summary
from exbert.search.shard_tables import ShardTables
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
    from exbert.search.files import CorpusFiles

_OPEN_ATTEMPTS = 3
PartFactory = Callable[[list[CorpusManifest], Path], list[Any]]
"""``part_factory(shard_manifests, corpus_path) -> parts`` (the protocol of
:mod:`exbert.search.part`), one per shard in order."""


class Corpus:
    """A published corpus. Thread-safe for concurrent searches."""

    def __init__(self, path: Path, manifest: CorpusManifest, verify: Verify = "auto",
                 part_factory: PartFactory | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.name: str = manifest.name or path.name
        shards = manifest.shard_manifests()
        if part_factory is None:
            self.parts: list[Any] = list(open_local_parts(shards, path, verify))
        else:  # every shard's listing and sizes checked here first, whoever loads them
            check_listings(shards, path)
            self.parts = list(part_factory(shards, path))
        self._parts = Parts(self.parts)
        if (int(self._parts.tok[-1]), int(self._parts.sent[-1])) != (
                manifest.n_tokens, manifest.n_sentences):
            raise CorpusCorrupt(f"{path}: the shards hold other counts than the manifest's",
                                path=str(path))
        self.tables = ShardTables(self.parts, self._parts.tok, self._parts.sent)
        self._rot: dict[str, np.ndarray] = {kind: self.parts[0].rotation(kind)
                     for kind in shards[0].raw.get("vectors", {}).get("rotation", {})}
        self._approximate = [set(p.approximate_keys()) for p in self.parts]
        self._model_ok: set[int] = set()

    @classmethod
    def open(cls, path: str | Path, model: Model | None = None, *,
             verify: Verify = "auto", part_factory: PartFactory | None = None) -> Corpus:
        """Open and verify the corpus in ``path`` (see :mod:`exbert.search.files`; every
        shard's listing and sizes are checked before anything is loaded); with ``model``,
        refuse a corpus that another model built (:class:`CorpusMismatch`, with the rebuild
        command). ``part_factory``: who holds the shards (default: this process)."""
        if verify not in ("auto", "full", "lazy"):
            raise InvalidRequest("verify must be 'auto', 'full' or 'lazy'")
        folder = Path(path).expanduser()
        for attempt in range(_OPEN_ATTEMPTS):
            manifest = read_manifest(folder)
            if model is not None:
                check_model(manifest, model, folder)
            try:
                corpus = cls(folder, manifest, verify, part_factory)
            except MissingFile as exc:  # replaced while opening: read the new manifest
                if attempt < _OPEN_ATTEMPTS - 1:
                    time.sleep(0.05)
                    continue
                command = manifest.rebuild_command
                raise CorpusCorrupt(f"{folder}: {exc} is missing; rebuild the corpus: {command}",
                                    path=str(folder), file=str(exc), rebuild_command=command
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
        """Verify every file's checksum now, in every shard (``exbert corpus info --verify``)."""
        for part in self.parts:
            part.verify()

    # --- what it holds ------------------------------------------------------------------------

    @property
    def files(self) -> CorpusFiles:
        """The files of a one-shard local corpus (tools and tests; see :attr:`parts`)."""
        if len(self.parts) != 1 or not hasattr(self.parts[0], "files"):
            raise AttributeError("a sharded corpus has files per part: corpus.parts[i].files")
        files: CorpusFiles = self.parts[0].files
        return files

    @property
    def verify_mode(self) -> Verify:
        files = getattr(self.parts[0], "files", None)
        return files.mode if files is not None else "auto"

    sentences = property(lambda self: self.tables.sentences, doc="[n_sentences] records")
    tokens = property(lambda self: self.tables.tokens, doc="[n_tokens] records (global ids)")
    words = property(lambda self: self.tables.words, doc="[n_words] records (union labels)")

    @property
    def labels(self) -> dict[str, list[str]]:
        """Per annotation field the labels of any shard (word label ids in :attr:`words`
        index these lists)."""
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
        """Whether every shard (with tokens) has approximate indexes."""
        return all(keys for keys, n in zip(self._approximate, self._parts.sizes, strict=True)
                   if n)

    def sentence_text(self, sid: int) -> str:
        p, local = self.tables.part_of_sentence(sid)
        text: str = self.parts[p].sentence_text(local)
        return text

    def sentence_of(self, token_id: int) -> tuple[int, int]:
        """(sentence id, position in the sentence) of a global token id."""
        p, local = self._parts.of_token(token_id)
        sid, pos = self.parts[p].sentence_of(local)
        return int(sid) + int(self._parts.sent[p]), int(pos)

    def sentence_tokens(self, sid: int) -> list[CorpusToken]:
        """The model tokens of sentence ``sid`` with their words' annotation."""
        p, local = self.tables.part_of_sentence(sid)
        tokens: list[CorpusToken] = self.parts[p].sentence_tokens(local)
        return tokens

    def stored_vectors(self, kind: str, layer: Layer, ids: Sequence[int] | np.ndarray
                       ) -> np.ndarray:
        """The stored (rotated, decoded) vectors float32 [n, D] of token ids at ``layer``: what
        the exact search compares against. ``kind``: "emb" or "ctx"."""
        import numpy as np

        hidden = self._stored(layer, kind)
        width = int(self.manifest.raw["vectors"]["width"][kind])
        out = np.empty((len(ids), width), dtype=np.float32)
        for p, where, local in self._parts.by_part(np.asarray(ids, dtype=np.int64)):
            out[where] = self.parts[p].vectors(kind, hidden, local)
        return out

    def rotation(self, kind: str) -> np.ndarray:
        """The rotation float32 [D, D] applied to vectors of ``kind`` before encoding."""
        return self._rot[kind]

    def head_ranking(self) -> HeadRanking:
        """Head discovery: every stored layer x head scored per linguistic relation (the
        shards' counts summed)."""
        return HeadRanking.from_dict(sum_heads([p.heads() for p in self.parts]))

    def info(self) -> dict[str, Any]:
        """JSON-ready description (what ``exbert corpus info`` prints)."""
        m = self.manifest
        total = sum(int(p.total_bytes()) for p in self.parts)
        return {
            "name": self.name,
            "path": str(self.path),
            "model": m.model.to_dict(),
            "layers": list(self.layers),
            "context_layers": list(self.context_layers),
            "layer_convention": LAYER_CONVENTION,
            **{key: m.raw.get(key) for key in ("counts", "spacy", "input")},
            "approximate": self.has_approximate,
            "shards": len(self.parts),
            "storage": m.raw.get("storage") or {"vectors": "sq8"},
            "bytes": total,
            "bytes_per_token": round(total / max(1, m.n_tokens), 1),
            **{key: m.raw.get(key) for key in ("build", "created")},
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
        v = as_vector(vector, (self.manifest.model.hidden_size,), "vector")
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
        c = as_vector(contexts, (mi.heads, mi.head_dim), "contexts")
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
            return [None] * len(ids), EMBEDDINGS_HAVE_NO_ATTENTION
        return self._max_attention_at(ids, hidden, heads, model, special_attention)

    def _max_attention_at(self, ids: np.ndarray, hidden: int, heads: Sequence[int] | None,
                          model: Model | None, special_attention: bool) -> MaxAttentions:
        """:meth:`max_attention` at stored hidden-state index ``hidden`` (layer ``hidden - 1``)."""
        if hidden not in self.manifest.context_layers:
            return [None] * len(ids), (
                f"the attention of layer {hidden_to_layer(hidden)} is not stored")
        self._check_attention_model(heads, model, special_attention)
        return self._parts.max_attention(ids, hidden, heads, model, special_attention)

    def _check_attention_model(self, heads: Sequence[int] | None, model: Model | None,
                               special_attention: bool) -> None:
        """Check ``model`` when the max attention of ``heads`` will re-run sentences."""
        n_heads = self.manifest.model.heads
        special = special_attention and self.tables.has_special
        if model is not None and needs_rerun(check_heads(heads, n_heads), n_heads, special):
            self.check_model(model)

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
        """The merged top k of every part: scores, GLOBAL token ids, exact?"""
        key = layer_key(kind, layer)
        if not opts.exact and not all(key in keys for keys, n in zip(
                self._approximate, self._parts.sizes, strict=True) if n):
            raise InvalidRequest(
                f"corpus {self.name!r} has no approximate index; add one with `exbert corpus "
                "index DIR --approximate` (or rebuild it with --approximate), or search exactly"
            )
        self.tables.check(opts.conditions)
        return self._parts.top(kind, layer, query, opts)

    def _result(self, by: str, hidden: int, opts: SearchOptions, scores: np.ndarray,
                ids: np.ndarray, exact: bool, model: Model | None,
                started: float) -> SearchResult:
        n_heads = self.manifest.model.heads
        att_heads = list(opts.heads) if opts.heads is not None else list(range(n_heads))
        if hidden in self.manifest.context_layers:
            self._check_attention_model(att_heads, model, opts.special_attention)
        matches, reason = self._parts.rows(by, hidden, opts, scores, ids, model)
        if hidden == 0:
            reason = EMBEDDINGS_HAVE_NO_ATTENTION
        elif hidden not in self.manifest.context_layers:
            reason = f"the attention of layer {hidden_to_layer(hidden)} is not stored"
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
        self._parts.close()
