"""``build(input, model, out)``: annotate, run the model, store, index, publish.

Flow (two processes on two cores by default)::

    spaCy process     input -> paragraphs -> sentences with word annotations   (annotate.py,
                      spacy_worker.py: a child process, so it shares no GIL with the model;
                      it runs ahead of the forward pass, see sources.SpacyProcess)
    main thread       sentences of one shard, tokenised in one call, length-sorted into
                      batches -> forward pass (torch threads: all cores, one fewer while
                      spaCy runs) -> on the batch tensors: unit vectors, int8 codes,
                      attention argmaxes; token -> word alignment   (pipeline.py, reduce.py)
    storage thread    shard complete -> written to OUT.partial/shards/NNNNNN (shards.py)
    at the end        shards -> final files (finalize.py, merge.py, faiss_files.py,
                      head_counts.py), the document table of a .jsonl / Parquet input
                      (documents.py) -> manifest (describe.py) -> published (publish.py)

Durability:

- Everything is written to a temporary name, fsynced and renamed (storage.py).
- A shard folder is renamed into ``OUT.partial/shards/`` only when complete, so the
  checkpoints on disk are always whole shards. A killed build (kill -9 included) run again
  with the same arguments skips the finished shards and restarts spaCy at the saved cursor;
  shards are cut by sentence count and batched inside the shard, so the corpus equals the one
  an uninterrupted build writes. Checkpoints of other settings are discarded (workdir.py).
- The final files are assembled in ``OUT.partial/final.tmp``, renamed to ``OUT/v-<id>``, and
  ``OUT/manifest.json`` (with every file's size and sha256) is replaced last: readers see the
  old corpus or the new one, never a mix. The previous version's folder is kept (readers that
  opened it go on working); older ones are removed.
- A write that fails (disk full, file-size limit, I/O error) stops the build with
  :class:`CorpusBuildError`; the published corpus is untouched and the checkpoints stay.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus.config import (
    DEFAULT_BATCH_TOKENS,
    DEFAULT_SHARD_SENTENCES,
    DEFAULT_SPACY,
    BuildConfig,
    BuildOptions,
)
from exbert.corpus.describe import manifest_document
from exbert.corpus.documents import Documents, write_documents
from exbert.corpus.finalize import DataFiles, finalize
from exbert.corpus.inputs import ReadOptions, read_records
from exbert.corpus.layers import resolve_layers
from exbert.corpus.layout import SENTENCES_FILE, make_plan
from exbert.corpus.manifest import CorpusManifest, ModelIdentity
from exbert.corpus.pipeline import TorchThreads, run
from exbert.corpus.progress import BuildStats, ProgressCallback
from exbert.corpus.publish import publish
from exbert.corpus.sources import SentenceSource
from exbert.corpus.workdir import WorkDir
from exbert.errors import CorpusBuildError, ExbertError, InvalidRequest

if TYPE_CHECKING:
    from exbert.models import Model

__all__ = ["build", "build_corpus"]


def build(
    input_path: str | os.PathLike[str],
    model: Model | str,
    out_dir: str | os.PathLike[str],
    *,
    spacy_pipeline: str = DEFAULT_SPACY,
    layers: str | Sequence[int] | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: bool | ProgressCallback = True,
    max_sentences: int | None = None,
    min_words: int = 2,
    shard_sentences: int = DEFAULT_SHARD_SENTENCES,
    approximate: bool = False,
    threads: int | None = None,
    name: str | None = None,
    annotation_cache: bool = True,
    text_field: str = "text",
    strict: bool = False,
) -> CorpusManifest:
    """Build (or resume building) the corpus of ``input_path`` for ``model`` into ``out_dir``.

    ``layers``: the layers to store (``None``: :func:`~exbert.corpus.layers.default_layers`;
    ``"all"``; a list or "0,3,6"), see the layer convention in :mod:`exbert.corpus.manifest`.
    ``max_sentences``: stop after that many stored sentences. ``approximate``: also build an
    IVF index per stored layer (for large corpora). ``threads``: torch threads for the
    forward pass (default: all cores, one fewer while spaCy is annotating).
    ``annotation_cache``: reuse (and extend) the spaCy annotations of this input kept in
    ``cache_root()/annotations`` (see :class:`SentenceSource`). ``text_field``: the field
    (.jsonl) or column (Parquet) holding the text; the other fields are kept as document
    metadata (:mod:`exbert.corpus.documents`). Bad records are skipped and counted in the
    manifest (``input.skipped``); ``strict`` stops at the first one instead. ``progress``: a
    bar on stderr, or a callback ``(tokens, total)``. The options are kept in a
    :class:`BuildOptions`.
    Returns the manifest of the published corpus.
    """
    options = BuildOptions(
        spacy_pipeline=spacy_pipeline, layers=layers, batch_tokens=batch_tokens,
        shard_sentences=shard_sentences, max_sentences=max_sentences, min_words=min_words,
        approximate=approximate, threads=threads, name=name, progress=progress,
        annotation_cache=annotation_cache, text_field=text_field, strict=strict,
    )
    return build_corpus(input_path, model, out_dir, options)


def build_corpus(input_path: str | os.PathLike[str], model: Model | str,
                 out_dir: str | os.PathLike[str], options: BuildOptions) -> CorpusManifest:
    """:func:`build` with its options in one object."""
    from exbert.models import Model as ModelClass
    from exbert.models import load

    if isinstance(model, str):
        model = load(model)
    if not isinstance(model, ModelClass):
        raise InvalidRequest("model must be an exbert Model or a model name")
    options.check()
    source = Path(input_path).expanduser().resolve()
    if not source.is_file():
        raise CorpusBuildError(f"{source}: no such input file", path=str(source))
    fmt = ann.input_format(source)
    work = WorkDir.of(Path(out_dir).expanduser().resolve())
    stored = resolve_layers(options.layers, model.info.layers)
    started = time.perf_counter()
    try:
        with work.exclusive():
            try:
                result = _build_locked(model, source, fmt, work, stored, options, started)
            except BaseException:
                work.forget_if_empty()
                raise
    except ExbertError:
        raise
    except OSError as exc:
        raise CorpusBuildError(
            f"corpus build stopped: cannot write {exc.filename or 'a file'}: "
            f"{exc.strerror or exc} ({_os_hint(exc)}). The published corpus in {work.out} is "
            f"unchanged; the finished parts are kept in {work.partial}: run the same command "
            "again to resume.",
            path=str(work.out),
            errno=exc.errno,
        ) from exc
    work.remove()
    return result


def _build_locked(model: Model, source: Path, fmt: str, work: WorkDir, stored: list[int],
                  options: BuildOptions, started: float) -> CorpusManifest:
    """The build proper, under the lock of the work folder: spaCy's source of sentences
    around :func:`_build_from`."""
    input_sha = _input_sha256(source)
    reading = ReadOptions(text_field=options.text_field, strict=options.strict)
    if fmt != "txt":  # no pyarrow, no text column, a bad record with strict: said before spaCy
        with contextlib.closing(read_records(source, reading, meta=False)) as records:
            if options.strict:
                for _ in records:
                    pass
            else:
                next(records, None)
    cache_dir = _annotation_dir() if options.annotation_cache else None
    sentences = SentenceSource(options.spacy_pipeline, source, input_sha, fmt,
                               options.min_words, cache_dir, reading)
    try:
        config = BuildConfig(
            input_path=str(source),
            input_sha256=input_sha,
            input_format=fmt,
            model=ModelIdentity.of(model).to_dict(),
            spacy_pipeline=options.spacy_pipeline,
            spacy_version=str(sentences.meta.get("version", "")),
            layers=tuple(stored),
            max_sentences=options.max_sentences,
            min_words=options.min_words,
            shard_sentences=options.shard_sentences,
            batch_tokens=options.batch_tokens,
            text_field=options.text_field,
        )
        result = _build_from(model, sentences, config, work, options, started)
        sentences.commit()
    finally:
        sentences.close()
    return result


def _build_from(model: Model, sentences: SentenceSource, config: BuildConfig, work: WorkDir,
                options: BuildOptions, started: float) -> CorpusManifest:
    """Run (or resume) the forward passes, finalise, publish."""
    startup = time.perf_counter() - started
    work.prepare(config)
    plan = make_plan(model, list(config.layers))
    threads = TorchThreads(options.threads)
    try:
        stats, metas = run(model, plan, config, sentences, work.shards, options.progress,
                           threads)
    finally:
        threads.close()
    t_final = time.perf_counter()
    data = finalize(model, plan, work, metas, options.approximate)
    docs = _documents(data, config)
    manifest = manifest_document(model, config, plan, sentences.meta, data,
                                 name=options.name or work.out.name, out=work.out)
    if docs.fields:
        manifest["documents"] = docs.section()
    manifest["input"]["skipped"] = docs.skipped.to_dict()
    if config.text_field != "text":
        manifest["input"]["text_field"] = config.text_field
    stats.finalize_seconds = time.perf_counter() - t_final
    stats.startup_seconds = startup
    stats.seconds = time.perf_counter() - started
    manifest["build"] = _build_section(stats, threads, sentences, config)
    return publish(work.out, data.folder, manifest)


def _documents(data: DataFiles, config: BuildConfig) -> Documents:
    """The document table of a .jsonl / Parquet input (and its skipped bad records)."""
    import numpy as np

    if config.input_format == "txt":
        return Documents()
    units = np.load(data.folder / SENTENCES_FILE, mmap_mode="r")["unit"]
    return write_documents(data.folder, data.files, Path(config.input_path),
                           ReadOptions(text_field=config.text_field), np.asarray(units),
                           to_end=config.max_sentences is None)


def _build_section(stats: BuildStats, threads: TorchThreads, sentences: SentenceSource,
                   config: BuildConfig) -> dict[str, object]:
    """The manifest's ``build`` section: timings and how the build ran."""
    return {
        "seconds": round(stats.seconds, 3),
        "startup_seconds": round(stats.startup_seconds, 3),
        "forward_seconds": round(stats.forward_seconds, 3),
        "spacy_wait_seconds": round(stats.spacy_wait_seconds, 3),
        "store_wait_seconds": round(stats.store_wait_seconds, 3),
        "finalize_seconds": round(stats.finalize_seconds, 3),
        "tokens_per_second": round(
            (stats.tokens - stats.resumed_tokens) / max(stats.seconds, 1e-9), 1),
        "torch_threads": sorted(threads.used),
        "resumed_shards": stats.resumed_shards,
        "sentences_from_annotation_cache": sentences.cached_sentences,
        "batch_tokens": config.batch_tokens,
        "shard_sentences": config.shard_sentences,
    }


def _input_sha256(path: Path) -> str:
    try:
        return storage.sha256_file(path)
    except OSError as exc:
        raise CorpusBuildError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc


def _annotation_dir() -> Path:
    from exbert.models.loading import cache_root

    return cache_root() / "annotations"


def _os_hint(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EFBIG:
        return "a file-size limit (ulimit -f) was reached"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write there"
    return "an I/O error"
