"""The forward pass of a build in Ray actors: :class:`RayRunner` (the
:class:`~exbert.corpus.runners.ShardRunner` of ``--ray``) hands each shard (its sentences and
encodings) to one of a pool of :class:`ForwardActor` actors, which load the model once (by its
name, else its source; the driver's model identity and tokenizer hash are checked), run
:func:`~exbert.corpus.runners.forward_shard` and :func:`~exbert.corpus.shards.write_shard`
into the shared ``OUT.partial/shards`` folder, and return the shard's metadata.

Reliability: the actors restart when their process dies (``max_restarts``) and their
unfinished calls are retried (``max_task_retries``); a call is idempotent (a shard whose folder
is complete returns its ``meta.json``; a half-written one is a ``.tmp-`` folder that
``write_shard`` replaces), so a worker killed with ``kill -9`` mid-build costs one shard's
work and the corpus equals an uninterrupted build. Metadata is appended in shard order.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.errors import CorpusBuildError, ExbertError

if TYPE_CHECKING:
    from exbert.analysis.run import Encoded
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.layout import Plan
    from exbert.corpus.shards import Shard
    from exbert.models import Model

MAX_RESTARTS = 4  # an actor's process may die this often (kill -9, out of memory)
MAX_TASK_RETRIES = 4  # a shard call is retried this often on a restarted actor
FORWARD_CPUS = 1.0  # CPUs per forward actor on a cluster without GPUs (less on a small one)


class ForwardActor:
    """One model, loaded once; :meth:`run` forwards and writes one shard."""

    def __init__(self, identity: dict[str, Any], max_tokens: int, setup: tuple[Any, ...],
                 shards_dir: str, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        light, rotations, self.config = setup
        self.plan = _full_plan(light)
        self.shards_dir = Path(shards_dir)
        self.error: str | None = None
        if _rotations_digest(self.plan) != rotations:
            self.error = "a Ray worker computes other vector rotations than the driver"
        self.model: Model | None = None
        try:
            self.model = _load_same(identity, max_tokens)
        except ExbertError as exc:
            self.error = exc.message
        if self.model is not None and torch.cuda.is_available():
            self.model.module.to("cuda")

    def run(self, shard: Shard, encs: list[Encoded], last: bool) -> dict[str, Any]:
        from exbert.corpus.runners import forward_shard
        from exbert.corpus.shards import _SHARD_SLEEP_ENV, META, shard_dir, write_shard

        if self.error is not None:
            return {"error": self.error}
        assert self.model is not None
        done = shard_dir(self.shards_dir, shard.index) / META
        if done.is_file():  # a retry after the shard was written: its metadata, unchanged
            meta: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
            return meta
        try:
            forward_shard(self.model, self.plan, self.config, shard, encs)
            meta = write_shard(self.shards_dir, shard, self.plan, last)
        except ExbertError as exc:
            return {"error": exc.message}
        except OSError as exc:
            return {"error": f"cannot write shard {shard.index} in {self.shards_dir}: "
                             f"{exc.strerror or exc}"}
        sleep = float(os.environ.get(_SHARD_SLEEP_ENV, "0") or 0)
        if sleep:
            time.sleep(sleep)
        return meta

    def pid(self) -> int:
        return os.getpid()


def _light_plan(plan: Plan) -> Plan:
    """The plan without its rotation matrices (the actor computes them again: seeded), so
    an actor's constructor arguments stay small enough to travel inline with its creation
    (a restarted actor gets them again)."""
    import dataclasses

    import numpy as np

    return dataclasses.replace(plan, rot_emb=np.zeros(0, np.float32),
                               rot_ctx=np.zeros(0, np.float32))


def _full_plan(light: Plan) -> Plan:
    import dataclasses

    from exbert.corpus import vectors as vec

    return dataclasses.replace(light, rot_emb=vec.rotation(light.hidden),
                               rot_ctx=vec.rotation(light.ctx_width))


def _rotations_digest(plan: Plan) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for rot in (plan.rot_emb, plan.rot_ctx):
        h.update(np.ascontiguousarray(rot).tobytes())
    return h.hexdigest()


def _load_same(identity: dict[str, Any], max_tokens: int) -> Model:
    """The driver's model, loaded here by its name (else its source), with the same identity
    (kind, shape, tokenizer hash) or :class:`CorpusBuildError`."""
    from exbert.corpus.manifest import ModelIdentity
    from exbert.models import load

    want = ModelIdentity.from_dict(identity)
    tried: list[str] = []
    for ref in dict.fromkeys(r for r in (want.name, want.source) if r):
        try:
            model = load(ref, max_tokens=max_tokens, revision=want.revision)
        except ExbertError as exc:
            tried.append(f"{ref}: {exc.message}")
            continue
        diffs = [d for d in want.differences(ModelIdentity.of(model))
                 if not d.startswith("name:")]
        if not diffs:
            return model
        tried.append(f"{ref}: {'; '.join(diffs)}")
    raise CorpusBuildError(
        f"a Ray worker could not load model {want.name!r} as the build has it ("
        f"{' | '.join(tried) or 'nothing to load'}); install the same model on every node")


def _node_cpus(ray: Any) -> list[float]:
    return [float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes()
            if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]


def forward_shape(node_cpus: list[float], spacy_cpus: float) -> tuple[int, float]:
    """How many forward actors, and the CPUs each reserves, on nodes with ``node_cpus``
    beside spaCy actors that reserve ``spacy_cpus`` in all: FORWARD_CPUS each, less on small
    nodes, so that every actor fits a node next to a spaCy actor (with one CPU per node, one
    forward actor per node)."""
    if not node_cpus:
        return 1, 0.5
    smallest = min(node_cpus)
    cpus = min(FORWARD_CPUS, smallest - spacy_cpus if smallest - spacy_cpus >= 0.25
               else smallest / 2)
    count = max(1, int((sum(node_cpus) - spacy_cpus) / cpus + 1e-9))
    return count, round(cpus, 4)


class RayRunner:
    """The :class:`~exbert.corpus.runners.ShardRunner` of ``--ray`` (see the module
    docstring). ``actors``: how many forward actors (default: one per GPU, else about one
    per CPU left beside the annotation actors)."""

    def __init__(self, ray: Any, model: Model, plan: Plan, config: BuildConfig,
                 shards_dir: Path, metas: list[dict[str, Any]],
                 on_done: Callable[[dict[str, Any]], None], spacy_cpus: float) -> None:
        from exbert.corpus.manifest import ModelIdentity

        self._ray, self._metas, self._on_done = ray, metas, on_done
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus:
            count, options = gpus, {"num_gpus": 1.0, "num_cpus": 1.0}
            threads = 1
        else:
            count, cpus = forward_shape(_node_cpus(ray), spacy_cpus)
            options, threads = {"num_cpus": cpus}, max(1, int(cpus))
        actor_cls = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
                               **options)(ForwardActor)
        identity = ModelIdentity.of(model).to_dict()
        setup = (_light_plan(plan), _rotations_digest(plan), config)
        self.actors = [actor_cls.remote(identity, model.info.max_tokens, setup,
                                        str(shards_dir), threads) for _ in range(count)]
        self.max_in_flight = 2 * count
        self._busy = [0] * count
        self._pending: deque[tuple[int, int, Any]] = deque()  # (shard index, actor, ref)

    def submit(self, shard: Shard, encs: list[Encoded], last: bool) -> None:
        if len(self._pending) >= self.max_in_flight:
            self.drain(self.max_in_flight - 1)
        k = min(range(len(self.actors)), key=lambda i: (self._busy[i], i))
        ref = self.actors[k].run.remote(shard, encs, last)
        self._busy[k] += 1
        self._pending.append((shard.index, k, ref))

    def drain(self, keep: int) -> None:
        """Wait until at most ``keep`` shards are unfinished (while other actors are idle,
        up to ``max_in_flight - 1`` stay in flight: the actors work in parallel); append the
        finished shards' metadata in shard order."""
        if keep > 0:
            keep = max(keep, self.max_in_flight - 1)
        while len(self._pending) > keep:
            index, k, ref = self._pending[0]
            meta = self._get(index, ref)
            self._pending.popleft()
            self._busy[k] -= 1
            self._metas.append(meta)
            self._on_done(meta)

    def _get(self, index: int, ref: Any) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = self._ray.get(ref)
        except Exception as exc:  # the actor died for good, or Ray itself failed
            first = (str(exc).strip().splitlines() or [""])[0]
            raise CorpusBuildError(
                f"shard {index} failed on Ray: {type(exc).__name__}: {first}; the finished "
                "shards are kept: run the same command again to resume") from None
        if "error" in meta:
            raise CorpusBuildError(f"shard {index}: {meta['error']}")
        return meta

    def close(self) -> None:
        for _, _, ref in self._pending:
            with contextlib.suppress(Exception):  # already finished or gone
                self._ray.cancel(ref)
        self._pending.clear()
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        self.actors = []
