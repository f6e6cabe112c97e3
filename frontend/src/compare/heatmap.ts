// A token x token heatmap on a canvas (the compare view's A, B and B - A): rows attend to
// columns, labelled with the tokens when the cells are large enough; hovering a cell names its
// two tokens and value (the canvas's title). Sequential (0..max, white to blue) or diverging
// (-max..max: blue where B attends less than A, red where it attends more).

import { interpolateBlues, interpolateRdBu } from "d3";
import { h } from "../dom";

const LABEL = 64;
const MAX_PX = 300;
const MIN_LABEL_CELL = 8;

export type Scale = "sequential" | "diverging";

export interface HeatmapData {
  /** n x n, row-major. */
  values: ArrayLike<number>;
  labels: readonly string[];
  scale: Scale;
  /** The value of the strongest colour (|value| for a diverging scale). */
  max: number;
}

/** The colour of a value on a scale whose strongest colour is at `max`. */
export function heatColor(v: number, scale: Scale, max: number): string {
  if (!Number.isFinite(v) || max <= 0) return "#ffffff";
  if (scale === "diverging") return interpolateRdBu(0.5 - Math.max(-1, Math.min(1, v / max)) / 2);
  return interpolateBlues(Math.max(0, Math.min(1, v / max)) * 0.9);
}

/** Pixels per cell for n tokens (at most MAX_PX for the grid, at least 2 px). */
export function cellSize(n: number): number {
  return n > 0 ? Math.max(2, Math.min(28, Math.floor(MAX_PX / n))) : 28;
}

export class Heatmap {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly caption: HTMLElement;
  private data: HeatmapData | null = null;

  constructor(testid: string, title: string) {
    this.canvas = h("canvas", { "data-testid": testid, class: "cmp-canvas", width: 1, height: 1 });
    this.caption = h("figcaption", {}, title);
    this.el = h("figure", { class: "cmp-map" }, this.caption, this.canvas);
    this.canvas.addEventListener("mousemove", (ev) => this.hover(ev));
  }

  setTitle(text: string): void {
    this.caption.textContent = text;
  }

  /** Paint `d`; null clears the map. */
  draw(d: HeatmapData | null): void {
    this.data = d;
    const c = this.canvas;
    c.dataset.ready = d ? "true" : "false";
    const n = d ? d.labels.length : 0;
    c.dataset.size = String(n);
    c.dataset.max = d ? d.max.toFixed(4) : "0";
    const cell = cellSize(n);
    const labelled = cell >= MIN_LABEL_CELL;
    const off = labelled ? LABEL : 0;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = off + n * cell;
    c.style.width = `${w}px`;
    c.style.height = `${w}px`;
    c.width = Math.max(1, Math.round(w * dpr));
    c.height = Math.max(1, Math.round(w * dpr));
    const ctx = c.getContext("2d");
    if (!ctx || !d) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, w);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        ctx.fillStyle = heatColor(d.values[i * n + j], d.scale, d.max);
        ctx.fillRect(off + j * cell, off + i * cell, cell, cell);
      }
    }
    ctx.strokeStyle = "#d0d4da";
    ctx.strokeRect(off + 0.5, off + 0.5, n * cell - 1, n * cell - 1);
    if (!labelled) return;
    ctx.fillStyle = "#333";
    ctx.font = `${Math.min(12, cell - 1)}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    d.labels.forEach((t, i) => ctx.fillText(t, off - 4, off + (i + 0.5) * cell, off - 6));
    ctx.textAlign = "left";
    d.labels.forEach((t, j) => {
      ctx.save();
      ctx.translate(off + (j + 0.5) * cell, off - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(t, 0, 0, LABEL);
      ctx.restore();
    });
  }

  private hover(ev: MouseEvent): void {
    const d = this.data;
    if (!d) return;
    const n = d.labels.length;
    const cell = cellSize(n);
    const off = cell >= MIN_LABEL_CELL ? LABEL : 0;
    const r = this.canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - r.top - off) / cell);
    const j = Math.floor((ev.clientX - r.left - off) / cell);
    if (i < 0 || j < 0 || i >= n || j >= n) {
      this.canvas.title = "";
      return;
    }
    const v = d.values[i * n + j];
    this.canvas.title = `${d.labels[i]} \u2192 ${d.labels[j]}: ${d.scale === "diverging" && v > 0 ? "+" : ""}${v.toFixed(3)}`;
  }
}
