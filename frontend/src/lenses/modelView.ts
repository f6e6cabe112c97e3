// The model view (data-testid `model-view`): every layer x head of the analysis on screen as a
// small attention thumbnail, painted on one canvas; an invisible element per cell
// (`model-view-cell-<layer>-<head>`, data-layer, data-head) takes the pointer: hover shows a
// larger preview, a click selects that layer and head in the main view. Layers not in the
// analysis yet are asked of the host and drawn hatched until they arrive, when all layers fit in
// one frame (ALL_LAYERS_BYTES, the size up to which the server sends every layer at once);
// past that the analysis came per layer and the view draws only the layers at hand, saying up to
// how many tokens it shows every layer (data-limit). Layers that failed to load are asked again
// by `retry` (the panel opened again).
// Test hooks: data-ready ("true" once every layer is painted), data-loaded (layers painted),
// data-limit (the most tokens of a full model view, set when the input has more),
// data-paint-ms (the last paint, ms, canvas work and layout included).

import { ALL_LAYERS_BYTES } from "../api/limits";
import { payloadBytes } from "../attention/math";
import { h } from "../dom";
import type { Analysis } from "../store";
import { bluesTable, cellAt, cellOrigin, gridLayout, maxOf, shade, thumbnail, type GridLayout } from "./maths";

export interface ModelViewEvents {
  select(layer: number, head: number): void;
  /** Layers missing from the analysis; the promise (if any) settles once they are added. */
  needLayers(layers: number[]): Promise<void> | void;
}

const PREVIEW = 200;
const DEFAULT_WIDTH = 760;

/** The most tokens whose attention of every layer and head fits ALL_LAYERS_BYTES. */
export function fullViewTokens(layers: number, heads: number): number {
  let T = Math.floor(Math.sqrt(ALL_LAYERS_BYTES / Math.max(1, payloadBytes(layers, heads, 1))));
  while (payloadBytes(layers, heads, T + 1) <= ALL_LAYERS_BYTES) T++;
  while (T > 0 && payloadBytes(layers, heads, T) > ALL_LAYERS_BYTES) T--;
  return T;
}

export class ModelView {
  readonly el: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly cells: HTMLDivElement;
  private readonly labels: HTMLDivElement;
  private readonly preview: HTMLDivElement;
  private readonly previewCanvas: HTMLCanvasElement;
  private readonly previewCaption: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private grid: GridLayout | null = null;
  private analysis: Analysis | null = null;
  private painted = -1;
  private asked = new WeakSet<Analysis>();
  /** Why some layers are not drawn (too long an input, a failed fetch); "" when none. */
  private why = "";

  constructor(private readonly events: ModelViewEvents) {
    this.canvas = h("canvas", { class: "mv-canvas" });
    this.cells = h("div", { class: "mv-cells" });
    this.labels = h("div", { class: "mv-labels" });
    this.previewCanvas = h("canvas", { width: 1, height: 1 });
    this.previewCaption = h("div", { class: "mv-preview-caption" });
    this.preview = h("div", { class: "mv-preview", "data-testid": "model-view-preview", hidden: true }, this.previewCaption, this.previewCanvas);
    this.note = h("div", { class: "lens-caption" });
    const stage = h("div", { class: "mv-stage" }, this.labels, this.canvas, this.cells, this.preview);
    this.el = h("div", { class: "model-view", "data-testid": "model-view" }, this.note, stage);
    this.cells.addEventListener("pointerover", (ev) => this.hover(ev.target as HTMLElement));
    this.cells.addEventListener("pointerleave", () => (this.preview.hidden = true));
    this.cells.addEventListener("click", (ev) => {
      const c = (ev.target as HTMLElement).closest<HTMLElement>(".mv-cell");
      if (c) this.events.select(Number(c.dataset.layer), Number(c.dataset.head));
    });
  }

  /** Draw analysis `a` (repaints only when the analysis or its loaded layers changed). */
  update(a: Analysis | null, layer: number, heads: readonly number[] | null): void {
    if (a !== this.analysis) {
      this.analysis = a;
      this.painted = -1;
      this.why = "";
      this.preview.hidden = true;
    }
    if (!a) {
      this.el.removeAttribute("data-ready");
      this.cells.replaceChildren();
      this.note.textContent = "Analyse a text to see every layer and head.";
      return;
    }
    const { n_layers: L, n_heads: H } = a.header;
    const T = a.header.tokens.length;
    const missing = a.attention.missingLayers();
    const loaded = L - missing.length;
    const limit = fullViewTokens(L, H);
    const why = this.why;
    if (missing.length && payloadBytes(L, H, T) > ALL_LAYERS_BYTES) {
      // (the analysis was sent per layer: all of them would not fit one frame)
      this.el.dataset.limit = String(limit);
      this.why =
        `The model view shows inputs whose attention fits in one frame: up to ${limit} tokens for this model ` +
        `(this input has ${T}). It draws the layers at hand; select a layer above to add it.`;
    } else {
      this.el.removeAttribute("data-limit");
      if (!missing.length) this.why = "";
      if (missing.length && !this.asked.has(a)) {
        this.asked.add(a);
        this.why = "";
        const settled = () => {
          if (this.analysis !== a) return;
          if (a.attention.missingLayers().length) {
            this.why = "Some layers could not be loaded: open the panel again to retry.";
            this.painted = -1;
          }
          this.update(a, layer, heads);
        };
        const p = this.events.needLayers(missing);
        if (p) void p.then(settled, settled);
      }
    }
    if (loaded !== this.painted || why !== this.why) this.paint(a);
    this.mark(layer, heads);
  }

  /** Ask again for the layers of the analysis shown that did not arrive (a failed fetch). */
  retry(): void {
    const a = this.analysis;
    if (a && a.attention.missingLayers().length) this.asked.delete(a);
  }

  private paint(a: Analysis): void {
    const t0 = performance.now();
    const { n_layers: L, n_heads: H } = a.header;
    const T = a.header.tokens.length;
    const width = this.el.clientWidth || DEFAULT_WIDTH;
    const g = gridLayout(L, H, width);
    if (JSON.stringify(this.grid) !== JSON.stringify(g)) this.layoutCells(g);
    this.grid = g;
    const W = g.width;
    const Hpx = g.height;
    this.canvas.width = W;
    this.canvas.height = Hpx;
    Object.assign(this.canvas.style, { width: `${W}px`, height: `${Hpx}px` });
    const ctx = this.canvas.getContext?.("2d");
    const S = g.cell;
    let loaded = 0;
    if (ctx) {
      const img = ctx.createImageData(W, Hpx);
      const px = img.data;
      const pal = bluesTable();
      const thumb = new Float32Array(S * S);
      for (let l = 0; l < L; l++) {
        const have = a.attention.has(l);
        if (have) loaded++;
        for (let hd = 0; hd < H; hd++) {
          const { x, y } = cellOrigin(g, l, hd);
          if (have) thumbnail(a.attention.head(l, hd), T, S, thumb);
          const mx = have ? maxOf(thumb) : 0;
          for (let r = 0; r < S; r++) {
            let o = 4 * ((y + r) * W + x);
            for (let c = 0; c < S; c++, o += 4) {
              if (have) {
                const k = 3 * shade(thumb[r * S + c], mx);
                px[o] = pal[k];
                px[o + 1] = pal[k + 1];
                px[o + 2] = pal[k + 2];
              } else {
                const v = (r + c) % 8 < 4 ? 236 : 246; // hatched: still loading
                px[o] = px[o + 1] = px[o + 2] = v;
              }
              px[o + 3] = 255;
            }
          }
        }
      }
      ctx.putImageData(img, 0, 0);
    } else {
      for (let l = 0; l < L; l++) if (a.attention.has(l)) loaded++;
    }
    this.painted = loaded;
    this.note.textContent =
      `${L} layers \u00d7 ${H} heads, ${T} tokens (${g.across ? "columns: layers, rows: heads" : "rows: layers, columns: heads"}; ` +
      `each box a head's attention, its rows the attending tokens). Hover to enlarge, click to open it above.` +
      (this.why ? ` ${this.why}` : loaded < L ? ` Loading ${L - loaded} more layer${L - loaded === 1 ? "" : "s"}\u2026` : "");
    this.el.getBoundingClientRect();
    const ms = performance.now() - t0;
    this.el.dataset.paintMs = ms.toFixed(1);
    this.el.dataset.loaded = String(loaded);
    this.el.dataset.ready = String(loaded === L);
  }

  /** One element per cell (the pointer's targets and the tests' hooks), the layer and head
   * numbers along the sides. */
  private layoutCells(g: GridLayout): void {
    const cells: HTMLElement[] = [];
    const labels: HTMLElement[] = [];
    const side = (text: string, y: number, layer?: number) =>
      h("div", { class: "mv-label", "data-layer": layer, style: `top:${y}px;height:${g.cell}px;line-height:${g.cell}px` }, text);
    const over = (text: string, x: number, layer?: number) =>
      h("div", { class: "mv-label top", "data-layer": layer, style: `left:${x}px;width:${g.cell}px` }, text);
    for (let l = 0; l < g.layers; l++) {
      const { x, y } = cellOrigin(g, l, 0);
      labels.push(g.across ? over(String(l), x, l) : side(String(l), y, l));
      for (let hd = 0; hd < g.heads; hd++) {
        const o = cellOrigin(g, l, hd);
        cells.push(
          h("div", {
            class: "mv-cell",
            "data-testid": `model-view-cell-${l}-${hd}`,
            "data-layer": l,
            "data-head": hd,
            title: `layer ${l}, head ${hd}`,
            style: `left:${o.x}px;top:${o.y}px;width:${g.cell}px;height:${g.cell}px`,
          }),
        );
      }
    }
    for (let hd = 0; hd < g.heads; hd++) {
      const { x, y } = cellOrigin(g, 0, hd);
      labels.push(g.across ? side(`h${hd}`, y) : over(`h${hd}`, x));
    }
    this.cells.replaceChildren(...cells);
    this.labels.replaceChildren(...labels);
    Object.assign(this.cells.style, { width: `${g.width}px`, height: `${g.height}px` });
  }

  /** Outline the cells of the main view's layer and heads. */
  private mark(layer: number, heads: readonly number[] | null): void {
    for (const c of this.cells.children as HTMLCollectionOf<HTMLElement>) {
      const on = Number(c.dataset.layer) === layer && (heads === null || heads.includes(Number(c.dataset.head)));
      c.classList.toggle("selected", on);
    }
    for (const lab of this.labels.children as HTMLCollectionOf<HTMLElement>) {
      lab.classList.toggle("current", lab.dataset.layer === String(layer));
    }
  }

  /** The larger preview of the hovered cell, beside it. */
  private hover(target: HTMLElement): void {
    const a = this.analysis;
    const g = this.grid;
    const c = target.closest<HTMLElement>(".mv-cell");
    if (!a || !g || !c) return;
    const l = Number(c.dataset.layer);
    const hd = Number(c.dataset.head);
    this.previewCaption.textContent = `layer ${l} \u00b7 head ${hd}`;
    if (!a.attention.has(l)) {
      this.previewCaption.textContent += this.el.dataset.limit ? " (select this layer above to add it)" : " (loading)";
      this.preview.hidden = false;
      return;
    }
    const T = a.header.tokens.length;
    const S = Math.min(PREVIEW, Math.max(T, 1));
    const cv = this.previewCanvas;
    cv.width = S;
    cv.height = S;
    const ctx = cv.getContext?.("2d");
    if (ctx) {
      const thumb = thumbnail(a.attention.head(l, hd), T, S);
      const mx = maxOf(thumb);
      const img = ctx.createImageData(S, S);
      const pal = bluesTable();
      for (let k = 0; k < S * S; k++) {
        const p = 3 * shade(thumb[k], mx);
        img.data.set([pal[p], pal[p + 1], pal[p + 2], 255], 4 * k);
      }
      ctx.putImageData(img, 0, 0);
    }
    const { x, y } = cellOrigin(g, l, hd);
    const right = x + g.cell + 8 + PREVIEW < Math.max(g.width, this.el.clientWidth);
    Object.assign(this.preview.style, {
      left: `${right ? x + g.cell + 8 : Math.max(0, x - PREVIEW - 8)}px`,
      top: `${Math.max(0, Math.min(y, Math.max(g.height, PREVIEW + 24) - PREVIEW - 24))}px`,
    });
    this.preview.hidden = false;
  }

  /** The cell under a point of the canvas (for tests of the layout). */
  cellAt(x: number, y: number): { layer: number; head: number } | null {
    return this.grid ? cellAt(this.grid, x, y) : null;
  }
}
