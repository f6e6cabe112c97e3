// Progress while the model runs (data-testid `analysis-progress`): an indeterminate bar, the
// (estimated, until the server has tokenised) token count and the elapsed time. A long paste on
// a small CPU takes tens of seconds; the page says what it is doing meanwhile.

import { h } from "../dom";

/** A rough token count of a text before the server has tokenised it (~4 characters a token). */
export function estimateTokens(text: string): number {
  const chars = [...text].length;
  return chars ? Math.max(1, Math.round(chars / 4)) : 0;
}

export class Progress {
  readonly el: HTMLDivElement;
  private readonly label: HTMLSpanElement;
  private timer: ReturnType<typeof setInterval> | null = null;
  private started = 0;
  private what = "";

  constructor() {
    this.label = h("span", { class: "progress-label", "data-testid": "analysis-progress-label" });
    this.el = h(
      "div",
      { class: "analysis-progress", "data-testid": "analysis-progress", role: "status", hidden: true },
      h("div", { class: "progress-bar", role: "progressbar", "aria-label": "Analysing" }, h("div", { class: "progress-fill" })),
      this.label,
    );
  }

  start(tokens: number, what = "Analysing"): void {
    this.stop();
    this.started = performance.now();
    this.what = `${what} about ${tokens.toLocaleString("en")} tokens`;
    this.el.hidden = false;
    this.tick();
    this.timer = setInterval(() => this.tick(), 500);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.el.hidden = true;
  }

  private tick(): void {
    const s = (performance.now() - this.started) / 1000;
    this.label.textContent = `${this.what}\u2026 ${s.toFixed(0)} s`;
    this.el.dataset.elapsed = s.toFixed(1);
  }
}
