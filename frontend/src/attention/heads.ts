// Per-head summary boxes (like exBERT's small blue matrices). Without a focused token each box
// shows a miniature of that head's T x T matrix; with a focused token it shows a heat strip of
// that head's attention from it (left token) or to it (right token). Boxes select heads; the
// selected ones carry an editable weight. Renders into a given container; no global state.

import { hsl, interpolateBlues, schemeCategory10 } from "d3";
import type { Focus } from "./view";

export interface HeadsViewData {
  nHeads: number;
  T: number;
  /** Displayed matrix of head h (T x T, special tokens already removed when hidden). */
  head(h: number): ArrayLike<number>;
  /** Token indices shown, in order. */
  visible: readonly number[];
  /** Selected heads, ascending. */
  selected: readonly number[];
  /** Weight of each selected head, same order as `selected` (as the user entered them). */
  weights: readonly number[];
  focus: Focus | null;
  layer: number;
  /** The edges are drawn in each head's colour: show the colours on the boxes. */
  colorByHead?: boolean;
}

export interface HeadsViewEvents {
  /** Plain click: `additive` false (select only h); shift/ctrl/meta click: true (toggle h). */
  onSelect?(h: number, additive: boolean): void;
  onSelectAll?(): void;
  onWeight?(h: number, weight: number): void;
  onResetWeights?(): void;
}

const BOX = 56;

/** d3's ten category colours (bertviz's; its grey, which reads as "off", made indigo), then
 * three more that stay apart from them (a teal, a dark magenta, a gold). */
const HEAD_COLOURS = [...schemeCategory10.map((c) => (c === "#7f7f7f" ? "#393b79" : c)), "#1b9e77", "#7a0177", "#e6ab02"];

/**
 * Head h's own colour (hex, for the "colour by head" edges, its box and the SVG export): the
 * thirteen colours above, then hues a golden angle apart. The same for a head in every view.
 */
export function headColor(h: number): string {
  if (h < HEAD_COLOURS.length) return HEAD_COLOURS[h];
  return hsl((h * 137.508 + 15) % 360, 0.65, 0.42).formatHex();
}

let palette: Uint8ClampedArray | null = null;
function blues(): Uint8ClampedArray {
  if (!palette) {
    palette = new Uint8ClampedArray(256 * 3);
    for (let k = 0; k < 256; k++) {
      const m = /rgb\((\d+), ?(\d+), ?(\d+)\)/.exec(interpolateBlues(0.03 + 0.97 * (k / 255)));
      palette[3 * k] = m ? +m[1] : 255;
      palette[3 * k + 1] = m ? +m[2] : 255;
      palette[3 * k + 2] = m ? +m[3] : 255;
    }
  }
  return palette;
}

/**
 * Paint `values` (rows x cols) into a canvas, each cell one pixel, scaled by its maximum with a
 * square-root curve so that weak patterns stay visible next to an attention sink.
 */
function paint(canvas: HTMLCanvasElement, values: Float32Array, rows: number, cols: number): void {
  if (canvas.width !== cols) canvas.width = cols;
  if (canvas.height !== rows) canvas.height = rows;
  const ctx = canvas.getContext?.("2d");
  if (!ctx || rows === 0 || cols === 0) return;
  let mx = 0;
  for (let k = 0; k < values.length; k++) if (values[k] > mx) mx = values[k];
  const img = ctx.createImageData(cols, rows);
  const p = blues();
  const s = mx > 0 ? 1 / mx : 0;
  for (let k = 0; k < rows * cols; k++) {
    const c = 3 * Math.min(255, Math.round(255 * Math.sqrt(Math.max(0, values[k] * s))));
    img.data[4 * k] = p[c];
    img.data[4 * k + 1] = p[c + 1];
    img.data[4 * k + 2] = p[c + 2];
    img.data[4 * k + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

interface Box {
  el: HTMLDivElement;
  canvas: HTMLCanvasElement;
  input: HTMLInputElement;
}

export class HeadsView {
  private readonly grid: HTMLDivElement;
  private readonly caption: HTMLDivElement;
  private readonly summary: HTMLDivElement;
  private boxes: Box[] = [];

  constructor(
    private readonly container: HTMLElement,
    private readonly events: HeadsViewEvents = {},
  ) {
    const doc = container.ownerDocument;
    container.classList.add("heads-view");
    const bar = doc.createElement("div");
    bar.className = "heads-bar";
    this.caption = doc.createElement("div");
    this.caption.className = "heads-caption";
    const all = doc.createElement("button");
    all.type = "button";
    all.textContent = "All heads";
    all.dataset.testid = "all-heads-button";
    all.addEventListener("click", () => this.events.onSelectAll?.());
    const reset = doc.createElement("button");
    reset.type = "button";
    reset.textContent = "Equal weights";
    reset.dataset.testid = "reset-weights-button";
    reset.title = "Give every selected head the same weight";
    reset.addEventListener("click", () => this.events.onResetWeights?.());
    bar.append(this.caption, all, reset);
    this.grid = doc.createElement("div");
    this.grid.className = "heads-grid";
    this.summary = doc.createElement("div");
    this.summary.className = "heads-summary";
    container.append(bar, this.grid, this.summary);
    this.clear();
  }

  private build(n: number): void {
    const doc = this.container.ownerDocument;
    this.grid.replaceChildren();
    this.boxes = [];
    for (let h = 0; h < n; h++) {
      const el = doc.createElement("div");
      el.className = "head-box";
      el.dataset.testid = `head-${h}`;
      el.dataset.head = String(h);
      el.dataset.color = headColor(h);
      el.style.setProperty("--head-color", headColor(h));
      el.title = `Head ${h}: click to show only this head, shift/ctrl-click to add or remove it`;
      const canvas = doc.createElement("canvas");
      canvas.width = 1;
      canvas.height = 1;
      canvas.style.width = `${BOX}px`;
      canvas.style.height = `${BOX}px`;
      const label = doc.createElement("span");
      label.className = "head-label";
      label.textContent = String(h);
      const input = doc.createElement("input");
      input.type = "number";
      input.min = "0";
      input.step = "0.05";
      input.className = "head-weight";
      input.dataset.testid = `head-weight-${h}`;
      input.title = `Weight of head ${h} in the combination`;
      input.addEventListener("click", (ev) => ev.stopPropagation());
      input.addEventListener("input", () => {
        const w = Number(input.value);
        if (input.value !== "" && Number.isFinite(w) && w >= 0) this.events.onWeight?.(h, w);
      });
      el.addEventListener("click", (ev) => {
        this.events.onSelect?.(h, ev.shiftKey || ev.ctrlKey || ev.metaKey);
      });
      el.append(canvas, label, input);
      this.grid.append(el);
      this.boxes.push({ el, canvas, input });
    }
  }

  /** Remove the boxes (no analysis to summarise). */
  clear(): void {
    this.grid.replaceChildren();
    this.boxes = [];
    this.caption.textContent = "Heads";
    this.summary.textContent = "";
  }

  update(d: HeadsViewData): void {
    if (this.boxes.length !== d.nHeads) this.build(d.nHeads);
    this.container.classList.toggle("by-head", d.colorByHead === true);
    const T = d.T;
    const vis = d.visible;
    const n = vis.length;
    const f = d.focus;
    const doc = this.container.ownerDocument;
    for (let h = 0; h < d.nHeads; h++) {
      const box = this.boxes[h];
      const m = d.head(h);
      let values: Float32Array;
      let rows: number;
      let cols: number;
      if (f) {
        rows = n;
        cols = 1;
        values = new Float32Array(n);
        for (let k = 0; k < n; k++) {
          values[k] = f.side === "left" ? m[f.index * T + vis[k]] : m[vis[k] * T + f.index];
        }
      } else {
        rows = n;
        cols = n;
        values = new Float32Array(n * n);
        for (let a = 0; a < n; a++) {
          const o = vis[a] * T;
          for (let b = 0; b < n; b++) values[a * n + b] = m[o + vis[b]];
        }
      }
      paint(box.canvas, values, rows, cols);
      const pos = d.selected.indexOf(h);
      const selected = pos >= 0;
      box.el.classList.toggle("selected", selected);
      box.input.disabled = !selected;
      box.input.hidden = !selected;
      // (inside a shadow root, as in the notebook widget, the document only sees the host)
      const active = (box.input.getRootNode() as Document | ShadowRoot).activeElement ?? doc.activeElement;
      if (selected && active !== box.input) {
        box.input.value = String(+d.weights[pos].toFixed(4));
      }
    }
    const side = f ? (f.side === "left" ? `attention from token ${f.index}` : `attention to token ${f.index}`) : "T\u00d7T";
    this.caption.textContent = `Heads \u00b7 layer ${d.layer} \u00b7 ${side}`;
    const sum = d.weights.reduce((a, b) => a + b, 0);
    const sel = d.selected.length === d.nHeads ? "all heads" : `${d.selected.length} of ${d.nHeads} heads`;
    this.summary.textContent =
      `${sel} \u00b7 weights sum to ${+sum.toFixed(3)}` +
      (sum <= 0
        ? " (all zero: equal weights used)"
        : Math.abs(sum - 1) > 1e-6
          ? " (used relative to their sum; rows renormalised)"
          : "");
  }
}
