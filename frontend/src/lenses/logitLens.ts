// The logit lens (data-testid `logit-lens`): a hidden states x tokens grid. Row l is what hidden
// state l predicts through the model's own final normalisation and output head (row "emb" = the
// embeddings, the last row = the model's output); each cell shows its top-1 token and is coloured
// by the probability, at that layer, of the token the last layer predicts. Hover: the top-k
// (data-testid `logit-lens-tooltip`). Cells: `td.ll-cell` with data-layer (hidden state 0..L),
// data-position, data-token (top-1), data-prob (the target's probability), data-rank.

import type { ModelKind, TokenInfo } from "../api/types";
import { displayToken } from "../attention/view";
import { h } from "../dom";
import { probColor, probInk } from "./maths";
import type { LogitLensData } from "./source";

/** The label of hidden state l of L + 1 (0 = embeddings; l = the output of 0-based layer l-1). */
export function hiddenLabel(l: number, L: number): string {
  if (l === 0) return "emb";
  return l === L ? `${l - 1} (out)` : String(l - 1);
}

export class LogitLensView {
  readonly el: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly tip: HTMLDivElement;
  private data: LogitLensData | null = null;

  constructor() {
    this.body = h("div", { class: "ll-body" });
    this.tip = h("div", { class: "ll-tooltip", "data-testid": "logit-lens-tooltip", hidden: true });
    this.el = h("div", { class: "logit-lens", "data-testid": "logit-lens" }, this.body, this.tip);
    this.body.addEventListener("pointerover", (ev) => this.hover(ev.target as HTMLElement));
    this.body.addEventListener("pointerleave", () => (this.tip.hidden = true));
  }

  loading(): void {
    this.data = null;
    this.el.dataset.state = "loading";
    this.tip.hidden = true;
    this.body.replaceChildren(h("div", { class: "lens-caption" }, h("span", { class: "spinner small" }), " Computing the logit lens\u2026"));
  }

  /** A message instead of the grid (a model without an output head, an error). */
  message(text: string): void {
    this.data = null;
    this.el.dataset.state = "message";
    this.tip.hidden = true;
    this.body.replaceChildren(h("div", { class: "lens-message", "data-testid": "logit-lens-message" }, text));
  }

  /** Draw `d` (nothing to do when it is drawn already). */
  show(d: LogitLensData, tokens: readonly TokenInfo[], kind: ModelKind): void {
    if (d === this.data) return;
    this.data = d;
    this.tip.hidden = true;
    const L = d.top.length - 1;
    const head = h(
      "tr",
      {},
      h("th", { class: "ll-corner" }, "layer"),
      ...d.positions.map((p) => h("th", { class: "ll-tok", title: tokens[p]?.text ?? "" }, displayToken(tokens[p]?.text ?? "", 10))),
    );
    const rows = d.top.map((row, l) =>
      h(
        "tr",
        { class: l === L ? "ll-out" : "" },
        h("th", { class: "ll-layer", title: l === 0 ? "the embeddings" : `the output of layer ${l - 1}` }, hiddenLabel(l, L)),
        ...row.map((preds, i) => {
          const p = d.target_prob[l]?.[i] ?? null;
          const top = preds[0];
          return h(
            "td",
            {
              class: "ll-cell",
              "data-layer": l,
              "data-position": d.positions[i],
              "data-col": i,
              "data-token": top?.token ?? "",
              "data-prob": p === null ? "" : p.toFixed(4),
              "data-rank": d.target_rank[l]?.[i] ?? "",
              style: `background:${probColor(p)};color:${probInk(p)}`,
            },
            displayToken(top?.token ?? "", 8),
          );
        }),
      ),
    );
    const next = kind === "autoregressive" ? "the next token" : "the token at each position";
    const caption = h(
      "div",
      { class: "lens-caption" },
      `Each row: what a hidden state predicts for ${next} through the model's ${d.lens === "tuned" ? "tuned lens" : "own output head"}; ` +
        `the cell shows its top-1 token, coloured by the probability of the token the last layer predicts. Hover for the top-${d.top_k}.`,
    );
    const legend = probLegend(false);
    const table = h("table", { class: "ll-grid" }, h("thead", {}, head), h("tbody", {}, ...rows));
    this.el.dataset.state = "ready";
    this.el.dataset.layers = String(L + 1);
    this.el.dataset.columns = String(d.positions.length);
    this.body.replaceChildren(h("div", { class: "ll-head" }, caption, legend), h("div", { class: "ll-scroll" }, table));
  }

  private hover(target: HTMLElement): void {
    const d = this.data;
    const cell = target.closest<HTMLElement>("td.ll-cell");
    if (!d || !cell) {
      this.tip.hidden = true;
      return;
    }
    const l = Number(cell.dataset.layer);
    const i = Number(cell.dataset.col);
    const L = d.top.length - 1;
    const preds = d.top[l]?.[i] ?? [];
    const p = d.target_prob[l]?.[i];
    const list = h(
      "ol",
      { class: "tt-list" },
      ...preds.map((q) =>
        h(
          "li",
          {},
          h("span", { class: "tt-pred" }, displayToken(q.token, 16)),
          h("span", { class: "tt-bar" }, h("span", { style: `width:${Math.round(100 * q.prob)}%` })),
          h("span", { class: "tt-prob" }, `${(100 * q.prob).toFixed(1)}%`),
        ),
      ),
    );
    this.tip.replaceChildren(
      h("div", { class: "tt-title" }, `${hiddenLabel(l, L)} \u00b7 position ${d.positions[i]}`),
      list,
      h(
        "div",
        { class: "tt-sub" },
        `final prediction \u201c${displayToken(d.target_tokens[i] ?? "", 16)}\u201d: ` +
          `${p === undefined ? "?" : (100 * p).toFixed(1)}%, rank ${(d.target_rank[l]?.[i] ?? 0) + 1}`,
      ),
    );
    const box = this.el.getBoundingClientRect();
    const r = cell.getBoundingClientRect();
    Object.assign(this.tip.style, { left: `${r.left - box.left}px`, top: `${r.bottom - box.top + 4}px` });
    this.tip.hidden = false;
  }
}

/** The 0..1 colour legend of the lens grids (and a grey "n/a" swatch when `na`). */
export function probLegend(na: boolean): HTMLDivElement {
  const swatch = (t: number | null, extra = "") =>
    h("span", { class: "ll-swatch", style: `background:${probColor(t)}${extra}` });
  const tail = na ? [swatch(null, ";margin-left:8px"), "n/a"] : [];
  return h("div", { class: "ll-legend" }, "0", ...[0, 0.25, 0.5, 0.75, 1].map((t) => swatch(t)), "1", ...tail);
}
