"""``--ray [ADDRESS]`` for a build: :class:`RayCluster`, the Ray that a build runs on, gives
the build its sentence stream (:meth:`RayCluster.sentence_stream`: spaCy as a Ray Data stage,
:mod:`exbert.corpus.ray_annotate`) and its shard runner (:meth:`RayCluster.runner`: the
forward pass and the writing in Ray actors, :mod:`exbert.corpus.ray_forward`)::

    with RayCluster(options.ray) as cluster:          # "" / "local": a local Ray; else join
        stream = cluster.sentence_stream(pipeline, read_options, workers)
        runner = cluster.runner(model, plan, config, shards_dir, metas, on_done)

The output folder must be on a filesystem every node sees at the same path (the actors write
the shards there). Starting and joining: :mod:`exbert.corpus.ray_cluster`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.ray_annotate import SPACY_CPUS, RaySentences
from exbert.corpus.ray_cluster import RayConnection, import_ray
from exbert.corpus.ray_forward import RayRunner

if TYPE_CHECKING:
    from exbert.corpus.config import BuildConfig
    from exbert.corpus.inputs import ReadOptions
    from exbert.corpus.layout import Plan
    from exbert.models import Model

__all__ = ["RayCluster", "RayRunner", "RaySentences", "import_ray"]


class RayCluster(RayConnection):
    """A Ray started or joined for one build (a context manager; see the module docstring)."""

    def __init__(self, address: str | None = "") -> None:
        super().__init__(address)
        self._spacy_actors = 0

    def __enter__(self) -> RayCluster:
        super().__enter__()
        return self

    def sentence_stream(self, pipeline: str, read_options: ReadOptions | None = None,
                        workers: int | None = None) -> RaySentences:
        """Annotated sentences in input order from ``workers`` spaCy actors (default: half
        the cluster's CPUs)."""
        stream = RaySentences(self.ray, pipeline, read_options, workers)
        self._spacy_actors = stream.workers
        return stream

    def runner(self, model: Model, plan: Plan, config: BuildConfig, shards_dir: Path,
               metas: list[dict[str, Any]], on_done: Callable[[dict[str, Any]], None]
               ) -> RayRunner:
        """Forward actors that write the shards into ``shards_dir``; their metadata appended
        to ``metas`` in shard order, ``on_done(meta)`` after each."""
        return RayRunner(self.ray, model, plan, config, shards_dir, metas, on_done,
                         SPACY_CPUS * self._spacy_actors)
