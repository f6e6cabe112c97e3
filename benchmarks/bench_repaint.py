"""Repaint time after a layer or head change at T = 64, in headless Chromium (target <= 50 ms).

A real `exbert serve` on the shipped models and Debian's Chromium. Two numbers per change:
``js_ms``, the app's own render time (change -> SVG updated, window.__exbertRenderMs), and
``frame_ms``, the change -> the second animation frame after it (the new view painted).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
from common import text_of_tokens
from serverproc import start_server, stop_server

import exbert

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MEASURE = """async ([kind, value]) => {
  const t0 = performance.now();
  if (kind === 'layer') {
    const sel = document.querySelector('[data-testid="layer-select"]');
    sel.value = value; sel.dispatchEvent(new Event('change', {bubbles: true}));
  } else {
    document.querySelector(`[data-testid="head-${value}"]`).dispatchEvent(
      new MouseEvent('click', {bubbles: true}));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [performance.now() - t0, window.__exbertRenderMs,
          document.querySelectorAll('[data-testid="attention-view"] path.edge').length];
}"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    models = sys.argv[1:] or ["minilm-l6", "smollm2-135m"]
    proc, base = start_server(*[a for m in models for a in ("--model", m)], "--no-demo-corpus")
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name in models:
                model = exbert.load(name)
                text = text_of_tokens(model, 64)
                page.goto(base + "/")
                page.wait_for_selector(f"[data-testid=model-select] option[value='{name}']",
                                       state="attached")
                page.select_option("[data-testid=model-select]", name)
                page.fill("[data-testid=sentence-input]", text)
                page.click("[data-testid=analyze-button]")
                page.wait_for_selector("[data-testid=attention-view] path.edge", timeout=60_000)
                n_tokens = len(page.query_selector_all("[data-testid^='token-left-']"))
                layers, heads = model.info.layers, model.info.heads
                results = {"layer": [], "head": []}
                for i in range(40):
                    results["layer"].append(page.evaluate(MEASURE, ["layer", str(i % layers)]))
                    results["head"].append(page.evaluate(MEASURE, ["head", str(i % heads)]))
                for kind, samples in results.items():
                    frame = [s[0] for s in samples[5:]]
                    js = [s[1] for s in samples[5:]]
                    row = {"model": name, "tokens": n_tokens, "change": kind,
                           "edges_median": statistics.median(s[2] for s in samples),
                           "js_ms_median": statistics.median(js), "js_ms_max": max(js),
                           "frame_ms_median": statistics.median(frame),
                           "frame_ms_p95": statistics.quantiles(frame, n=20)[18]}
                    rows.append(row)
                    print(f"{name:<14} T={n_tokens} {kind:<5} edges~{row['edges_median']:.0f}  "
                          f"js median {row['js_ms_median']:.1f} ms (max {row['js_ms_max']:.1f})  "
                          f"frame median {row['frame_ms_median']:.1f} ms "
                          f"(p95 {row['frame_ms_p95']:.1f})", flush=True)
            browser.close()
    finally:
        stop_server(proc)
    out = {"machine": {"cpu_count": __import__("os").cpu_count(), "browser": "Debian chromium, headless"},
           "rows": rows}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/repaint.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
