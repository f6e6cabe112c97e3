"""Layer summaries of lazy analyses, computed in the background after the analysis answers.

A long document's overview, statistics, columns and windows read each layer's one-pass
summary (:mod:`exbert.analysis.summary`: a pass over the layer's rows, seconds at 8,192
tokens on a small CPU). The layer the client shows is summarised before the analysis answers;
the others follow here, one layer per task on the inference queue, so that requests the client
makes meanwhile go between two layers. Warming stops when the analysis leaves the cache.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from exbert.errors import ExbertError

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.server.inference import InferenceQueue

log = logging.getLogger(__name__)


class Kept(Protocol):
    """What the warmer needs of the server's analysis cache."""

    def __contains__(self, analysis_id: object) -> bool: ...

    def remeasure(self) -> None: ...


class Warmer:
    """The background tasks that summarise the layers of kept lazy analyses."""

    def __init__(self, queue: InferenceQueue, kept: Kept) -> None:
        self._queue = queue
        self._kept = kept
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, analysis_id: str, analysis: Analysis) -> None:
        """Summarise every layer of ``analysis`` not summarised yet (call on the event loop)."""
        if analysis.lazy is None:
            return
        task = asyncio.get_running_loop().create_task(self._run(analysis_id, analysis))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, analysis_id: str, analysis: Analysis) -> None:
        for layer in range(analysis.n_layers):
            if analysis_id not in self._kept:
                return
            if layer in analysis.summarised:
                continue
            try:
                await self._queue.run(analysis.layer_summary, layer)
            except ExbertError as exc:  # a full queue: the summary is computed when asked
                log.info("stopped summarising analysis layers: %s", exc.message)
                return
            self._kept.remeasure()  # the summaries count against the cache's bytes

    @property
    def running(self) -> int:
        return len(self._tasks)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
