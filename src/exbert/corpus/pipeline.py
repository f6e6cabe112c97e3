"""The sharded forward passes of a build: annotated sentences (from a
:class:`~exbert.corpus.sources.SentenceSource`) -> shards of ``shard_sentences`` sentences,
each tokenised in one call -> a :class:`~exbert.corpus.runners.ShardRunner`, which cuts it
into length-sorted batches, runs the model, reduces (:func:`exbert.corpus.reduce.
reduce_batch`) and writes the shard (by default here, the writing on a background thread;
with ``--ray`` in Ray actors).

A resumed build skips the finished shards and restarts spaCy at the cursor after the last
one. Shards are cut by sentence count (batches only inside a shard), so the corpus equals
the one an uninterrupted build writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.analysis.run import encode_texts
from exbert.corpus.inputs import ReadOptions, sample
from exbert.corpus.progress import (
    BuildStats,
    Estimate,
    Progress,
    ProgressCallback,
    estimate_tokens,
    special_count,
    tokenizer_counter,
)
from exbert.corpus.runners import (
    ATTENTION_MEMORY_BYTES,
    LocalRunner,
    ShardRunner,
    batches,
    forward_shard,
)
from exbert.corpus.shards import Shard, completed_shards, mark_last
from exbert.errors import CorpusBuildError, ExbertError

if TYPE_CHECKING:
    from exbert.analysis.run import Encoded
    from exbert.corpus.annotate import Sentence
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.layout import Plan
    from exbert.corpus.sources import SentenceSource
    from exbert.models import Model

__all__ = ["ATTENTION_MEMORY_BYTES", "RunnerFactory", "ShardRunner", "TorchThreads", "batches",
           "estimate", "forward_shard", "run"]

log = logging.getLogger(__name__)

class TorchThreads:
    """torch threads of the forward pass: ``fixed`` when the caller chose; otherwise every
    core, but ``spacy_cores`` fewer while spaCy processes here are annotating (OpenMP threads that
    lose their core to spaCy stall each other at every barrier). Restored by :meth:`close`.
    """

    def __init__(self, fixed: int | None, spacy_cores: int = 1) -> None:
        import torch

        self._torch = torch
        self.before = torch.get_num_threads()
        self.fixed = fixed
        self.spacy_cores = spacy_cores
        self.cores = os.cpu_count() or 1
        self.used: set[int] = set()
        self._current = 0

    def update(self, spacy_busy: bool) -> None:
        want = self.fixed or (max(1, self.cores - self.spacy_cores) if spacy_busy
                              else self.cores)
        if want != self._current:
            self._torch.set_num_threads(want)
            self._current = want
            self.used.add(want)

    def close(self) -> None:
        self._torch.set_num_threads(self.before)


class _Passes:
    """Reads the sentences of the next shard and encodes them."""

    def __init__(self, model: Model, config: BuildConfig, source: SentenceSource,
                 stats: BuildStats) -> None:
        self.model, self.config, self.source, self.stats = model, config, source, stats
        self.exhausted = False

    def read(self, index: int, want: int) -> tuple[Shard, list[Encoded]] | None:
        """Exactly the next ``want`` sentences that the model reads (too long ones are
        skipped and counted), so a shard is cut as a resumed build cuts it; None at the
        end of the input."""
        sentences: list[Sentence] = []
        encs: list[Encoded] = []
        skipped = 0
        last_cursor: tuple[int, int] | None = None
        while len(sentences) < want and not self.exhausted:
            t0 = time.perf_counter()
            fetched: list[Sentence] = []
            while len(sentences) + len(fetched) < want:
                s = self.source.next()
                if s is None:
                    self.exhausted = True
                    break
                fetched.append(s)
            self.stats.spacy_wait_seconds += time.perf_counter() - t0
            for s, e in zip(fetched, encode_texts(self.model, [f.text for f in fetched]),
                            strict=True):
                last_cursor = s.cursor
                if isinstance(e, ExbertError):  # too long, or nothing the model reads
                    skipped += 1
                    continue
                sentences.append(s)
                encs.append(e)
        if not sentences:
            return None
        self.source.cut(index)
        assert last_cursor is not None
        return Shard(index, sentences, (last_cursor[0], last_cursor[1] + 1), skipped), encs


SAMPLED_INPUTS = 8  # inputs sampled for the progress estimate; the rest by their bytes


def estimate(model: Model, config: BuildConfig) -> int:
    """The tokens the build of ``config`` will store, estimated once from samples of its
    first inputs (see :mod:`exbert.corpus.progress`) and the sizes of the others."""
    tok = model.tokenizer
    count, specials = tokenizer_counter(tok), special_count(tok)
    reading = ReadOptions(text_field=config.text_field)
    paths = [Path(p) for p in config.paths]
    sampled = paths[:SAMPLED_INPUTS]
    budget = max(20_000, 200_000 // len(sampled))
    total = 0.0
    clamp = None
    for p in sampled:
        s = sample(p, reading, max_chars=budget)
        total += estimate_tokens(Estimate(s.texts, s.share, s.split, specials,
                                          config.min_words), count)
        if config.max_sentences is not None and clamp is None and s.texts:
            # the sample's tokens per sentence times the sentences wanted
            clamp = estimate_tokens(Estimate(s.texts, 1e-12, s.split, specials,
                                             config.min_words, config.max_sentences), count)
    sizes = sum(_size(p) for p in sampled)
    rest = sum(_size(p) for p in paths[len(sampled):])
    total += total / max(sizes, 1) * rest
    return max(1, round(min(total, clamp) if clamp is not None else total))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: ``factory(metas, on_done)``: the runner of a build (see :class:`ShardRunner`).
RunnerFactory = Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], None]], ShardRunner]


def run(model: Model, plan: Plan, config: BuildConfig, source: SentenceSource,
        shards_dir: Path, progress: bool | ProgressCallback, threads: TorchThreads,
        runner: RunnerFactory | None = None) -> tuple[BuildStats, list[dict[str, Any]]]:
    """Resume or run the sharded forward passes into ``shards_dir``; returns the build's
    counts so far and all shard metadata (in shard order). ``progress``: a bar on stderr, or
    a callback ``(tokens, total)``. ``runner``: who runs the forward passes and writes the
    shards (default: :class:`LocalRunner`, here)."""
    shards_dir.mkdir(exist_ok=True)
    metas = completed_shards(shards_dir)
    stats = BuildStats(resumed_shards=len(metas))
    stats.resumed_tokens = stats.tokens = sum(int(m["tokens"]) for m in metas)
    stats.sentences = sum(int(m["sentences"]) for m in metas)
    limit = config.max_sentences
    if (metas and metas[-1].get("last")) or (limit is not None and stats.sentences >= limit):
        return stats, metas
    if metas:
        log.info("resuming %s: %d shards (%d tokens) already built", shards_dir.parent,
                 len(metas), stats.tokens)
    cursor = tuple(metas[-1]["next_cursor"]) if metas else (0, 0)
    total = estimate(model, config) if progress else 1  # nobody watches: no estimate
    bar = Progress(progress is True, model.info.name, total, stats.tokens,
                   progress if callable(progress) else None)
    passes = _Passes(model, config, source, stats)
    source.run((int(cursor[0]), int(cursor[1])),
               None if limit is None else limit - stats.sentences, len(metas))

    def on_batch(tokens: int, seconds: float) -> None:
        stats.forward_seconds += seconds
        bar.advance(tokens)

    if runner is None:
        shard_runner: ShardRunner = LocalRunner(
            model, plan, config, shards_dir, metas, on_batch,
            lambda: threads.update(source.spacy_busy))
    else:
        shard_runner = runner(metas, lambda meta: bar.advance(int(meta["tokens"])))
    index = len(metas)
    try:
        while not passes.exhausted:
            want = config.shard_sentences
            if limit is not None:
                want = min(want, limit - stats.sentences)
            if want <= 0:
                break
            read = passes.read(index, want)
            if read is None:
                break
            shard, encs = read
            tokens = sum(len(e.input_ids) for e in encs)
            last = passes.exhausted or (
                limit is not None and stats.sentences + len(shard.sentences) >= limit)
            shard_runner.submit(shard, encs, last)
            t0 = time.perf_counter()
            shard_runner.drain(keep=2)
            stats.store_wait_seconds += time.perf_counter() - t0
            stats.sentences += len(shard.sentences)
            stats.tokens += tokens
            index += 1
        t0 = time.perf_counter()
        shard_runner.drain(keep=0)
        stats.store_wait_seconds += time.perf_counter() - t0
        mark_last(shards_dir, metas)
    finally:
        shard_runner.close()
        bar.close()
    if not metas:
        raise CorpusBuildError(
            f"{_inputs_text(config)}: no sentences to index (empty input, every record "
            f"without a string {config.text_field!r} field, or every sentence shorter than "
            f"{config.min_words} words or longer than {model.info.max_tokens} tokens)",
            path=config.input_path,
        )
    return stats, metas


def _inputs_text(config: BuildConfig) -> str:
    paths = config.paths
    return paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more inputs)"
