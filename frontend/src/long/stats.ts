// Per-head statistics of a long document as a layers x heads heatmap (data-testid `head-stats`):
// one `rect.hs-cell` per (layer, head) with data-layer, data-head and data-value; a select
// (data-testid `head-stat-select`) picks the statistic (first_token: the attention sink's mass,
// mean_distance: expected |i - j|, entropy, ...). A click on a cell selects that layer and head.

import { h, svg } from "../dom";
import { css, heat } from "./maths";

const CELL = 14;
const LEFT = 28;
const TOP = 16;

/** Stats as the server sends them: names and values [S, L, H]. */
export interface HeadStatsData {
  names: string[];
  values: Float32Array;
  layers: number;
  heads: number;
}

/** The values of statistic `name` as [L, H] and their range. */
export function statOf(d: HeadStatsData, name: string): { values: Float32Array; min: number; max: number } | null {
  const k = d.names.indexOf(name);
  if (k < 0) return null;
  const n = d.layers * d.heads;
  const values = d.values.subarray(k * n, (k + 1) * n);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { values, min: Number.isFinite(min) ? min : 0, max: Number.isFinite(max) ? max : 0 };
}

export interface HeadStatsEvents {
  select(layer: number, head: number): void;
  stat(name: string): void;
}

export class HeadStats {
  readonly el: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly svgEl: SVGSVGElement;
  private readonly note: HTMLElement;
  private data: HeadStatsData | null = null;
  private cells: SVGRectElement[] = [];
  private stat = "";

  constructor(private readonly events: HeadStatsEvents) {
    this.select = h("select", { "data-testid": "head-stat-select", "aria-label": "Statistic" });
    this.select.addEventListener("change", () => this.events.stat(this.select.value));
    this.svgEl = svg("svg", { class: "hs-grid" });
    this.svgEl.addEventListener("click", (ev) => {
      const r = (ev.target as Element).closest("rect.hs-cell") as SVGRectElement | null;
      if (r) this.events.select(Number(r.dataset.layer), Number(r.dataset.head));
    });
    this.note = h("div", { class: "long-caption" });
    this.el = h(
      "section",
      { class: "head-stats", "data-testid": "head-stats" },
      h("div", { class: "hs-bar" }, h("h3", {}, "Heads"), h("label", {}, "statistic ", this.select)),
      this.svgEl,
      this.note,
    );
  }

  /** No document: no grid, no statistic (a new document's grid replaces it when it arrives). */
  reset(): void {
    this.data = null;
    this.cells = [];
    this.stat = "";
    this.select.replaceChildren();
    this.svgEl.replaceChildren();
    this.svgEl.removeAttribute("viewBox");
    this.note.textContent = "";
    this.el.dataset.ready = "false";
    for (const k of ["layer", "heads", "stat"]) delete this.el.dataset[k];
  }

  loading(): void {
    this.el.dataset.ready = "false";
    this.note.textContent = "Loading the head statistics\u2026";
  }

  setData(d: HeadStatsData): void {
    this.data = d;
    this.select.replaceChildren(...d.names.map((n) => h("option", { value: n }, n.replace(/_/g, " "))));
    const W = LEFT + d.heads * CELL;
    const H = TOP + d.layers * CELL;
    this.svgEl.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svgEl.setAttribute("width", String(W));
    this.svgEl.setAttribute("height", String(H));
    const kids: SVGElement[] = [];
    for (let hd = 0; hd < d.heads; hd++) {
      kids.push(svg("text", { x: LEFT + hd * CELL + CELL / 2, y: TOP - 4, class: "hs-label", "text-anchor": "middle" }, String(hd)));
    }
    this.cells = [];
    for (let l = 0; l < d.layers; l++) {
      kids.push(svg("text", { x: LEFT - 4, y: TOP + l * CELL + CELL - 3, class: "hs-label", "text-anchor": "end" }, String(l)));
      for (let hd = 0; hd < d.heads; hd++) {
        const r = svg("rect", { x: LEFT + hd * CELL, y: TOP + l * CELL, width: CELL - 1, height: CELL - 1, class: "hs-cell", "data-layer": l, "data-head": hd });
        r.append(svg("title", {}, ""));
        this.cells.push(r);
        kids.push(r);
      }
    }
    this.svgEl.replaceChildren(...kids);
    this.el.dataset.ready = "true";
    this.stat = "";
  }

  /** Show statistic `name` with layer `layer` and the heads `heads` marked as selected. */
  update(name: string, layer: number, heads: readonly number[]): void {
    const d = this.data;
    if (!d) return;
    const chosen = d.names.includes(name) ? name : d.names[0];
    if (chosen !== this.stat) {
      this.stat = chosen;
      this.select.value = chosen;
      const s = statOf(d, chosen);
      if (s) {
        const span = s.max - s.min || 1;
        this.cells.forEach((r, k) => {
          const v = s.values[k];
          r.setAttribute("fill", css(heat((v - s.min) / span)));
          r.dataset.value = String(v);
          r.firstElementChild!.textContent = `layer ${r.dataset.layer}, head ${r.dataset.head}: ${chosen.replace(/_/g, " ")} ${v.toFixed(3)}`;
        });
        this.note.textContent = `${chosen.replace(/_/g, " ")}: ${s.min.toFixed(3)} (white) to ${s.max.toFixed(3)} (dark) \u00b7 click a cell to select its layer and head`;
      }
    }
    const hs = new Set(heads);
    this.cells.forEach((r, k) => {
      const l = Math.floor(k / d.heads);
      r.classList.toggle("selected", l === layer && hs.has(k % d.heads));
      r.classList.toggle("layer", l === layer);
    });
    this.el.dataset.layer = String(layer);
    this.el.dataset.heads = [...hs].sort((a, b) => a - b).join(",");
    this.el.dataset.stat = chosen;
  }
}
