"""Model work off the event loop, through a bounded queue.

One worker thread by default: torch already uses the cores inside one forward pass, and each
model's tokenizer and module are used by one thread at a time (``Model.lock``). When more than
``max_pending`` requests wait, new ones get :class:`QueueFull` (503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from exbert.errors import QueueFull

T = TypeVar("T")


class InferenceQueue:
    def __init__(self, *, workers: int = 1, max_pending: int = 64) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="exbert-infer")
        self._max_pending = max_pending
        self._pending = 0  # touched only on the event loop thread

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._pending >= self._max_pending:
            raise QueueFull(
                f"the server is busy ({self._pending} requests waiting); retry shortly",
                pending=self._pending,
            )
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        finally:
            self._pending -= 1

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the inference thread and wait for it, from outside the event loop
        (in-process tools and benchmarks that share the model: one thread uses torch)."""
        return self._executor.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
