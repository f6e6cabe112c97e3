"""The sharded forward passes of a build: annotated sentences -> shards of
``shard_sentences`` sentences, each tokenised in one call and cut into length-sorted batches
-> the model's forward pass -> :func:`exbert.corpus.reduce.reduce_batch` -> a checkpoint
written on a background thread (:class:`exbert.corpus.shards.ShardWriter`).

A resumed build skips the finished shards and restarts spaCy at the cursor after the last
one. Shards are cut by sentence count (batches only inside a shard), so the corpus equals
the one an uninterrupted build writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.analysis.run import encode_texts, forward_batch
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
from exbert.corpus.reduce import reduce_batch
from exbert.corpus.shards import Shard, ShardWriter, completed_shards, mark_last
from exbert.errors import CorpusBuildError, ExbertError

if TYPE_CHECKING:
    from exbert.analysis.run import Encoded
    from exbert.corpus.annotate import Sentence
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.layout import Plan
    from exbert.corpus.sources import SentenceSource
    from exbert.models import Model

log = logging.getLogger(__name__)

ATTENTION_MEMORY_BYTES = 256 << 20  # cap of one batch's float32 attention tensor


def batches(order: list[int], lengths: list[int], batch_tokens: int,
            per_token_attn: int) -> Iterator[list[int]]:
    """Length-sorted batches (lists of indices into ``lengths``) whose padded size stays
    under ``batch_tokens`` tokens and whose attention tensor (``per_token_attn`` bytes per
    token and key: 4 x layers x heads for float32) stays under ATTENTION_MEMORY_BYTES."""
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


class TorchThreads:
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


class _Passes:
    """Reads the sentences of the next shard and runs the model on them."""

    def __init__(self, model: Model, plan: Plan, config: BuildConfig, source: SentenceSource,
                 threads: TorchThreads, stats: BuildStats, bar: Progress) -> None:
        self.model, self.plan, self.config, self.source = model, plan, config, source
        self.threads, self.stats, self.bar = threads, stats, bar
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
        assert last_cursor is not None
        return Shard(index, sentences, (last_cursor[0], last_cursor[1] + 1), skipped), encs

    def forward(self, shard: Shard, encs: list[Encoded]) -> int:
        """Run the shard's batches and keep their reduced outputs; returns its tokens."""
        info = self.model.info
        lengths = [len(e.input_ids) for e in encs]
        sentences = shard.sentences
        for batch_ids in batches(list(range(len(sentences))), lengths,
                                 self.config.batch_tokens, 4 * info.layers * info.heads):
            self.threads.update(self.source.spacy_busy)
            t0 = time.perf_counter()
            batch_encs = [encs[i] for i in batch_ids]
            out = forward_batch(self.model, batch_encs, logits=False)
            shard.batches.append(reduce_batch(self.plan, batch_ids,
                                              [sentences[i] for i in batch_ids], batch_encs,
                                              out))
            del out
            self.stats.forward_seconds += time.perf_counter() - t0
            self.bar.advance(sum(lengths[i] for i in batch_ids))
        return sum(lengths)


def estimate(model: Model, config: BuildConfig) -> int:
    """The tokens the build of ``config`` will store, estimated once from a sample of its
    input (see :mod:`exbert.corpus.progress`)."""
    tok = model.tokenizer
    s = sample(Path(config.input_path), ReadOptions(text_field=config.text_field))
    e = Estimate(s.texts, s.share, s.split, special_count(tok), config.min_words,
                 config.max_sentences)
    return estimate_tokens(e, tokenizer_counter(tok))


def run(model: Model, plan: Plan, config: BuildConfig, source: SentenceSource,
        shards_dir: Path, progress: bool | ProgressCallback, threads: TorchThreads
        ) -> tuple[BuildStats, list[dict[str, Any]]]:
    """Resume or run the sharded forward passes into ``shards_dir``; returns the build's
    counts so far and all shard metadata (in shard order). ``progress``: a bar on stderr, or
    a callback ``(tokens, total)``."""
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
    input_path = Path(config.input_path)
    total = estimate(model, config) if progress else 1  # nobody watches: no estimate
    bar = Progress(progress is True, model.info.name, total, stats.tokens,
                   progress if callable(progress) else None)
    passes = _Passes(model, plan, config, source, threads, stats, bar)
    source.run((int(cursor[0]), int(cursor[1])), None if limit is None else limit - stats.sentences)
    writer = ShardWriter(shards_dir, plan, metas)
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
            tokens = passes.forward(shard, encs)
            last = passes.exhausted or (
                limit is not None and stats.sentences + len(shard.sentences) >= limit)
            writer.submit(shard, last)
            t0 = time.perf_counter()
            writer.drain(keep=2)
            stats.store_wait_seconds += time.perf_counter() - t0
            stats.sentences += len(shard.sentences)
            stats.tokens += tokens
            index += 1
        t0 = time.perf_counter()
        writer.drain(keep=0)
        stats.store_wait_seconds += time.perf_counter() - t0
        mark_last(shards_dir, metas)
    finally:
        writer.close()
        bar.close()
    if not metas:
        raise CorpusBuildError(
            f"{input_path}: no sentences to index (empty input, every record without a "
            f"string {config.text_field!r} field, or every sentence shorter than "
            f"{config.min_words} words or longer than {model.info.max_tokens} tokens)",
            path=str(input_path),
        )
    return stats, metas
