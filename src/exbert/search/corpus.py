"""``Corpus.open(dir)``: a verified, memory-mapped corpus, searchable by embedding or context.

Opening checks, in this order and before numpy or FAISS reads any data file:

1. the manifest parses and has this exbert's schema version (else :class:`CorpusMismatch`);
2. with a model: the model matches the manifest (name, kind, dimensions, tokenizer hash);
3. every file the manifest lists exists with its recorded size (a truncated file is
   :class:`CorpusCorrupt`);
4. sha256 checksums: of every file when the corpus is at most ``FULL_VERIFY_BYTES`` (or
   ``verify="full"``), else of the metadata files now and of each vector file just before
   its first use (``verify="lazy"``). Verified once per file per process.

Every error names the command that rebuilds the corpus.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from exbert.corpus import storage
from exbert.corpus import vectors as vec
from exbert.corpus.manifest import CorpusManifest, check_model, read_manifest
from exbert.errors import CorpusCorrupt, CorpusError, InvalidRequest
from exbert.search.filters import BOOL_FIELDS, Condition, parse_filters
from exbert.search.heads import HeadRanking
from exbert.search.results import CorpusToken, Match, MaxAttention, SearchResult, Summary

if TYPE_CHECKING:
    import numpy as np

    from exbert.models import Model
    from exbert.search.index import ApproxIndex, ExactIndex

Verify = Literal["auto", "full", "lazy"]
FULL_VERIFY_BYTES = 1 << 30
MAX_K = 1000
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")
_FLAG_BITS = {"is_stop": 1, "is_punct": 2}


class _Missing(Exception):
    """A listed file vanished (the corpus was replaced while opening): re-read the manifest."""


class Corpus:
    """A published corpus. Thread-safe for concurrent searches."""

    def __init__(self, path: Path, manifest: CorpusManifest, verify: Verify = "auto") -> None:
        import numpy as np

        self.path = path
        self.manifest = manifest
        self.name = manifest.name or path.name
        self._lock = threading.RLock()
        self._verified: set[str] = set()
        self._exact: dict[str, ExactIndex] = {}
        self._approx: dict[str, ApproxIndex] = {}
        self._attn: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._masks: OrderedDict[tuple[Any, ...], np.ndarray | None] = OrderedDict()
        self._token_labels: dict[str, np.ndarray] = {}
        self._model_ok: set[int] = set()
        if not _SAFE_NAME.fullmatch(manifest.data_dir):
            self._corrupt("manifest.json", f"bad data folder name {manifest.data_dir!r}")
        self.data = path / manifest.data_dir
        self._check_listing()
        total = sum(int(f["size"]) for f in manifest.files.values())
        self.verify_mode: Verify = verify
        if verify == "auto":
            self.verify_mode = "full" if total <= FULL_VERIFY_BYTES else "lazy"
        metadata = ["sentences.npy", "tokens.npy", "words.npy", "text.bin", "labels.json",
                    "heads.json", *self._vec["rotation"].values()]
        self._verify_files(list(manifest.files) if self.verify_mode == "full" else metadata)
        from exbert.corpus.layout import sentence_dtype, token_dtype, word_dtype

        self.sentences = self._npy("sentences.npy", manifest.n_sentences, sentence_dtype())
        self.tokens = self._npy("tokens.npy", manifest.n_tokens, token_dtype())
        self.words = self._npy("words.npy", manifest.n_words, word_dtype())
        self._text = np.memmap(self.data / "text.bin", dtype=np.uint8, mode="r") if (
            manifest.files["text.bin"]["size"]) else np.zeros(0, np.uint8)
        self.labels: dict[str, list[str]] = self._json("labels.json")
        self._heads = self._json("heads.json")
        self._rot = {kind: self._load_rotation(fname)
                     for kind, fname in self._vec["rotation"].items()}
        self._specials = {int(k): str(v) for k, v in manifest.raw.get("special_tokens",
                                                                      {}).items()}
        self._has_special = bool(np.asarray(self.tokens["special"]).any())

    # --- opening and verification -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, model: Model | None = None, *,
             verify: Verify = "auto") -> Corpus:
        """Open and verify the corpus in ``path``; with ``model``, refuse a corpus that
        another model built (:class:`CorpusMismatch`, with the rebuild command)."""
        if verify not in ("auto", "full", "lazy"):
            raise InvalidRequest("verify must be 'auto', 'full' or 'lazy'")
        folder = Path(path).expanduser()
        for attempt in range(3):
            manifest = read_manifest(folder)
            if model is not None:
                check_model(manifest, model, folder)
            try:
                corpus = cls(folder, manifest, verify)
            except _Missing as exc:
                if attempt < 2:
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

    @property
    def _vec(self) -> dict[str, Any]:
        v: dict[str, Any] = self.manifest.raw.get("vectors", {})
        return v

    def _corrupt(self, fname: str, why: str) -> NoReturn:
        command = self.manifest.rebuild_command
        raise CorpusCorrupt(
            f"{self.path}: corpus file {fname} is corrupt ({why}); rebuild the corpus: "
            f"{command}",
            path=str(self.path), file=fname, rebuild_command=command,
        )

    def _check_listing(self) -> None:
        m = self.manifest
        needed = {"sentences.npy", "tokens.npy", "words.npy", "text.bin", "labels.json",
                  "heads.json"}
        try:
            needed |= set(self._vec["rotation"].values())
            for key, names in self._vec["chunks"].items():
                needed |= set(names)
                if not _SAFE_NAME.fullmatch(key):
                    self._corrupt("manifest.json", f"bad index name {key!r}")
            needed |= set(self._vec.get("approximate", {}).values())
            for layer in m.layers:
                if f"emb_L{layer:02d}" not in self._vec["chunks"]:
                    self._corrupt("manifest.json", f"no embedding index for layer {layer}")
            for layer in m.context_layers:
                if f"ctx_L{layer:02d}" not in self._vec["chunks"]:
                    self._corrupt("manifest.json", f"no context index for layer {layer}")
                needed |= {f"attn_L{layer:02d}.npy", f"attnw_L{layer:02d}.npy"}
        except (KeyError, TypeError, AttributeError) as exc:
            self._corrupt("manifest.json", f"incomplete vector section: {exc}")
        for fname in sorted(needed | set(m.files)):
            if not _SAFE_NAME.fullmatch(fname):
                self._corrupt("manifest.json", f"bad file name {fname!r}")
            if fname not in m.files:
                self._corrupt("manifest.json", f"{fname} is not listed")
            try:
                size = (self.data / fname).stat().st_size
            except FileNotFoundError:
                raise _Missing(fname) from None
            expected = int(m.files[fname]["size"])
            if size != expected:
                self._corrupt(fname, f"{size} bytes, the manifest says {expected}: truncated "
                                     "or overwritten")

    def _verify_files(self, names: Sequence[str]) -> None:
        with self._lock:
            for fname in names:
                if fname in self._verified:
                    continue
                try:
                    digest = storage.sha256_file(self.data / fname)
                except FileNotFoundError:
                    raise _Missing(fname) from None
                except OSError as exc:
                    self._corrupt(fname, f"unreadable: {exc.strerror}")
                if digest != self.manifest.files[fname].get("sha256"):
                    self._corrupt(fname, "checksum mismatch: the file changed after the build "
                                         "(bit flip, partial copy or edit)")
                self._verified.add(fname)

    def verify(self) -> None:
        """Verify every file's checksum now (``exbert corpus info --verify``)."""
        self._verify_files(list(self.manifest.files))

    def _npy(self, fname: str, rows: int, dtype: Any = None) -> np.ndarray:
        import numpy as np

        self._verify_files([fname])
        try:
            arr: np.ndarray = np.load(self.data / fname, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            self._corrupt(fname, f"not a numpy array file: {exc}")
        if len(arr) != rows:
            self._corrupt(fname, f"{len(arr)} rows, the manifest says {rows}")
        if dtype is not None and arr.dtype != dtype:
            self._corrupt(fname, f"record layout {arr.dtype}, expected {dtype}")
        return arr

    def _json(self, fname: str) -> Any:
        self._verify_files([fname])
        try:
            return json.loads((self.data / fname).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self._corrupt(fname, f"unreadable JSON: {exc}")

    def _load_rotation(self, fname: str) -> np.ndarray:
        import numpy as np

        self._verify_files([fname])
        try:
            arr: np.ndarray = np.load(self.data / fname, allow_pickle=False)
        except (OSError, ValueError) as exc:
            self._corrupt(fname, f"not a numpy array file: {exc}")
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.dtype != np.float32:
            self._corrupt(fname, "not a square float32 matrix")
        return arr

    def check_model(self, model: Model) -> None:
        """Raise :class:`CorpusMismatch` unless ``model`` is the model this corpus is for."""
        if id(model) in self._model_ok:
            return
        check_model(self.manifest, model, self.path)
        self._model_ok.add(id(model))

    # --- indexes ------------------------------------------------------------------------------

    def _index(self, kind: str, layer: int) -> ExactIndex:
        from exbert.search.index import ExactIndex

        key = f"{kind}_L{layer:02d}"
        with self._lock:
            if key in self._exact:
                return self._exact[key]
            names = list(self._vec["chunks"][key])
            self._verify_files(names)
            width = int(self._vec["width"][kind])
            try:
                index = ExactIndex([self.data / n for n in names], self.manifest.n_tokens,
                                   width, float(self._vec["step"][kind]),
                                   int(self._vec["chunk_vectors"]))
            except (RuntimeError, ValueError) as exc:
                self._corrupt(names[0], f"unreadable index: {exc}")
            self._exact[key] = index
            return index

    def _approx_index(self, kind: str, layer: int) -> ApproxIndex | None:
        from exbert.search.index import ApproxIndex

        key = f"{kind}_L{layer:02d}"
        fname = self._vec.get("approximate", {}).get(key)
        if fname is None:
            return None
        exact = self._index(kind, layer)
        with self._lock:
            if key not in self._approx:
                self._verify_files([fname])
                try:
                    self._approx[key] = ApproxIndex(self.data / fname, exact)
                except (RuntimeError, ValueError) as exc:
                    self._corrupt(fname, f"unreadable index: {exc}")
            return self._approx[key]

    @property
    def has_approximate(self) -> bool:
        return bool(self._vec.get("approximate"))

    def stored_vectors(self, kind: str, layer: int, ids: Sequence[int] | np.ndarray
                       ) -> np.ndarray:
        """The stored (rotated, decoded) vectors of token ids at a layer: what the exact search
        compares against. ``kind``: "emb" or "ctx"."""
        import numpy as np

        return self._index(kind, layer).vectors(np.asarray(ids, dtype=np.int64))

    def rotation(self, kind: str) -> np.ndarray:
        return self._rot[kind]

    def _attention(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if layer not in self._attn:
                a = f"attn_L{layer:02d}.npy"
                w = f"attnw_L{layer:02d}.npy"
                self._verify_files([a, w])
                self._attn[layer] = (self._npy(a, self.manifest.n_tokens),
                                     self._npy(w, self.manifest.n_tokens))
            return self._attn[layer]

    # --- metadata -----------------------------------------------------------------------------

    @property
    def n_tokens(self) -> int:
        return self.manifest.n_tokens

    @property
    def n_sentences(self) -> int:
        return self.manifest.n_sentences

    @property
    def layers(self) -> tuple[int, ...]:
        return self.manifest.layers

    @property
    def context_layers(self) -> tuple[int, ...]:
        return self.manifest.context_layers

    def sentence_text(self, sid: int) -> str:
        row = self.sentences[int(sid)]
        return bytes(self._text[int(row["text_start"]) : int(row["text_end"])]).decode("utf-8")

    def sentence_of(self, token_id: int) -> tuple[int, int]:
        """(sentence id, position in the sentence) of a global token id."""
        t = self.tokens[int(token_id)]
        return int(t["sentence"]), int(t["position"])

    def sentence_tokens(self, sid: int) -> list[CorpusToken]:
        """The model tokens of sentence ``sid`` with their words' annotation."""
        row = self.sentences[int(sid)]
        text = self.sentence_text(sid)
        ts, n = int(row["token_start"]), int(row["n_tokens"])
        ws = int(row["word_start"])
        toks = self.tokens[ts : ts + n]
        lab = self.labels
        out = []
        for t in toks:
            start, end, w = int(t["start"]), int(t["end"]), int(t["word"])
            special = bool(t["special"])
            piece = self._specials.get(int(t["input_id"]), text[start:end]) if special else (
                text[start:end])
            if w < 0:
                out.append(CorpusToken(piece, start, end, special, None, None, None, None, None,
                                       None, None, None, None, None, None))
                continue
            wd = self.words[w]
            flags = int(wd["flags"])
            head_token = int(wd["head_token"])
            out.append(CorpusToken(
                text=piece, start=start, end=end, special=special, word=w - ws,
                lemma=lab["lemma"][int(wd["lemma"])], pos=lab["pos"][int(wd["pos"])],
                tag=lab["tag"][int(wd["tag"])], dep=lab["dep"][int(wd["dep"])],
                head=int(wd["head"]), head_token=head_token if head_token >= 0 else None,
                ent_type=lab["ent_type"][int(wd["ent_type"])],
                ent_iob=lab["ent_iob"][int(wd["ent_iob"])],
                is_stop=bool(flags & 1), is_punct=bool(flags & 2),
            ))
        return out

    def head_ranking(self) -> HeadRanking:
        """Head discovery: every stored layer x head scored per linguistic relation."""
        return HeadRanking.from_dict(self._heads)

    def info(self) -> dict[str, Any]:
        """JSON-ready description (what ``exbert corpus info`` prints)."""
        m = self.manifest
        return {
            "name": self.name,
            "path": str(self.path),
            "model": m.model.to_dict(),
            "layers": list(m.layers),
            "context_layers": list(m.context_layers),
            "layer_convention": m.raw.get("layer_convention"),
            "counts": m.raw.get("counts"),
            "spacy": m.raw.get("spacy"),
            "input": m.raw.get("input"),
            "approximate": self.has_approximate,
            "bytes": sum(int(f["size"]) for f in m.files.values()),
            "bytes_per_token": round(sum(int(f["size"]) for f in m.files.values())
                                     / max(1, m.n_tokens), 1),
            "build": m.raw.get("build"),
            "created": m.raw.get("created"),
            "schema_version": m.schema_version,
            "rebuild_command": m.rebuild_command,
        }

    # --- filters ------------------------------------------------------------------------------

    def _labels_of_tokens(self, field: str) -> np.ndarray:
        """Per token the label id (or flags) of its word; -1 for tokens without a word."""
        import numpy as np

        with self._lock:
            if field not in self._token_labels:
                word = np.asarray(self.tokens["word"], dtype=np.int64)
                has = word >= 0
                values = np.asarray(self.words[field], dtype=np.int64)[np.where(has, word, 0)]
                self._token_labels[field] = np.where(has, values, -1)
            return self._token_labels[field]

    def _mask(self, conditions: list[Condition], include_special: bool) -> np.ndarray | None:
        """Boolean mask of the tokens a result may be; None when every token may."""
        import numpy as np

        key = (tuple(conditions), include_special)
        with self._lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        mask: np.ndarray | None = None
        if not include_special and self._has_special:
            mask = ~np.asarray(self.tokens["special"], dtype=bool)
        for c in conditions:
            if c.field in BOOL_FIELDS:
                flags = self._labels_of_tokens("flags")
                bit = _FLAG_BITS[c.field]
                state = (flags & bit) != 0
                sel = np.zeros(len(flags), dtype=bool)
                for v in c.values:
                    sel |= state == (v == "true")
                has = flags >= 0
            else:
                table = self.labels[c.field]
                index = {v: i for i, v in enumerate(table)}
                unknown = [v for v in c.values if v not in index]
                if unknown and len(unknown) == len(c.values) and not c.negate:
                    known = ", ".join(repr(v) for v in table[:40])
                    more = " ..." if len(table) > 40 else ""
                    raise InvalidRequest(
                        f"no token in this corpus has {c.field} {', '.join(unknown)}; "
                        f"known values: {known}{more}",
                        field=c.field, values=list(c.values),
                    )
                ids = np.array([index[v] for v in c.values if v in index], dtype=np.int64)
                labels = self._labels_of_tokens(c.field)
                has = labels >= 0
                sel = np.isin(labels, ids)
            sel = (~sel if c.negate else sel) & has
            mask = sel if mask is None else mask & sel
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > 16:
                self._masks.popitem(last=False)
        return mask

    # --- search -------------------------------------------------------------------------------

    def _check_layer(self, layer: int, kind: str) -> int:
        layers = self.manifest.layers if kind == "emb" else self.manifest.context_layers
        if not isinstance(layer, int) or isinstance(layer, bool) or layer not in layers:
            what = "embedding" if kind == "emb" else "context"
            raise InvalidRequest(
                f"layer {layer!r} is not stored for {what} search in corpus {self.name!r}; "
                f"stored {what} layers: {list(layers)}",
                layer=layer, stored=list(layers),
            )
        return layer

    def _check_heads(self, heads: Sequence[int] | None) -> list[int] | None:
        n = self.manifest.model.heads
        if heads is None:
            return None
        try:
            out = sorted({int(h) for h in heads})
        except (TypeError, ValueError):
            raise InvalidRequest("heads must be a list of head indices") from None
        if not out or any(not 0 <= h < n for h in out):
            raise InvalidRequest(f"heads must be between 0 and {n - 1}", heads=list(heads))
        return out

    def _top(self, kind: str, layer: int, query: np.ndarray, k: int, mask: np.ndarray | None,
             exact: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        """(scores, ids, exact?) of the k best allowed tokens, never fewer than exist."""
        import numpy as np

        index = self._index(kind, layer)
        n = index.n
        allowed = n if mask is None else int(mask.sum())
        want = min(k, allowed)
        if want == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), True
        if not exact:
            approx = self._approx_index(kind, layer)
            if approx is None:
                raise InvalidRequest(
                    f"corpus {self.name!r} has no approximate index; rebuild it with "
                    "--approximate, or search exactly"
                )
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

    def search_embedding(
        self,
        vector: np.ndarray | Sequence[float],
        layer: int,
        k: int = 50,
        filters: Any = None,
        *,
        heads: Sequence[int] | None = None,
        exact: bool = True,
        include_special: bool = False,
        window: int = 2,
        model: Model | None = None,
        special_attention: bool = False,
    ) -> SearchResult:
        """The k corpus tokens whose hidden state at ``layer`` is most cosine-similar to
        ``vector`` [hidden]. ``heads``: heads of the max-attention summary (default all).
        ``model``: lets a head subset's max attention, or one that counts special tokens
        (``special_attention``), be computed (see :meth:`max_attention`).
        """
        import numpy as np

        started = time.perf_counter()
        self._check_layer(layer, "emb")
        k = _check_k(k)
        v = _as_vector(vector, (self.manifest.model.hidden_size,), "vector")
        q = vec.rotate_query(vec.unit_rows(v), self._rot["emb"])
        conditions = parse_filters(filters)
        mask = self._mask(conditions, include_special)
        scores, ids, was_exact = self._top("emb", layer, q, k, mask, exact)
        return self._result("embedding", layer, None, self._check_heads(heads), k, conditions,
                            was_exact, np.clip(scores, -1.0, 1.0), ids, window, model,
                            special_attention, started)

    def search_context(
        self,
        contexts: np.ndarray | Sequence[Sequence[float]],
        layer: int,
        heads: Sequence[int] | None = None,
        k: int = 50,
        filters: Any = None,
        *,
        exact: bool = True,
        include_special: bool = False,
        window: int = 2,
        model: Model | None = None,
        special_attention: bool = False,
    ) -> SearchResult:
        """The k corpus tokens whose per-head contexts at attention layer ``layer`` (1..L) are
        closest to ``contexts`` [heads, head_dim], restricted to ``heads`` (default all).

        Score: the mean over the selected heads of the per-head cosine, which is the cosine
        between the concatenations of the selected heads' unit-length contexts.
        """
        import numpy as np

        started = time.perf_counter()
        self._check_layer(layer, "ctx")
        k = _check_k(k)
        mi = self.manifest.model
        c = _as_vector(contexts, (mi.heads, mi.head_dim), "contexts")
        chosen = self._check_heads(heads)
        selected = chosen if chosen is not None else list(range(mi.heads))
        q, factor = vec.context_query(c, selected)
        if not np.any(q):
            raise InvalidRequest("the selected heads' contexts are all zero")
        q = vec.rotate_query(q, self._rot["ctx"])
        conditions = parse_filters(filters)
        mask = self._mask(conditions, include_special)
        scores, ids, was_exact = self._top("ctx", layer, q, k, mask, exact)
        scores = np.clip(scores * np.float32(factor), -1.0, 1.0)
        return self._result("context", layer, chosen, chosen, k, conditions, was_exact, scores,
                            ids, window, model, special_attention, started)

    def max_attention(
        self, token_ids: Sequence[int] | np.ndarray, layer: int,
        heads: Sequence[int] | None = None, model: Model | None = None, *,
        special_attention: bool = False,
    ) -> tuple[list[MaxAttention | None], str | None]:
        """For each token id: where its attention at ``layer`` is strongest (outward) and which
        token attends to it most (inward), summing the attention of ``heads``, among the
        sentence's non-special tokens: most heads park much of their attention on [CLS],
        [SEP] or BOS, which would otherwise be every match's answer. ``special_attention``
        counts special tokens too. A special token itself has no max attention (``None``)
        unless ``special_attention``.

        All heads and single heads without special tokens come from the stored argmaxes
        (exact). Other subsets and ``special_attention`` need the full attention: with
        ``model`` the matched sentences are run again (exact); without, ``None`` and the
        reason.
        """
        import numpy as np

        ids = np.asarray(token_ids, dtype=np.int64)
        if layer < 1 or layer not in self.manifest.context_layers:
            return [None] * len(ids), (
                "layer 0 is the embedding output: attention starts at layer 1" if layer == 0
                else f"attention of layer {layer} is not stored")
        n_heads = self.manifest.model.heads
        chosen = self._check_heads(heads)
        special_attention = special_attention and self._has_special  # else nothing to count
        if not special_attention and (chosen is None or len(chosen) in (1, n_heads)):
            a, w = self._attention(layer)
            if chosen is None or len(chosen) == n_heads:
                c_out, c_in = 2 * n_heads, 2 * n_heads + 1
            else:
                c_out, c_in = chosen[0], n_heads + chosen[0]
            rows_a, rows_w = np.asarray(a[ids]), np.asarray(w[ids]).astype(np.float32)
            return [None if ra[c_out] < 0 or ra[c_in] < 0 else
                    MaxAttention(int(ra[c_out]), float(rw[c_out]), int(ra[c_in]),
                                 float(rw[c_in]))
                    for ra, rw in zip(rows_a, rows_w, strict=True)], None
        if model is None:
            what = "counting special tokens" if special_attention else "for a subset of heads"
            return [None] * len(ids), (
                f"max attention {what} needs the full attention: pass the model "
                "(exbert.search.search does) to compute it from the matched sentences")
        self.check_model(model)
        selected = chosen if chosen is not None else list(range(n_heads))
        return self._recompute(ids, layer, selected, model, special_attention), None

    def _recompute(self, ids: np.ndarray, layer: int, heads: list[int], model: Model,
                   special_attention: bool) -> list[MaxAttention | None]:
        """:meth:`max_attention` from the live attention of the matched sentences."""
        where = [self.sentence_of(int(i)) for i in ids]
        sids = sorted({s for s, _ in where})
        attn: dict[int, np.ndarray] = {}
        for start in range(0, len(sids), 16):
            group = sids[start : start + 16]
            analyses = model.analyze_batch([self.sentence_text(s) for s in group])
            for s, a in zip(group, analyses, strict=True):
                if a.n_tokens == int(self.sentences[s]["n_tokens"]):
                    m = a.attentions[layer - 1][heads].sum(axis=0)
                    if not special_attention:
                        special = [t.special for t in a.tokens]
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

    def _result(self, by: str, layer: int, heads: list[int] | None,
                attention_heads: list[int] | None, k: int, conditions: list[Condition],
                exact: bool, scores: np.ndarray, ids: np.ndarray, window: int,
                model: Model | None, special_attention: bool, started: float) -> SearchResult:
        if not isinstance(window, int) or not 0 <= window <= 10:
            raise InvalidRequest("window must be between 0 and 10")
        n_heads = self.manifest.model.heads
        att_heads = attention_heads if attention_heads is not None else list(range(n_heads))
        if by == "embedding" or layer >= 1:
            max_att, reason = self.max_attention(ids, layer, att_heads, model,
                                                 special_attention=special_attention)
        else:  # pragma: no cover
            max_att, reason = [None] * len(ids), None
        cache: dict[int, tuple[str, list[CorpusToken]]] = {}
        matches = []
        for rank, (score, tid, ma) in enumerate(zip(scores.tolist(), ids.tolist(), max_att,
                                                    strict=True)):
            sid, pos = self.sentence_of(tid)
            if sid not in cache:
                cache[sid] = (self.sentence_text(sid), self.sentence_tokens(sid))
            text, toks = cache[sid]
            matches.append(Match(rank=rank, score=float(score), sentence_id=sid,
                                 token_id=int(tid), position=pos, text=text, tokens=toks,
                                 max_attention=ma))
        return SearchResult(
            corpus=self.name,
            model=self.manifest.model.name,
            by=by,
            layer=layer,
            heads=heads,
            k=k,
            filters=[str(c) for c in conditions],
            exact=exact,
            matches=matches,
            summary=Summary.of(matches, window),
            attention_heads=att_heads,
            special_attention=special_attention,
            max_attention_unavailable=reason,
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        with self._lock:
            self._exact.clear()
            self._approx.clear()
            self._attn.clear()


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer between 1 and {MAX_K}", k=k)
    return k


def _as_vector(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
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


def open_corpus(path: str | Path, model: Model | None = None, *,
                verify: Verify = "auto") -> Corpus:
    return Corpus.open(path, model, verify=verify)


__all__ = ["Corpus", "CorpusError", "open_corpus"]
