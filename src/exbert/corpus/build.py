"""``build(inputs, model, out)``: annotate, run the model, store, index, publish.

Flow (on one machine by default; ``--workers N`` and ``--ray`` change who does what)::

    sentences         inputs (files, globs, folders; units numbered across them) ->
                      paragraphs -> sentences with word annotations (annotate.py): spaCy in
                      a child process (sources.SpacyProcess: no GIL shared with the model; it
                      runs ahead of the forward pass), in N processes over blocks of units
                      (parallel.py, blocks.py: ``--workers N``) or in a Ray Data stage
                      (ray_build.py: ``--ray``); the annotation cache first (sources.py)
    main thread       sentences of one shard (``shard_sentences``), tokenised in one call
                      (pipeline.py) -> a shard runner (runners.py): length-sorted batches ->
                      forward pass (torch threads: all cores, one fewer while spaCy runs) ->
                      unit vectors, int8 codes, attention argmaxes; token -> word alignment
                      (reduce.py) -> the shard written in its FINAL format (shards.py,
                      shard_files.py) to OUT.partial/shards/NNNNNN on a background thread
                      (``--ray``: Ray actors do forward + write, in parallel)
    at the end        per shard, one at a time: its document table (documents.py: one
                      streamed pass over the records) and with ``approximate`` its IVF
                      indexes (finalize.py) -> manifest (describe.py) -> the shards folder
                      renamed into OUT/v-<id> (publish.py; no copy)

Durability:

- Everything is written to a temporary name, fsynced and renamed (storage.py).
- A shard folder is renamed into ``OUT.partial/shards/`` only when complete, so the
  checkpoints on disk are always whole shards. A killed build (kill -9 included) run again
  with the same arguments skips the finished shards and restarts spaCy at the saved cursor;
  shards are cut by sentence count and batched inside the shard, so the corpus equals the one
  an uninterrupted build writes (and so do ``--workers`` and ``--ray`` builds). Checkpoints of
  other settings are discarded (workdir.py).
- The shards folder is renamed to ``OUT/v-<id>``, and ``OUT/manifest.json`` (with every
  file's size and sha256) is replaced last: readers see the old corpus or the new one, never
  a mix. Peak disk is about the final corpus (nothing is copied); finishing holds one shard's
  data at a time. The previous version's folder is kept (readers that opened it go on
  working); older ones are removed.
- A write that fails (disk full, file-size limit, I/O error) stops the build with
  :class:`CorpusBuildError`; the published corpus is untouched and the checkpoints stay.
- The sentences of each shard are kept in ``OUT.partial/annotations``; the annotation cache
  is assembled from them at the end (streamed), by fresh and resumed builds alike.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.config import (
    DEFAULT_BATCH_TOKENS,
    DEFAULT_SHARD_SENTENCES,
    DEFAULT_SPACY,
    DEFAULT_WORKERS,
    BuildConfig,
    BuildOptions,
)
from exbert.corpus.describe import manifest_document
from exbert.corpus.finalize import finalize
from exbert.corpus.input_set import InputArg, combined_sha256, expand_inputs, input_format_of
from exbert.corpus.inputs import ReadOptions, input_format, read_records
from exbert.corpus.layers import resolve_layers
from exbert.corpus.layout import make_plan
from exbert.corpus.manifest import CorpusManifest, ModelIdentity
from exbert.corpus.pipeline import RunnerFactory, TorchThreads, run
from exbert.corpus.progress import BuildStats, ProgressCallback
from exbert.corpus.publish import publish
from exbert.corpus.sources import SentenceSource, StreamFactory
from exbert.corpus.workdir import WorkDir
from exbert.errors import CorpusBuildError, ExbertError, InvalidRequest

if TYPE_CHECKING:
    from exbert.models import Model

__all__ = ["build", "build_corpus"]


def build(
    inputs: InputArg,
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
    workers: int = DEFAULT_WORKERS,
    ray: str | None = None,
    vectors: str = "sq8",
) -> CorpusManifest:
    """Build (or resume building) the corpus of ``inputs`` for ``model`` into ``out_dir``.

    ``inputs``: a path, or a list of files, globs and folders (folders searched recursively
    for .txt, .jsonl/.ndjson and .parquet files; sorted, deduplicated); their units are
    numbered across the files in that order, and with several inputs each document's
    metadata gains ``file``.
    ``layers``: the layers to store (``None``: :func:`~exbert.corpus.layers.default_layers`;
    ``"all"``; a list or "0,3,6"), see the layer convention in :mod:`exbert.corpus.manifest`.
    ``max_sentences``: stop after that many stored sentences. ``approximate``: also build an
    IVF index per stored layer and shard (for large corpora). ``threads``: torch threads for
    the forward pass (default: all cores, one fewer while spaCy is annotating).
    ``annotation_cache``: reuse (and extend) the spaCy annotations of this input kept in
    ``cache_root()/annotations`` (see :class:`SentenceSource`). ``text_field``: the field
    (.jsonl) or column (Parquet) holding the text; the other fields are kept as document
    metadata (:mod:`exbert.corpus.documents`). Bad records are skipped and counted in the
    manifest (``input.skipped``); ``strict`` stops at the first one instead. ``progress``: a
    bar on stderr, or a callback ``(tokens, total)``. ``workers``: spaCy processes.
    ``ray``: run on Ray (``""``: a local Ray; else a cluster's address). ``vectors``:
    ``"sq8"`` (exact codes) or ``"pq"`` (compact). The options are kept in a
    :class:`BuildOptions`.
    Returns the manifest of the published corpus.
    """
    options = BuildOptions(
        spacy_pipeline=spacy_pipeline, layers=layers, batch_tokens=batch_tokens,
        shard_sentences=shard_sentences, max_sentences=max_sentences, min_words=min_words,
        approximate=approximate, threads=threads, name=name, progress=progress,
        annotation_cache=annotation_cache, text_field=text_field, strict=strict,
        workers=workers, ray=ray, vectors=vectors,
    )
    return build_corpus(inputs, model, out_dir, options)


def build_corpus(inputs: InputArg, model: Model | str, out_dir: str | os.PathLike[str],
                 options: BuildOptions) -> CorpusManifest:
    """:func:`build` with its options in one object."""
    from exbert.models import Model as ModelClass
    from exbert.models import load

    options.check()
    paths = expand_inputs(inputs)
    if isinstance(model, str):
        model = load(model)
    if not isinstance(model, ModelClass):
        raise InvalidRequest("model must be an exbert Model or a model name")
    work = WorkDir.of(Path(out_dir).expanduser().resolve())
    stored = resolve_layers(options.layers, model.info.layers)
    started = time.perf_counter()
    try:
        with work.exclusive():
            try:
                result = _build_locked(model, paths, work, stored, options, started)
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


def _build_locked(model: Model, paths: list[Path], work: WorkDir, stored: list[int],
                  options: BuildOptions, started: float) -> CorpusManifest:
    """The build proper, under the lock of the work folder: Ray (with ``options.ray``)
    around :func:`_build_with`."""
    if options.ray is None:
        return _build_with(model, paths, work, stored, options, started, None)
    from exbert.corpus.ray_build import RayCluster

    with RayCluster(options.ray) as cluster:
        return _build_with(model, paths, work, stored, options, started, cluster)


def _build_with(model: Model, paths: list[Path], work: WorkDir, stored: list[int],
                options: BuildOptions, started: float, cluster: Any) -> CorpusManifest:
    """The source of sentences (the cache, then spaCy here, in workers or in Ray) around
    :func:`_build_from`."""
    input_sha = combined_sha256([_input_sha256(p) for p in paths])
    reading = ReadOptions(text_field=options.text_field, strict=options.strict)
    for path in paths:  # no pyarrow, no text column, a bad record with strict: said before spaCy
        if input_format(path) != "txt":
            with contextlib.closing(read_records(path, reading, meta=False)) as records:
                if options.strict:
                    for _ in records:
                        pass
                else:
                    next(records, None)
    cache_dir = _annotation_dir() if options.annotation_cache else None
    fmt = input_format_of(paths)
    sentences = SentenceSource(options.spacy_pipeline, paths, input_sha, fmt,
                               options.min_words, cache_dir, reading,
                               _stream_factory(options, reading, cluster))
    try:
        config = BuildConfig(
            input_path=str(paths[0]),
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
            input_paths=tuple(str(p) for p in paths) if len(paths) > 1 else (),
            vectors=options.vectors,
        )
        result, shards = _build_from(model, sentences, config, work, options, started,
                                     cluster)
        sentences.commit(shards, complete=config.max_sentences is None)
    finally:
        sentences.close()
    return result


def _stream_factory(options: BuildOptions, reading: ReadOptions,
                    cluster: Any) -> StreamFactory | None:
    """Who annotates: Ray, N spaCy processes, or (None) one spaCy process."""
    if cluster is not None:  # --workers 1 (the default): Ray chooses how many spaCy actors
        workers = options.workers if options.workers > 1 else None
        return lambda: cluster.sentence_stream(  # type: ignore[no-any-return]
            options.spacy_pipeline, reading, workers)
    if options.workers > 1:
        from exbert.corpus.parallel import ParallelSpacy

        return lambda: ParallelSpacy(options.spacy_pipeline, reading, options.workers)
    return None


def _build_from(model: Model, sentences: SentenceSource, config: BuildConfig, work: WorkDir,
                options: BuildOptions, started: float, cluster: Any
                ) -> tuple[CorpusManifest, int]:
    """Run (or resume) the forward passes, finalise, publish; returns the manifest and the
    number of shards."""
    startup = time.perf_counter() - started
    work.prepare(config)
    plan = make_plan(model, list(config.layers), config.vectors)
    runner: RunnerFactory | None = None
    if cluster is not None:
        runner = lambda metas, on_done: cluster.runner(  # noqa: E731
            model, plan, config, work.shards, metas, on_done)
    sentences.record(work.annotations)
    threads = TorchThreads(options.threads, 0 if cluster is not None else options.workers)
    try:
        stats, metas = run(model, plan, config, sentences, work.shards, options.progress,
                           threads, runner)
    finally:
        threads.close()
    t_final = time.perf_counter()
    data = finalize(plan, work, metas, config, options.approximate)
    manifest = manifest_document(model, config, plan, sentences.meta, data,
                                 name=options.name or work.out.name, out=work.out)
    if data.documents.fields:
        manifest["documents"] = data.documents.section()
    manifest["input"]["skipped"] = data.documents.skipped.to_dict()
    if config.text_field != "text":
        manifest["input"]["text_field"] = config.text_field
    stats.finalize_seconds = time.perf_counter() - t_final
    stats.startup_seconds = startup
    stats.seconds = time.perf_counter() - started
    manifest["build"] = _build_section(stats, threads, sentences, config)
    manifest["build"]["workers"] = options.workers
    manifest["build"]["ray"] = options.ray is not None
    return publish(work.out, data.folder, manifest), len(metas)


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
