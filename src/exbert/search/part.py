"""One shard of a corpus, searchable on its own: the single-folder reader (a schema-2 corpus's
data folder, or one shard folder ``v-<id>/NNNNNN`` of a schema-3 corpus), behind a small
protocol that :class:`~exbert.search.corpus.Corpus` calls for every shard.

The part protocol (every argument and return value is picklable: numpy arrays, dataclasses,
lists, dicts; ids are LOCAL to the shard: token id ``0..n_tokens-1``, sentence id
``0..n_sentences-1``; layers are stored hidden-state indices ``0..L``)::

    counts() -> (sentences, tokens, words)
    labels() -> {field: [label]}                 the shard's labels.json
    document_fields() -> [field]                 its document metadata fields
    document_values() -> {field: [value text]}   its document metadata values (filters)
    heads() -> dict                              its heads.json (counts and eligible add up)
    has_special() -> bool                        whether it has special tokens
    approximate_keys() -> [key]                  the vector keys with an approximate index
    rotation(kind) -> float32 [D, D]
    total_bytes() -> int
    top(kind, hidden, query, opts) -> (scores float32 [k'], local ids int64 [k'], exact bool)
        the k' = min(opts.k, allowed) best allowed tokens (score desc, local id asc) for a
        rotated unit query; opts: SearchOptions (filters already checked against the union
        of the shards' values: a value this shard lacks matches nothing here)
    rows(by, hidden, opts, scores, local_ids, model) -> (list[Match], reason | None)
        the matches (LOCAL sentence and token ids, rank = the order given) with sentence text,
        tokens, max attention (re-run with ``model`` when the heads need it; the facade checks
        the model first) and document; reason: why max attention is unavailable
    max_attention(local_ids, hidden, heads, model, special_attention) -> (list, reason)
    vectors(kind, hidden, local_ids) -> float32 [n, D]   the stored (decoded) vectors
    sentence_text(sid), sentence_of(tid) -> (sid, position), sentence_tokens(sid),
    document(sid), table(name) -> the record array "sentences" | "tokens" | "words"
    verify() ; close()

``Corpus.open(path, part_factory=f)`` calls ``f(shard_manifests, corpus_path)`` for the
parts (one per shard, in order) after checking every shard's listing itself; a factory that
holds shards elsewhere (Ray actors) opens each with ``LocalPart(CorpusFiles(corpus_path,
shard_manifest, verify))`` there and forwards the protocol's calls (``model`` cannot travel:
a remote ``rows``/``max_attention`` gets ``None`` and answers with the reason, or loads the
model by name itself).

:func:`open_local_parts` opens the parts of a corpus in this process: it checks EVERY shard's
listing and file sizes before any file is read (a missing or truncated shard file is a
:class:`~exbert.errors.CorpusCorrupt` naming the shard folder and the file), then verifies
checksums and maps the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.layout import HEADS_FILE, layer_key
from exbert.search.files import CorpusFiles, Verify
from exbert.search.filters import FilterMasks
from exbert.search.max_attention import MaxAttentionReader, MaxAttentions
from exbert.search.nearest import NearestTokens
from exbert.search.results import CorpusToken, Match
from exbert.search.tables import CorpusTables
from exbert.view import check_heads, hidden_to_layer

if TYPE_CHECKING:
    import numpy as np

    from exbert.corpus.manifest import CorpusManifest
    from exbert.models import Model
    from exbert.search.options import SearchOptions

EMBEDDINGS_HAVE_NO_ATTENTION = "the embeddings have no attention: it starts at layer 0"


def open_local_parts(shards: Sequence[CorpusManifest], path: Path, verify: Verify = "auto"
                     ) -> list[LocalPart]:
    """The parts of a corpus (its :meth:`~CorpusManifest.shard_manifests`) in this process.
    Every shard's listing and sizes are checked first; ``verify="auto"`` decides full or lazy
    checksums by the whole corpus's size."""
    total = sum(int(f["size"]) for m in shards for f in m.files.values())
    files = [CorpusFiles(path, m, verify, total_bytes=total) for m in shards]
    return [LocalPart(f) for f in files]


def check_listings(shards: Sequence[CorpusManifest], path: Path) -> None:
    """Every shard's files exist with their recorded sizes (nothing is read):
    :class:`~exbert.errors.CorpusCorrupt` naming the shard folder and file."""
    for m in shards:
        CorpusFiles(path, m, "lazy")


class LocalPart:
    """One shard's files, tables, filter masks, indexes and max-attention reader."""

    def __init__(self, files: CorpusFiles) -> None:
        files.verify_on_open()
        self.files = files
        self.manifest = files.manifest
        self.tables = CorpusTables(files)
        self._masks = FilterMasks(self.tables, strict=False)
        self._nearest = NearestTokens(files)
        self._max_attention = MaxAttentionReader(files, self.tables)
        self._heads = files.json(HEADS_FILE)
        self._rot = {kind: files.rotation(fname)
                     for kind, fname in files.vectors["rotation"].items()}

    # --- what it holds ------------------------------------------------------------------------

    def counts(self) -> tuple[int, int, int]:
        m = self.manifest
        return m.n_sentences, m.n_tokens, m.n_words

    def labels(self) -> dict[str, list[str]]:
        return self.tables.labels

    def document_fields(self) -> list[str]:
        return list(self.tables.documents.fields)

    def document_values(self) -> dict[str, list[str]]:
        docs = self.tables.documents
        return {f: docs.value_texts(f) for f in docs.fields}

    def heads(self) -> dict[str, Any]:
        heads: dict[str, Any] = self._heads
        return heads

    def has_special(self) -> bool:
        return self.tables.has_special

    def approximate_keys(self) -> list[str]:
        return sorted(self.files.vectors.get("approximate") or {})

    def rotation(self, kind: str) -> np.ndarray:
        return self._rot[kind]

    def total_bytes(self) -> int:
        return self.files.total_bytes

    def table(self, name: str) -> np.ndarray:
        if name not in ("sentences", "tokens", "words"):
            raise ValueError(f"no table {name!r}")
        arr: np.ndarray = getattr(self.tables, name)
        return arr

    def sentence_text(self, sid: int) -> str:
        return self.tables.sentence_text(sid)

    def sentence_of(self, token_id: int) -> tuple[int, int]:
        return self.tables.sentence_of(token_id)

    def sentence_tokens(self, sid: int) -> list[CorpusToken]:
        return self.tables.sentence_tokens(sid)

    def document(self, sid: int) -> dict[str, str | int | float | bool] | None:
        return self.tables.document(sid)

    def vectors(self, kind: str, hidden: int, ids: np.ndarray) -> np.ndarray:
        import numpy as np

        return self._nearest.exact(kind, hidden).vectors(np.asarray(ids, dtype=np.int64))

    def verify(self) -> None:
        self.files.verify(list(self.manifest.files))

    # --- search -------------------------------------------------------------------------------

    def top(self, kind: str, hidden: int, query: np.ndarray, opts: SearchOptions
            ) -> tuple[np.ndarray, np.ndarray, bool]:
        """The top ``opts.k`` allowed tokens of this shard (see the module docstring)."""
        import numpy as np

        if not self.counts()[1]:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), True
        mask = self._masks.mask(list(opts.conditions), opts.include_special)
        return self._nearest.top(kind, hidden, query, opts.k, mask, opts.exact)

    def max_attention(self, ids: np.ndarray, hidden: int, heads: Sequence[int] | None,
                      model: Model | None, special_attention: bool) -> MaxAttentions:
        """Max attention of local token ids at stored index ``hidden`` (0: none)."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if hidden == 0:
            return [None] * len(ids), EMBEDDINGS_HAVE_NO_ATTENTION
        if hidden not in self.manifest.context_layers:
            return [None] * len(ids), (
                f"the attention of layer {hidden_to_layer(hidden)} is not stored")
        chosen = check_heads(heads, self.manifest.model.heads)
        special_attention = special_attention and self.tables.has_special
        return self._max_attention.of(ids, hidden, chosen, model, special_attention)

    def needs_model(self, heads: Sequence[int] | None, special_attention: bool) -> bool:
        chosen = check_heads(heads, self.manifest.model.heads)
        return self._max_attention.needs_model(
            chosen, special_attention and self.tables.has_special)

    def rows(self, by: str, hidden: int, opts: SearchOptions, scores: np.ndarray,
             ids: np.ndarray, model: Model | None) -> tuple[list[Match], str | None]:
        """The matches of local token ids ``ids`` with ``scores`` (module docstring)."""
        n_heads = self.manifest.model.heads
        heads = list(opts.heads) if opts.heads is not None else list(range(n_heads))
        max_att, reason = self.max_attention(ids, hidden, None if hidden == 0 else heads,
                                             model, opts.special_attention)
        texts: dict[int, tuple[str, list[CorpusToken]]] = {}
        matches = []
        for rank, (score, tid, ma) in enumerate(zip(list(scores), list(ids), max_att,
                                                    strict=True)):
            sid, pos = self.sentence_of(int(tid))
            if sid not in texts:
                texts[sid] = (self.sentence_text(sid), self.sentence_tokens(sid))
            text, toks = texts[sid]
            matches.append(Match(rank=rank, score=float(score), sentence_id=sid,
                                 token_id=int(tid), position=pos, text=text, tokens=toks,
                                 max_attention=ma, document=self.document(sid)))
        return matches, reason

    def has_index(self, kind: str, hidden: int) -> bool:
        return layer_key(kind, hidden) in self.files.vectors.get("chunks", {})

    def close(self) -> None:
        self._nearest.close()
        self._max_attention.close()
