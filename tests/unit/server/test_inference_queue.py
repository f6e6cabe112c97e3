"""The server's inference queue: one thread runs the model work, a bounded number waits."""

from __future__ import annotations

import asyncio
import threading

from exbert.errors import QueueFull
from exbert.server.inference import InferenceQueue


def test_call_and_run_use_the_same_inference_thread() -> None:
    queue = InferenceQueue()
    try:
        name = queue.call(lambda: threading.current_thread().name)
        assert name.startswith("exbert-infer")

        async def main() -> str:
            return await queue.run(lambda: threading.current_thread().name)

        assert asyncio.run(main()) == name
    finally:
        queue.shutdown()


def test_a_full_queue_refuses_at_once() -> None:
    queue = InferenceQueue(max_pending=2)
    release = threading.Event()

    async def main() -> list[object]:
        jobs = [asyncio.ensure_future(queue.run(release.wait, 10)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert queue.pending == 2
        release.set()
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        queue.shutdown()
    assert results[:2] == [True, True]
    assert isinstance(results[2], QueueFull) and "busy" in results[2].message
