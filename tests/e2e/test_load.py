"""Load against the real server (issue 5, point 9): 50 concurrent clients x 200 requests of
mixed analyse/search on a shipped model. Zero 5xx (503 + Retry-After only when the queue is
full), health p99 < 100 ms throughout, resident memory after warm-up grows < 5 %, and no client
ever receives another client's result."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import threading
import time

import httpx
import psutil
import pytest
from serverproc import start_server, stop_server

from exbert.analysis.frame import decode_frame

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLIENTS = int(os.environ.get("EXBERT_LOAD_CLIENTS", "50"))
REQUESTS = int(os.environ.get("EXBERT_LOAD_REQUESTS", "200"))


@pytest.fixture(scope="module")
def load_server():
    # a cache the warm-up below fills (the default, 2 GiB, is sized for long documents): RSS
    # must then stay flat under load
    proc, base = start_server("--model", "minilm-l6", "--cache-size", "64MB", *corpus_args())
    yield proc, base
    stop_server(proc)


def corpus_args() -> list[str]:
    """The demo corpus of minilm-l6 when one is cached (search joins the mix)."""
    try:
        from exbert.corpus import demo
    except ImportError:
        return ["--no-demo-corpus"]
    found = demo.existing_demo_corpus("minilm-l6")
    return ["--corpus", str(found)] if found else ["--no-demo-corpus"]


async def one_client(c: int, base: str, corpus: str | None, out: dict) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for r in range(REQUESTS):
            text = f"Client {c} sends request {r} about cats."
            if corpus is not None and r % 4 == 3:
                resp = await client.post("/api/search", json={
                    "model": "minilm-l6", "corpus": corpus, "text": text, "token": 2,
                    "layer": 3, "by": "embedding", "k": 10})
                kind = "search"
            else:
                resp = await client.post("/api/analyze", json={"model": "minilm-l6", "text": text,
                                                               "top_k": 3, "layers": [0]})
                kind = "analyze"
            out["status"].append(resp.status_code)
            if resp.status_code == 503:
                assert "retry-after" in resp.headers
                await asyncio.sleep(float(resp.headers["retry-after"]))
                continue
            if resp.status_code != 200:
                out["errors"].append((kind, resp.status_code, resp.text[:200]))
                continue
            if kind == "analyze":
                header, _ = decode_frame(resp.content)
                got = "".join(t["text"] + " " for t in header["tokens"] if not t["special"])
                if header["text"] != text or f"{c}" not in got or f"{r}" not in got:
                    out["crossed"].append((c, r, header["text"]))
            else:
                body = resp.json()
                if body.get("query", {}).get("text", text) != text:
                    out["crossed"].append((c, r, "search"))


def probe_health(base: str, stop, latencies) -> None:
    """In its own process, so the clients' own work cannot delay the measurement."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = client.get("/api/health")
            latencies.append(time.perf_counter() - t0 if r.status_code == 200 else 999.0)
            time.sleep(0.05)


async def run_clients(base: str, corpus: str | None) -> dict:
    out: dict = {"status": [], "errors": [], "crossed": []}
    await asyncio.gather(*(one_client(c, base, corpus, out) for c in range(CLIENTS)))
    return out


def run_load(base: str, corpus: str | None) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        stop, latencies = manager.Event(), manager.list()
        prober = ctx.Process(target=probe_health, args=(base, stop, latencies))
        prober.start()
        result: dict = {}
        # its own thread: Playwright's sync API (other e2e tests) marks this thread's loop busy
        worker = threading.Thread(
            target=lambda: result.update(asyncio.run(run_clients(base, corpus)))
        )
        try:
            worker.start()
            worker.join()
            out = result
        finally:
            stop.set()
            prober.join(30)
        out["health"] = list(latencies)
    return out


def test_fifty_clients(load_server):
    proc, base = load_server
    health = httpx.get(base + "/api/health").json()
    corpus = health["corpora"][0] if health["corpora"] else None
    # warm-up with the same mix (fills the bounded analysis cache and pages in the searched
    # layer of the memory-mapped corpus), then the memory baseline
    for i in range(400):
        text = f"Client {i} sends request {i} about dogs."
        if corpus is not None and i % 4 == 3:
            httpx.post(base + "/api/search", timeout=60, json={
                "model": "minilm-l6", "corpus": corpus, "text": text, "token": 2, "layer": 3,
                "by": "embedding", "k": 10})
        else:
            httpx.post(base + "/api/analyze", timeout=60, json={
                "model": "minilm-l6", "text": text, "top_k": 3, "layers": [0]})
    rss_before = psutil.Process(proc.pid).memory_info().rss
    t0 = time.monotonic()
    out = run_load(base, corpus)
    elapsed = time.monotonic() - t0
    rss_after = psutil.Process(proc.pid).memory_info().rss
    statuses = out["status"]
    p99 = statistics.quantiles(out["health"], n=100)[98]
    summary = (f"{len(statuses)} requests in {elapsed:.0f} s, 503s: {statuses.count(503)}, "
               f"health p99 {p99 * 1e3:.1f} ms over {len(out['health'])} probes, "
               f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")
    print(summary)
    assert len(statuses) == CLIENTS * REQUESTS
    assert not [s for s in statuses if s >= 500 and s != 503], summary
    assert not out["errors"], out["errors"][:5]
    assert not out["crossed"], out["crossed"][:5]
    assert p99 < 0.100, summary
    assert rss_after < rss_before * 1.05, summary
