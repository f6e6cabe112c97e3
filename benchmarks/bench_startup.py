"""``exbert serve`` start-up: seconds from the process start to the first 200 of ``GET /``, of
``GET /api/models`` and of the first ``POST /api/analyze``, with the default models and their
demo corpora cached (as ``make demo`` leaves them), beside ``python -c "import torch"`` timed in
the same run, in alternation (so that the machine's load hits both alike).

    python benchmarks/bench_startup.py [--runs 10] [--baseline SRC] [-- serve options]

``--baseline SRC`` also times another exbert source tree (e.g. ``git archive HEAD src | tar -x
-C /tmp/old``, then ``--baseline /tmp/old/src``), in alternation with this one.

The client polls every 20 ms with the standard library (no competing imports in the client).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

TEXT = "The quick brown fox jumps over the lazy dog."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(port: int, method: str, path: str, body: bytes | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def _until_200(port: int, method: str, path: str, t0: float, proc: subprocess.Popen[bytes],
               body: bytes | None = None, timeout: float = 300) -> float:
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"exbert serve exited with {proc.returncode}")
        if _status(port, method, path, body) == 200:
            return time.perf_counter() - t0
        time.sleep(0.02)
    raise RuntimeError(f"no 200 from {path} within {timeout} s")


def serve_once(serve_args: list[str], model: str, src: str | None = None) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if src:
        env["PYTHONPATH"] = src
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "exbert.cli", "serve", "--port", str(port),
                             *serve_args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        page = _until_200(port, "GET", "/", t0, proc)
        models = _until_200(port, "GET", "/api/models", t0, proc)
        body = json.dumps({"model": model, "text": TEXT}).encode()
        analyze = _until_200(port, "POST", "/api/analyze", t0, proc, body)
        return {"page_s": page, "models_s": models, "first_analyze_s": analyze}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def import_torch_once() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--model", default="smollm2-135m", help="the model of the first analyze")
    p.add_argument("--baseline", metavar="SRC", help="another exbert src folder to time too")
    p.add_argument("serve_args", nargs="*", help="options for exbert serve (after --)")
    args = p.parse_args()
    rows: list[dict[str, float]] = []
    for i in range(args.runs):
        row = {"import_torch_s": import_torch_once(), **serve_once(args.serve_args, args.model)}
        if args.baseline:
            base = serve_once(args.serve_args, args.model, args.baseline)
            row.update({f"baseline_{k}": v for k, v in base.items()})
        rows.append(row)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()),
              file=sys.stderr, flush=True)
    summary = {k: {"median": round(statistics.median(r[k] for r in rows), 2),
                   "min": round(min(r[k] for r in rows), 2),
                   "max": round(max(r[k] for r in rows), 2)} for k in rows[0]}
    load = os.getloadavg()
    print(json.dumps({"runs": args.runs, "cpu_count": os.cpu_count(),
                      "loadavg_after": [round(x, 2) for x in load], "seconds": summary},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
