"""Who runs the forward pass of a shard and writes it: the :class:`ShardRunner` protocol that
:func:`exbert.corpus.pipeline.run` drives, its local implementation (:class:`LocalRunner`:
the forward here, the writing on a background thread) and :func:`forward_shard`, the one
forward of a shard that every runner uses (so a local and a Ray build give the same shards).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from exbert.analysis.run import forward_batch
from exbert.corpus.reduce import reduce_batch
from exbert.corpus.shards import Shard, ShardWriter

if TYPE_CHECKING:
    from exbert.analysis.run import Encoded
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.layout import Plan
    from exbert.models import Model

ATTENTION_MEMORY_BYTES = 256 << 20  # cap of one batch's float32 attention tensor

#: ``on_batch(tokens, seconds)``: called after each forward batch of a shard.
BatchCallback = Callable[[int, float], None]


class ShardRunner(Protocol):
    """Runs the forward pass of shards and writes them (:func:`exbert.corpus.shards.
    write_shard` into ``shards_dir``), appending each shard's metadata to the ``metas`` list
    it was made with, IN SHARD ORDER (a runner that finishes shards out of order holds the
    later ones back). :func:`exbert.corpus.pipeline.run` calls, per shard in order,
    ``submit(shard, encs, last)`` (``shard.sentences`` and their encodings ``encs``;
    ``shard.batches`` still empty; ``last``: the final shard of the build) then
    ``drain(keep=2)``; at the end ``drain(keep=0)``; ``close()`` always (also after an
    error: cancel what is pending). ``drain(0)`` blocks until every submitted shard is
    finished and raises the error of a shard that failed; ``drain(keep)`` with ``keep > 0``
    bounds what is in flight (the local runner: ``keep`` shards; a pool of N actors may keep up
    to 2N, one running and one queued each).

    Implementations: :class:`LocalRunner`; ``exbert.corpus.ray_build.RayCluster.runner(model,
    plan, config, shards_dir, metas, on_done)`` (Ray actors that each load the model once
    and call :func:`forward_shard` then ``write_shard``; ``on_done(meta)`` is called in the
    driver, in shard order, as each shard's metadata is appended).
    """

    def submit(self, shard: Shard, encs: list[Encoded], last: bool) -> None: ...

    def drain(self, keep: int) -> None: ...

    def close(self) -> None: ...


def batches(order: list[int], lengths: list[int], batch_tokens: int,
            per_token_attn: int) -> list[list[int]]:
    """Length-sorted batches (lists of indices into ``lengths``) whose padded size stays
    under ``batch_tokens`` tokens and whose attention tensor (``per_token_attn`` bytes per
    token and key: 4 x layers x heads for float32) stays under ATTENTION_MEMORY_BYTES."""
    out: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in sorted(order, key=lambda j: (lengths[j], j)):
        t = max(longest, lengths[i])
        size = t * (len(batch) + 1)
        attn = per_token_attn * t * t * (len(batch) + 1)
        if batch and (size > batch_tokens or attn > ATTENTION_MEMORY_BYTES):
            out.append(batch)
            batch, t = [], lengths[i]
        batch.append(i)
        longest = t
    if batch:
        out.append(batch)
    return out


def forward_shard(model: Model, plan: Plan, config: BuildConfig, shard: Shard,
                  encs: list[Encoded], on_batch: BatchCallback | None = None) -> int:
    """Run the shard's length-sorted batches of ``config.batch_tokens`` and append their
    reduced outputs to ``shard.batches``; returns the shard's tokens."""
    info = model.info
    lengths = [len(e.input_ids) for e in encs]
    sentences = shard.sentences
    for batch_ids in batches(list(range(len(sentences))), lengths, config.batch_tokens,
                             4 * info.layers * info.heads):
        t0 = time.perf_counter()
        batch_encs = [encs[i] for i in batch_ids]
        out = forward_batch(model, batch_encs, logits=False)
        shard.batches.append(reduce_batch(plan, batch_ids, [sentences[i] for i in batch_ids],
                                          batch_encs, out))
        del out
        if on_batch is not None:
            on_batch(sum(lengths[i] for i in batch_ids), time.perf_counter() - t0)
    return sum(lengths)


class LocalRunner:
    """The forward pass in this process (``before_batch()`` is called before each batch:
    the torch threads are set there), the writing on a background thread
    (:class:`ShardWriter`)."""

    def __init__(self, model: Model, plan: Plan, config: BuildConfig, shards_dir: Path,
                 metas: list[dict[str, Any]], on_batch: BatchCallback,
                 before_batch: Callable[[], None]) -> None:
        self.model, self.plan, self.config = model, plan, config
        self.on_batch, self.before_batch = on_batch, before_batch
        self.writer = ShardWriter(shards_dir, plan, metas)

    def submit(self, shard: Shard, encs: list[Encoded], last: bool) -> None:
        def batch_done(tokens: int, seconds: float) -> None:
            self.on_batch(tokens, seconds)
            self.before_batch()

        self.before_batch()
        forward_shard(self.model, self.plan, self.config, shard, encs, batch_done)
        self.writer.submit(shard, last)

    def drain(self, keep: int) -> None:
        self.writer.drain(keep)

    def close(self) -> None:
        self.writer.close()
