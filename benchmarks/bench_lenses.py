"""Rollout, attention flow, head detectors and the induction probe (issue 14).

For each model and input length T (full analyses), wall and process-CPU seconds of:

- ``rollout``: ``exbert.rollout(analysis)`` (all layers, [L, T, T]);
- ``flow``: ``exbert.attention_flow(analysis, layer=-1)`` (T x T max-flows through every
  layer; only T <= MAX_FLOW_TOKENS); the issue's app target is T = 64, 30 layers, one layer's
  [T, T] in a few seconds;
- ``detectors``: ``exbert.analysis.head_scores(analysis)``;
- ``probe``: ``model.induction_probe()`` (drawing the words, checking the text, the forward).

Then a long input analysed lazily (``--long`` tokens): ``detectors`` and ``rollout`` read the
recorded queries and keys a chunk of rows at a time.

    python benchmarks/bench_lenses.py                                  # SmolLM2 + MiniLM
    python benchmarks/bench_lenses.py --models smollm2-135m --lengths 16 32 --long 2048
    python benchmarks/bench_lenses.py --no-flow                        # skip the max-flows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from common import machine, text_of_tokens

import exbert
from exbert.analysis import head_scores
from exbert.view import MAX_FLOW_TOKENS

RESULTS = Path(__file__).resolve().parent / "results" / "lenses.json"


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Best-of wall and CPU seconds (the first call included in the count)."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"wall_s": round(min(wall), 4), "cpu_s": round(min(cpu), 4)}


def bench_model(name: str, lengths: list[int], long: int, flow: bool, repeats: int
                ) -> dict[str, Any]:
    model = exbert.load(name)
    out: dict[str, Any] = {"layers": model.info.layers, "heads": model.info.heads,
                           "by_length": {}}
    for t in lengths:
        a = model.analyze(text_of_tokens(model, t), attention="full", top_k=0)
        row: dict[str, Any] = {"tokens": a.n_tokens}
        row["rollout"] = timed(lambda a=a: exbert.rollout(a), repeats)
        row["detectors"] = timed(lambda a=a: head_scores(a), repeats)
        if flow and a.n_tokens <= MAX_FLOW_TOKENS:
            row["flow"] = timed(lambda a=a: exbert.attention_flow(a, layer=-1), 1)
        out["by_length"][str(t)] = row
        print(name, t, json.dumps(row), flush=True)
    out["probe"] = timed(model.induction_probe, repeats)
    print(name, "probe", out["probe"], flush=True)
    longest = min(long, model.info.max_tokens)
    if longest:
        lazy = model.analyze(text_of_tokens(model, longest), attention="lazy", top_k=0)
        out["long"] = {"tokens": lazy.n_tokens, "mode": lazy.mode,
                       "detectors": timed(lambda: head_scores(lazy), 1),
                       "rollout": timed(lambda: exbert.rollout(lazy), 1)}
        print(name, "long", json.dumps(out["long"]), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "minilm-l6"])
    p.add_argument("--lengths", nargs="+", type=int, default=[16, 32, 64])
    p.add_argument("--long", type=int, default=2048, help="tokens of the lazy input (0: none)")
    p.add_argument("--no-flow", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"machine": machine(), "models": {}}
    for name in args.models:
        results["models"][name] = bench_model(name, args.lengths, args.long, not args.no_flow,
                                              args.repeats)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
