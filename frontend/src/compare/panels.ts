// The compare view's lists: the predictions that changed between A and B (data-testid
// `compare-predictions`, rows `compare-prediction`) and the heads that changed most (a layers x
// heads heatmap `compare-heads` with cells `rect.ch-cell[data-layer][data-head][data-value]`, and
// the top heads `compare-head-top-<k>`); a click on a cell or a top head selects that head.

import { interpolateOranges } from "d3";
import { displayToken } from "../attention/view";
import { h, svg } from "../dom";
import { rankHeads, type PredictionChange } from "./diff";

const CELL = 13;
const LEFT = 28;
const TOP = 16;
const TOP_HEADS = 5;

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;
const signed = (d: number) => `${d >= 0 ? "+" : "\u2212"}${(100 * Math.abs(d)).toFixed(1)} pts`;

export class PredictionChanges {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly note: HTMLElement;
  private readonly table: HTMLTableElement;

  constructor() {
    this.note = h("div", { class: "cmp-note" });
    this.body = h("tbody");
    this.table = h("table", { class: "cmp-table", "data-testid": "compare-predictions" });
    const head = h("thead", {}, h("tr", {}, ...["token", "A top-1", "B top-1", "A's top-1 in B"].map((t) => h("th", {}, t))));
    this.table.append(head, this.body);
    this.el = h(
      "div",
      { class: "cmp-panel" },
      h("h4", {}, "Predictions that changed"),
      this.note,
      this.table,
    );
  }

  /** Show `changes`; `unavailable` says why there are no predictions (null when there are). */
  show(changes: readonly PredictionChange[], unavailable: string | null): void {
    this.note.textContent = unavailable
      ? `No predictions: ${unavailable}`
      : changes.length
        ? `${changes.length} aligned token${changes.length === 1 ? "" : "s"} with another top-1 or a probability change of 5 points or more (masked tokens first).`
        : "No aligned token's prediction changed.";
    this.table.hidden = changes.length === 0;
    this.body.replaceChildren(
      ...changes.map((c) => {
        const changed = c.topA.token_id !== c.topB.token_id;
        return h(
          "tr",
          {
            "data-testid": "compare-prediction",
            class: `${c.masked ? "masked" : ""} ${changed ? "changed" : ""}`.trim(),
            "data-a": c.a,
            "data-b": c.b,
            "data-token": c.token,
            "data-top-a": c.topA.token,
            "data-top-b": c.topB.token,
            "data-delta": c.delta.toFixed(4),
            "data-masked": c.masked ? "true" : "false",
          },
          h("td", {}, `${c.masked ? "\u25a0 " : ""}${displayToken(c.token)}`),
          h("td", {}, `${displayToken(c.topA.token)} ${pct(c.topA.prob)}`),
          h("td", {}, `${displayToken(c.topB.token)} ${pct(c.topB.prob)}`),
          h("td", { class: c.delta >= 0 ? "up" : "down" }, `${c.probB === null ? "< top-k" : pct(c.probB)} (${signed(c.delta)})`),
        );
      }),
    );
  }
}

export class HeadChanges {
  readonly el: HTMLElement;
  private readonly grid: SVGSVGElement;
  private readonly top: HTMLElement;
  private readonly note: HTMLElement;

  constructor(private readonly select: (layer: number, head: number) => void) {
    this.grid = svg("svg", { class: "ch-grid", "data-testid": "compare-heads" });
    this.grid.addEventListener("click", (ev) => {
      const r = (ev.target as Element).closest("rect.ch-cell") as SVGRectElement | null;
      if (r) this.select(Number(r.dataset.layer), Number(r.dataset.head));
    });
    this.top = h("ol", { class: "ch-top" });
    this.note = h("div", { class: "cmp-note" });
    this.el = h(
      "div",
      { class: "cmp-panel" },
      h("h4", {}, "Heads that changed most"),
      this.note,
      h("div", { class: "ch-row" }, this.grid, this.top),
    );
  }

  /** Mean |B - A| per head ([layers * heads], NaN: not loaded); `current` is outlined. */
  show(values: Float32Array, layers: number, heads: number, current: { layer: number; heads: number[] | null }): void {
    let max = 0;
    let missing = 0;
    for (const v of values) {
      if (Number.isFinite(v)) max = Math.max(max, v);
      else missing++;
    }
    this.note.textContent =
      "Mean |B \u2212 A| of each head over the aligned tokens; click a head to show it." +
      (missing ? ` ${missing / Math.max(1, heads)} layer(s) not loaded.` : "");
    this.grid.setAttribute("width", String(LEFT + heads * CELL + 2));
    this.grid.setAttribute("height", String(TOP + layers * CELL + 2));
    const nodes: SVGElement[] = [];
    for (let hd = 0; hd < heads; hd++) {
      if (hd % 2 === 0 || heads <= 8) nodes.push(svg("text", { x: LEFT + hd * CELL + CELL / 2, y: TOP - 4, class: "ch-axis", "text-anchor": "middle" }, String(hd)));
    }
    for (let l = 0; l < layers; l++) {
      nodes.push(svg("text", { x: LEFT - 4, y: TOP + l * CELL + CELL - 3, class: "ch-axis", "text-anchor": "end" }, String(l)));
      for (let hd = 0; hd < heads; hd++) {
        const v = values[l * heads + hd];
        const on = current.layer === l && (current.heads === null || current.heads.includes(hd));
        const r = svg("rect", {
          class: `ch-cell${on ? " current" : ""}`,
          x: LEFT + hd * CELL,
          y: TOP + l * CELL,
          width: CELL - 1,
          height: CELL - 1,
          fill: Number.isFinite(v) && max > 0 ? interpolateOranges(0.05 + (0.9 * v) / max) : "#eee",
          "data-layer": l,
          "data-head": hd,
          "data-value": Number.isFinite(v) ? v.toFixed(5) : "",
        });
        r.append(svg("title", {}, `layer ${l}, head ${hd}: ${Number.isFinite(v) ? v.toFixed(4) : "not loaded"}`));
        nodes.push(r);
      }
    }
    this.grid.replaceChildren(...nodes);
    this.top.replaceChildren(
      ...rankHeads(values, heads, TOP_HEADS).map((c, k) => {
        const b = h("button", { type: "button", class: "link", "data-testid": `compare-head-top-${k}`, "data-layer": c.layer, "data-head": c.head }, `layer ${c.layer}, head ${c.head}`);
        b.addEventListener("click", () => this.select(c.layer, c.head));
        return h("li", {}, b, ` ${c.value.toFixed(4)}`);
      }),
    );
  }
}
