"""Server analyse time / engine analyze() time on the same input (target <= 1.1), and the
attention bytes per weight on the wire (target <= 2.1).

The server is the real uvicorn app on loopback (its analysis cache off, so every request runs
the model); the client is the standard library's ``http.client`` on one kept-alive
connection, in the same process (a client in another process competes with the model for
the two cores; httpx's pure-Python response handling adds ~0.4 ms a request and more per MB,
which is the client library's cost, not the server's: it is timed too, as ``httpx_ms``).

The engine, ``model.analyze()``, is timed on the server's inference thread (timed there, so
without the hand-over): torch then has one calling thread and one OpenMP thread pool, as in a
server. (Called from the main thread instead, a second pool's threads still spin after each
call while the other pool works, which slowed whichever call came next by up to ~10% here.)
All are timed in alternation on the same texts.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, machine, text_of_tokens

import exbert
from exbert.server import ServerConfig, create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    names = sys.argv[1:] or ["minilm-l6", "smollm2-135m"]
    models = {n: exbert.load(n) for n in names}
    port = free_port()
    app = create_app(models, config=ServerConfig(port=port, cache_bytes=0))
    queue = app.state.exbert.queue
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    rows = []
    for name, model in models.items():
        for t in (16, 64, 256):
            text = text_of_tokens(model, t)
            body = {"model": name, "text": text, "top_k": 5}
            raw_body = json.dumps(body)

            def via_server(raw_body=raw_body) -> int:
                conn.request("POST", "/api/analyze", raw_body,
                             {"content-type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"{r.status}: {data[:200]!r}")
                return len(data)

            def via_httpx(body=body) -> int:
                r = client.post("/api/analyze", json=body)
                r.raise_for_status()
                return len(r.content)

            def engine(model=model, text=text) -> float:
                t0 = time.perf_counter()
                model.analyze(text, top_k=5)
                return time.perf_counter() - t0

            size = via_server()
            reps = 41 if t <= 64 else 11
            med = interleaved(
                {"server": via_server, "engine": lambda engine=engine: queue.call(engine),
                 "httpx": via_httpx},
                repeats=reps, self_timed=("engine",))
            a = model.analyze(text)
            weights = a.attentions.size
            rows.append({
                "model": name, "tokens": len(a.tokens),
                "engine_ms": med["engine"] * 1e3, "server_ms": med["server"] * 1e3,
                "ratio": med["server"] / med["engine"],
                "httpx_ms": med["httpx"] * 1e3, "httpx_ratio": med["httpx"] / med["engine"],
                "bytes": size, "bytes_per_weight": size / weights,
            })
            r = rows[-1]
            print(f"{name:<14} T={r['tokens']:<4} engine {r['engine_ms']:8.1f} ms  "
                  f"server {r['server_ms']:8.1f} ms  ratio {r['ratio']:.3f}  "
                  f"(httpx {r['httpx_ratio']:.3f})  "
                  f"{r['bytes_per_weight']:.3f} B/weight", flush=True)
    server.should_exit = True
    out = {"machine": machine(), "client": "http.client, same process",
           "engine": "model.analyze() on the server's inference thread", "rows": rows,
           "max_ratio": max(r["ratio"] for r in rows),
           "max_bytes_per_weight": max(r["bytes_per_weight"] for r in rows)}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/server.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
