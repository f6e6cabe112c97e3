"""Shared helpers for the benchmarks: the machine description and robust timing."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the numbers were measured on: the CPU (its model name), cores, BLAS, versions, the
    torch threads and the load average at the time."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "blas": "mkl" if torch.backends.mkl.is_available() else "other",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def text_of_tokens(model: Any, n: int) -> str:
    """A natural-looking text whose encoding has exactly ``n`` tokens (specials included)."""
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "the", "cat", "watches", "from", "its", "warm", "window"]
    out: list[str] = []
    i = 0
    while True:
        candidate = " ".join([*out, words[i % len(words)]])
        count = len(model.tokenizer(candidate)["input_ids"])
        if count > n:
            break
        out.append(words[i % len(words)])
        i += 1
        if count == n:
            break
    return " ".join(out)


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 2,
                self_timed: Collection[str] = ()) -> dict[str, float]:
    """Median seconds of each function, run in alternation so drift hits them alike. The
    functions named in ``self_timed`` time themselves: they return their own seconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            out = fn()
            times[name].append(float(out) if name in self_timed else time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
