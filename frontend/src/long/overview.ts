// The overview of a long document (data-testid `long-overview`): a <canvas> heatmap of the block
// attention of the selected layer (rows: query blocks from the top, columns: key blocks from the
// left), one canvas pixel per block, scaled by CSS. A drag on it brushes a window of tokens
// (data-testid `long-brush`, a square on the diagonal); a click centres a window on the token.
// The brush follows the pointer at once; the window is chosen when the button is released.

import { h } from "../dom";
import { brushWindow, paintMatrix, scaleMax, tokenAt, windowPixels, type Window } from "./maths";
import { DEFAULT_WINDOW_TOKENS } from "../store";

export interface OverviewEvents {
  /** A window was brushed (button released). */
  brush(w: Window): void;
}

export class Overview {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly brushEl: HTMLDivElement;
  private readonly frame: HTMLDivElement;
  private readonly caption: HTMLElement;
  private T = 0;
  private window: Window = { start: 0, stop: 0 };
  private anchor: number | null = null;
  /** ms of the last brush repaint (pointer event to the brush moved). */
  lastBrushMs = 0;

  constructor(private readonly events: OverviewEvents) {
    this.canvas = h("canvas", { class: "long-canvas", "data-testid": "long-overview", width: 1, height: 1, "aria-label": "Block attention of the whole document; drag to choose a window" });
    this.brushEl = h("div", { class: "long-brush", "data-testid": "long-brush", hidden: true });
    this.frame = h("div", { class: "long-frame" }, this.canvas, this.brushEl);
    this.caption = h("div", { class: "long-caption" });
    this.el = h("section", { class: "long-overview" }, h("h3", {}, "Document overview"), this.frame, this.caption);
    this.frame.addEventListener("pointerdown", (ev) => this.down(ev));
    this.frame.addEventListener("pointermove", (ev) => this.move(ev));
    this.frame.addEventListener("pointerup", (ev) => this.up(ev));
    this.frame.addEventListener("pointercancel", () => this.cancel());
  }

  /** Paint block matrix `m` (B x B) of a document of `T` tokens. */
  paint(m: Float32Array, B: number, T: number, label: string): void {
    this.T = T;
    if (this.canvas.width !== B || this.canvas.height !== B) {
      this.canvas.width = B;
      this.canvas.height = B;
    }
    const ctx = this.canvas.getContext("2d");
    if (ctx) {
      const img = ctx.createImageData(B, B);
      paintMatrix(m, B, scaleMax(m, 0.99), img.data);
      ctx.putImageData(img, 0, 0);
    }
    this.caption.textContent = `${label} \u00b7 ${T} tokens in ${B} \u00d7 ${B} blocks (${(T / B).toFixed(1)} tokens each) \u00b7 rows: query tokens, columns: key tokens`;
    this.canvas.dataset.ready = "true";
    this.canvas.dataset.bins = String(B);
    this.placeBrush(this.window);
  }

  /** Not painted (loading, or an error): the canvas says so. */
  unpaint(): void {
    this.canvas.dataset.ready = "false";
  }

  setLayerLabel(layer: number): void {
    this.canvas.dataset.layer = String(layer);
  }

  /** The window shown by the brush. */
  setWindow(w: Window, T: number): void {
    this.window = w;
    this.T = T;
    if (this.anchor === null) this.placeBrush(w);
  }

  private placeBrush(w: Window): void {
    const t0 = performance.now();
    const { x, w: width } = windowPixels(w, this.T, 100);
    this.brushEl.hidden = this.T <= 0 || w.stop <= w.start;
    // percentages: the square on the diagonal, whatever the canvas's displayed size
    Object.assign(this.brushEl.style, { left: `${x}%`, top: `${x}%`, width: `${width}%`, height: `${width}%` });
    this.brushEl.dataset.start = String(w.start);
    this.brushEl.dataset.stop = String(w.stop);
    this.lastBrushMs = performance.now() - t0;
  }

  private tokenOf(ev: PointerEvent): number {
    const r = this.frame.getBoundingClientRect();
    return tokenAt(ev.clientX - r.left, r.width, this.T);
  }

  private down(ev: PointerEvent): void {
    if (ev.button !== 0 || this.T <= 0) return;
    ev.preventDefault();
    this.anchor = this.tokenOf(ev);
    this.frame.setPointerCapture?.(ev.pointerId);
    this.placeBrush(brushWindow(this.anchor, this.anchor, this.T, 1));
  }

  private move(ev: PointerEvent): void {
    if (this.anchor === null) return;
    this.placeBrush(brushWindow(this.anchor, this.tokenOf(ev), this.T, 1));
  }

  private up(ev: PointerEvent): void {
    if (this.anchor === null) return;
    const a = this.anchor;
    const b = this.tokenOf(ev);
    this.anchor = null;
    this.frame.releasePointerCapture?.(ev.pointerId);
    const w = brushWindow(a, b, this.T, DEFAULT_WINDOW_TOKENS);
    this.placeBrush(w);
    this.events.brush(w);
  }

  private cancel(): void {
    this.anchor = null;
    this.placeBrush(this.window);
  }
}
