"""Overhead of ``Model.analyze()`` over a raw transformers forward pass.

For each model and input length T, time in the same process, interleaved:

- ``analyze``: ``model.analyze(text, top_k=5)``: tokenising, the forward pass with context
  hooks, stacking the outputs into numpy arrays and the top-k predictions;
- ``raw``: ``model.module(**same_inputs, output_attentions=True, output_hidden_states=True)``
  under ``torch.inference_mode()`` on the same module (eager attention) and the same token ids.

The ratio is median(analyze) / median(raw) of wall times; ``paired`` is the median of the
per-repetition ratios (each analyze run over the raw run beside it), which resists the machine's
drift; ``cpu`` is the same ratio of process CPU time, which a busy shared machine disturbs less
(with one torch thread it is the work done); ``min`` compares the fastest runs. Each timing
includes releasing the result (analyze frees the model's output tensors inside). The target is <= 1.15 (wall) at T = 16, 64, 256,
512 on MiniLM and SmolLM2.

    python benchmarks/bench_analyze.py                       # both models, all lengths
    python benchmarks/bench_analyze.py --models minilm-l6 --lengths 16 64 --threads 0
    python benchmarks/bench_analyze.py --profile smollm2-135m:512   # cProfile one analyze
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import exbert
from exbert.analysis.run import encode

TARGET = 1.15
RESULTS = Path(__file__).resolve().parent / "results" / "analyze.json"
PROSE = ["It", "was", "in", "the", "spring", "of", "the", "year", "1894", "that", "all", "London", "was", "interested,", "and", "the", "fashionable", "world", "dismayed,", "by", "the", "murder", "of", "the", "Honourable", "Ronald", "Adair", "under", "most", "unusual", "and", "inexplicable", "circumstances.", "The", "public", "has", "already", "learned", "those", "particulars", "of", "the", "crime", "which", "came", "out", "in", "the", "police", "investigation,", "but", "a", "good", "deal", "was", "suppressed", "upon", "that", "occasion,", "since", "the", "case", "for", "the", "prosecution", "was", "so", "overwhelmingly", "strong", "that", "it", "was", "not", "necessary", "to", "bring", "forward", "all", "the", "facts."]


def text_of_length(model: exbert.Model, n_tokens: int) -> str:
    """English prose that the model's tokenizer turns into exactly ``n_tokens`` tokens."""

    def count(text: str) -> int:
        return len(model.tokenizer(text)["input_ids"])

    words: list[str] = []
    i = 0
    while True:
        candidate = [*words, PROSE[i % len(PROSE)]]
        if count(" ".join(candidate)) > n_tokens:
            break
        words, i = candidate, i + 1
    text = " ".join(words)
    while count(text) < n_tokens:  # " the" is one token in both tokenizers
        text += " the"
    if count(text) != n_tokens:
        raise RuntimeError(f"cannot build a text of {n_tokens} tokens for {model.name}")
    return text


def raw_inputs(model: exbert.Model, text: str) -> dict[str, torch.Tensor]:
    """Exactly the tensors that analyze() feeds the module."""
    enc = encode(model, text)
    ids = torch.tensor([enc.input_ids])
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if enc.token_type_ids is not None:
        kwargs["token_type_ids"] = torch.tensor([enc.token_type_ids])
    return kwargs


def raw_forward(model: exbert.Model, inputs: dict[str, torch.Tensor]) -> Any:
    with torch.inference_mode():
        return model.module(**inputs, output_attentions=True, output_hidden_states=True)


def measure(model: exbert.Model, n_tokens: int, *, min_reps: int, budget_s: float,
            top_k: int) -> dict[str, Any]:
    text = text_of_length(model, n_tokens)
    inputs = raw_inputs(model, text)
    for _ in range(2):  # warm up both paths (allocator, oneDNN kernels)
        model.analyze(text, top_k=top_k)
        raw_forward(model, inputs)
    analyze_s: list[float] = []
    raw_s: list[float] = []
    analyze_cpu: list[float] = []
    raw_cpu: list[float] = []
    started = time.perf_counter()
    rep = 0
    while rep < min_reps or (time.perf_counter() - started < budget_s and rep < 50):
        pair: dict[str, tuple[float, float]] = {}
        order = ("analyze", "raw") if rep % 2 == 0 else ("raw", "analyze")
        for which in order:
            c0, t0 = time.process_time(), time.perf_counter()
            if which == "analyze":
                result = model.analyze(text, top_k=top_k)
            else:
                result = raw_forward(model, inputs)
            del result  # both pay for releasing what they made (analyze frees its tensors)
            pair[which] = (time.perf_counter() - t0, time.process_time() - c0)
        analyze_s.append(pair["analyze"][0])
        raw_s.append(pair["raw"][0])
        analyze_cpu.append(pair["analyze"][1])
        raw_cpu.append(pair["raw"][1])
        rep += 1
    med_a, med_r = statistics.median(analyze_s), statistics.median(raw_s)
    return {
        "model": model.name,
        "tokens": n_tokens,
        "reps": rep,
        "analyze_ms": round(med_a * 1000, 2),
        "raw_ms": round(med_r * 1000, 2),
        "ratio": round(med_a / med_r, 3),
        "paired": round(statistics.median(a / r for a, r in zip(analyze_s, raw_s, strict=True)),
                        3),
        "cpu_ratio": round(statistics.median(analyze_cpu) / statistics.median(raw_cpu), 3),
        "min_ratio": round(min(analyze_s) / min(raw_s), 3),
        "analyze_min_ms": round(min(analyze_s) * 1000, 2),
        "raw_min_ms": round(min(raw_s) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    import transformers

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def profile(spec: str, top_k: int) -> None:
    name, _, length = spec.partition(":")
    model = exbert.load(name)
    text = text_of_length(model, int(length or 512))
    model.analyze(text, top_k=top_k)
    prof = cProfile.Profile()
    prof.enable()
    model.analyze(text, top_k=top_k)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["minilm-l6", "smollm2-135m"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[16, 64, 256, 512])
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (default 1; 0 keeps torch's default). On a shared 2-core machine a "
        "second thread makes timings swing 0.7x-1.7x (see PERFORMANCE-NOTES)",
    )
    parser.add_argument("--min-reps", type=int, default=7)
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds per (model, T) to keep adding repetitions (max 50)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", metavar="MODEL:T", help="cProfile one analyze() and exit")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.profile, args.top_k)
        return 0

    info = machine()
    print(f"machine: {info['cpu_count']} CPUs, torch {info['torch']} with "
          f"{info['torch_threads']} threads, transformers {info['transformers']}, "
          f"load average {info['load_average']}")
    rows = []
    for name in args.models:
        model = exbert.load(name)
        for n in args.lengths:
            if n > model.info.max_tokens:
                print(f"skip {name} T={n}: over its {model.info.max_tokens} tokens")
                continue
            row = measure(model, n, min_reps=args.min_reps, budget_s=args.budget,
                          top_k=args.top_k)
            rows.append(row)
            flag = "ok" if row["ratio"] <= TARGET else "OVER"
            print(f"{name:>14} T={n:<4} analyze {row['analyze_ms']:>9.1f} ms  raw "
                  f"{row['raw_ms']:>9.1f} ms  ratio {row['ratio']:.3f}  paired "
                  f"{row['paired']:.3f}  cpu {row['cpu_ratio']:.3f}  min {row['min_ratio']:.3f}  "
                  f"({row['reps']} reps) {flag}",
                  flush=True)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    worst = max((r["ratio"] for r in rows), default=0.0)
    print(f"\nworst ratio {worst:.3f} (target <= {TARGET})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(
        {"target": TARGET, "top_k": args.top_k, "machine": info, "results": rows}, indent=2
    ) + "\n")
    print(f"wrote {args.out}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
