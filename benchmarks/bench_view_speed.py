"""Speed of the curved-line attention view in Chromium at T = 16 / 64 / 256 / 512 tokens.

MiniLM (6 layers x 12 heads), all heads, threshold 70%, on a real `exbert serve` and Debian's
Chromium (headless). Per length, measured in the page:

- ``layer_ms``: a layer change (the layer select's change event) -> the view drawn at the new
  layer and the next frame painted (requestAnimationFrame, then a task after the paint); every
  layer is visited once before, so that no request is timed. The canvas paints the strongest
  edges in that frame and the fainter ones in the frames after (2,500 edges in the first, 5,000 in each after):
  ``all_ms`` is the change -> the last of them painted;
- ``hover_ms``: the pointer leaving one token and entering another (one task, as a real pointer
  move) -> the next frame painted; left and right column tokens alternate;
- ``longtask_ms``: the longest main-thread task (PerformanceObserver "longtask", which reports
  tasks over 50 ms; 0 = none) during those layer changes and hovers; ``first_ms``: the longest
  during the first drawing of the analysis;
- ``edges`` (drawn, median) and ``mode`` (svg paths or canvas).

``--baseline REV`` also measures the app of git revision REV (e.g. HEAD before the canvas
change), built into a temporary folder with this checkout's node_modules and served to the page
by Playwright in place of the installed one (the API stays the running server). ``--by-head``
adds the "colour by head" rows. Run by hand, after `cd frontend && npm run build`:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_view_speed.py [--baseline HEAD] [--lengths 256,512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
from common import text_of_tokens
from serverproc import start_server, stop_server

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEW = '[data-testid="attention-view"]'

INIT = """
window.__longtasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longtasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
} catch (e) { window.__longtasks = null; }
"""

AFTER_PAINT = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"

LAYER = """async (layer) => {
  const view = document.querySelector('VIEW');
  const t0 = performance.now();
  const sel = document.querySelector('[data-testid="layer-select"]');
  sel.value = String(layer);
  sel.dispatchEvent(new Event('change', { bubbles: true }));
  while (view.getAttribute('data-layer') !== String(layer) || view.getAttribute('data-ready') !== 'true') {
    await new Promise(r => setTimeout(r, 0));
  }
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const first = performance.now() - t0;
  const fo = view.querySelector('.edge-canvas');
  while (fo && view.getAttribute('data-edge-mode') === 'canvas' && fo.getAttribute('data-paint') !== 'done') {
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  const all = performance.now() - t0;
  const n = view.getAttribute('data-edge-count') ?? view.querySelectorAll('path.edge').length;
  return [first, Number(n), view.getAttribute('data-edge-mode') ?? 'svg', all];
}""".replace("VIEW", VIEW)

HOVER = """async ([prev, next]) => {
  const t0 = performance.now();
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  if (prev) q(prev).dispatchEvent(new MouseEvent('mouseleave', { bubbles: false }));
  q(next).dispatchEvent(new MouseEvent('mouseenter', { bubbles: false }));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""


def build_app(rev: str, out: Path) -> Path:
    """The app (index.html + assets) of git revision ``rev``, built into ``out``."""
    src = out / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "frontend"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    (src / "frontend" / "node_modules").symlink_to(ROOT / "frontend" / "node_modules")
    dist = out / "dist"
    subprocess.run(["npx", "vite", "build", "--outDir", str(dist), "--emptyOutDir", "--logLevel", "warn"],
                   cwd=src / "frontend", check=True)
    return dist


def serve_from(page, base: str, dist: Path) -> None:
    """Serve the app's files from ``dist`` (everything but /api from the server)."""
    def handle(route):
        path = route.request.url[len(base):].split("?")[0].lstrip("/") or "index.html"
        f = dist / path
        if path.startswith("api/") or not f.is_file():
            route.continue_()
        else:
            ctype = {"js": "text/javascript", "css": "text/css", "html": "text/html"}.get(f.suffix[1:], "application/octet-stream")
            route.fulfill(status=200, body=f.read_bytes(), headers={"content-type": ctype})
    page.route(base + "/**", handle)


def longest(page) -> float:
    tasks = page.evaluate("() => { const t = window.__longtasks; window.__longtasks = []; return t; }")
    return max(tasks, default=0.0) if tasks is not None else float("nan")


def measure(page, base: str, text: str, opts: argparse.Namespace, by_head: bool) -> dict:
    page.goto(base + "/")
    page.wait_for_selector("[data-testid=model-select] option[value='minilm-l6']", state="attached")
    page.select_option("[data-testid=model-select]", "minilm-l6")
    page.fill("[data-testid=sentence-input]", text)
    if by_head:
        page.check("[data-testid=color-by-head]")
    longest(page)
    page.click("[data-testid=analyze-button]")
    page.wait_for_selector(f'{VIEW}[data-ready="true"]', timeout=600_000)
    page.evaluate(AFTER_PAINT)
    first = longest(page)
    n_tokens = len(page.query_selector_all("[data-testid^='token-left-']"))
    page.click("[data-testid=all-heads-button]")
    page.wait_for_selector(f'{VIEW}[data-ready="true"]', timeout=600_000)
    # every layer once (a long input's layers come one request at a time): none is timed
    for layer in range(6):
        page.select_option("[data-testid=layer-select]", str(layer))
        page.wait_for_selector(f'{VIEW}[data-ready="true"][data-layer="{layer}"]', timeout=600_000)
    page.evaluate(AFTER_PAINT)
    longest(page)
    layer_ms, all_ms, edges, modes = [], [], [], set()
    for k in range(opts.repeats):
        ms, n, mode, done = page.evaluate(LAYER, (k + 1) % 6)
        layer_ms.append(ms)
        all_ms.append(done)
        edges.append(n)
        modes.add(mode)
    hover_ms = []
    prev = None
    mid = n_tokens // 2
    for k in range(opts.repeats):
        nxt = f"token-{'left' if k % 2 == 0 else 'right'}-{1 + (mid + 7 * k) % (n_tokens - 2)}"
        hover_ms.append(page.evaluate(HOVER, [prev, nxt]))
        prev = nxt
    return {"tokens": n_tokens, "by_head": by_head, "edges": statistics.median(edges),
            "mode": "/".join(sorted(modes)),
            "layer_ms_median": statistics.median(layer_ms), "layer_ms_max": max(layer_ms),
            "all_edges_ms_median": statistics.median(all_ms),
            "hover_ms_median": statistics.median(hover_ms), "hover_ms_max": max(hover_ms),
            "longtask_ms": longest(page), "first_ms": first}


def save(rows: list[dict], cpu: str) -> None:
    """benchmarks/results/view_speed.json, rewritten after each row."""
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "view_speed.json").write_text(json.dumps(
        {"machine": {"cpu_count": os.cpu_count(), "cpu": cpu, "browser": "Debian chromium, headless",
                     "load_average": os.getloadavg()[0]},
         "rows": rows}, indent=2))


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="16,64,256,512")
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--baseline", metavar="REV", help="also measure the app of this git revision")
    ap.add_argument("--baseline-lengths", default="16,64,256",
                    help="lengths for the baseline (the old view needs minutes per layer at 512)")
    ap.add_argument("--by-head", action="store_true", help="also measure 'colour by head'")
    opts = ap.parse_args()
    import exbert

    model = exbert.load("minilm-l6")
    lengths = [int(x) for x in opts.lengths.split(",")]
    texts = {n: text_of_tokens(model, n) for n in lengths}
    apps: list[tuple[str, Path | None, list[int]]] = [("new", None, lengths)]
    tmp = tempfile.TemporaryDirectory()
    if opts.baseline:
        dist = build_app(opts.baseline, Path(tmp.name))
        old_lengths = [int(x) for x in opts.baseline_lengths.split(",")]
        for n in old_lengths:
            texts.setdefault(n, text_of_tokens(model, n))
        apps.append((opts.baseline, dist, old_lengths))
    proc, base = start_server("--model", "minilm-l6", "--max-tokens", "512", "--no-demo-corpus")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), Debian chromium headless, software rendering (--disable-gpu)")
    print(f"load average: {os.getloadavg()[0]:.1f} (other work on the machine inflates every number)")
    print(f"{'app':<6} {'T':>4} {'colour':<6} {'mode':<7} {'edges':>7} {'layer ms (med/max)':>19} {'all ms':>7} "
          f"{'hover ms (med/max)':>19} {'longest task ms':>16} {'first draw task':>16}")
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            for app, dist, lens in apps:
                for by_head in [False, True] if opts.by_head else [False]:
                    for n in lens:
                        page = browser.new_page(viewport={"width": 1280, "height": 900})
                        page.set_default_timeout(900_000)
                        page.add_init_script(INIT)
                        if dist is not None:
                            serve_from(page, base, dist)
                        r = {"app": app, **measure(page, base, texts[n], opts, by_head)}
                        page.close()
                        rows.append(r)
                        save(rows, cpu)
                        print(f"{app:<6} {r['tokens']:>4} {'head' if by_head else 'mix':<6} {r['mode']:<7} "
                              f"{r['edges']:>7.0f} {r['layer_ms_median']:>9.1f} / {r['layer_ms_max']:>7.1f} "
                              f"{r['all_edges_ms_median']:>7.1f} "
                              f"{r['hover_ms_median']:>9.1f} / {r['hover_ms_max']:>7.1f} "
                              f"{r['longtask_ms']:>16.1f} {r['first_ms']:>16.1f}", flush=True)
            browser.close()
    finally:
        stop_server(proc)
        tmp.cleanup()


if __name__ == "__main__":
    main()
