// The attention view's edges on two canvases inside its SVG (a <foreignObject> over the gap
// between the token columns): the base canvas holds every edge, batched (canvasEdges.ts); the
// overlay holds the focused tokens' edges. Focusing a token dims the base with CSS opacity and
// redraws only the overlay.
//
// The canvases cover only the band of the view that can be seen (plus a quarter screen above and
// below), not the whole column: a view of 512 tokens is ~7,000 px tall and its edges are long, so
// painting all of it costs seconds in a software canvas. `viewportChanged` (scroll, resize)
// repaints when the visible part leaves the painted band. Without a 2D context (jsdom) nothing
// is painted; the edges stay listed (the view's test accessor reads them from the data).

import { headColor } from "./heads";
import type { Edge } from "./math";
import {
  batchEdges,
  edgeStyle,
  frames,
  indexEdges,
  paintBand,
  pixelRatio,
  strokeBatches,
  weightScale,
  type EdgeGeometry,
  type EdgeIndex,
} from "./canvasEdges";

const XHTML = "http://www.w3.org/1999/xhtml";
const BLUE = "#2563eb";
const BLUE_DARK = "#1e40af";
const ORANGE = "#ea7317";
/** Work (edges x their width, see `frames`) stroked in the first frame (the strongest edges) and
 * in each frame after: a software canvas (no GPU) rasterises a thousand or two long thin curves
 * in a few tens of ms. */
export const EDGES_FIRST_FRAME = 1000;
export const EDGES_PER_FRAME = 2500;
/** Opacity of the base canvas while a token is focused (the SVG fades its other edges too). */
const DIMMED = "0.12";

/** Which of a token's edges: those it gives (left column) or receives (right column). */
export interface EdgeFocus {
  side: "left" | "right";
  index: number;
}

export class EdgeCanvas {
  readonly fo: SVGForeignObjectElement;
  private readonly base: HTMLCanvasElement;
  private readonly over: HTMLCanvasElement;
  private edges: readonly Edge[] = [];
  private geometry: EdgeGeometry = { x1: 0, x2: 0, y: [] };
  private byHead = false;
  private scale = 0;
  private index: EdgeIndex | null = null;
  private T = 0;
  /** The gap's x and width, the view's height (view coordinates = CSS pixels). */
  private area = { x: 0, w: 0, h: 0 };
  /** The painted band [top, bottom] (view y) and its device pixel ratio; null: none. */
  private band: [number, number] | null = null;
  private ratio = 1;
  private focused: [EdgeFocus | null, EdgeFocus | null] = [null, null];
  private overDrawn = false;
  private pending = 0;
  /** The frame that paints the next part of the base (0: none), and the paint it belongs to. */
  private next = 0;
  private generation = 0;

  /** `visible()`: the part of the view that can be seen, [top, bottom] in view y. */
  constructor(
    doc: Document,
    private readonly visible: () => [number, number],
  ) {
    this.fo = doc.createElementNS("http://www.w3.org/2000/svg", "foreignObject");
    this.fo.setAttribute("class", "edge-canvas");
    const wrap = doc.createElementNS(XHTML, "div") as HTMLDivElement;
    wrap.style.cssText = "position:relative;width:100%;height:100%;pointer-events:none";
    const canvas = (role: string) => {
      const c = doc.createElementNS(XHTML, "canvas") as HTMLCanvasElement;
      c.setAttribute("data-layer", role);
      c.style.cssText = "position:absolute;left:0;top:0;pointer-events:none";
      wrap.append(c);
      return c;
    };
    this.base = canvas("base");
    this.over = canvas("focus");
    this.fo.append(wrap);
  }

  /** Draw `edges` between x1 and x2 of the gap area.x..area.x+area.w of a view area.h tall. */
  draw(edges: readonly Edge[], g: EdgeGeometry, T: number, area: { x: number; w: number; h: number }): void {
    this.edges = edges;
    this.T = T;
    this.index = null;
    this.byHead = edges.length > 0 && edges[0].head !== undefined;
    this.scale = weightScale(edges);
    this.geometry = g;
    this.area = area;
    this.paint();
  }

  /** Forget the edges and free the pixels (the view went back to SVG paths). */
  clear(): void {
    this.generation++;
    this.edges = [];
    this.index = null;
    this.band = null;
    for (const c of [this.base, this.over]) this.resize(c, 1, 1);
    this.base.style.opacity = "";
    this.overDrawn = false;
  }

  /** The page scrolled or resized: repaint (at the next frame) if the visible part left the band. */
  viewportChanged(): void {
    if (this.edges.length === 0 || this.pending) return;
    const win = this.fo.ownerDocument.defaultView;
    const [top, bottom] = this.visible();
    const vt = Math.max(0, top);
    const vb = Math.min(bottom, this.area.h);
    const b = this.band;
    // (nothing of the view in sight: nothing to paint until it comes back)
    const within = vb <= vt || (b !== null && vt >= b[0] - 1 && vb <= b[1] + 1);
    if (within || !win) return;
    this.pending = win.requestAnimationFrame(() => {
      this.pending = 0;
      this.paint();
    });
  }

  /** Highlight the edges of the hovered and the pinned token (null: none) over a dimmed base. */
  focus(hover: EdgeFocus | null, pinned: EdgeFocus | null): void {
    this.focused = [hover, pinned];
    const any = hover !== null || pinned !== null;
    this.base.style.opacity = any ? DIMMED : "";
    if (!this.overDrawn && !any) return;
    const ctx = this.context(this.over);
    if (!ctx || !this.band) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.over.width, this.over.height);
    this.overDrawn = false;
    if (!any) return;
    this.setTransform(ctx);
    const style = edgeStyle(this.byHead);
    for (const [f, colour] of [[hover, BLUE_DARK], [pinned, ORANGE]] as const) {
      const only = this.edgesOf(f);
      if (only.length === 0) continue;
      const color = this.byHead ? (e: Edge) => headColor(e.head!) : () => colour;
      strokeBatches(ctx, this.edges, batchEdges(this.edges, { color, style, scale: this.scale, only }), this.geometry, this.band);
      this.overDrawn = true;
    }
  }

  /** Indices of the edges a token gives (left) or receives (right). */
  edgesOf(f: EdgeFocus | null): number[] {
    if (!f) return [];
    this.index ??= indexEdges(this.edges, this.T);
    return f.side === "left" ? this.index.from(f.index) : this.index.to(f.index);
  }

  /** The band painted now ([top, bottom] view y), for tests. */
  get painted(): readonly [number, number] | null {
    return this.band;
  }

  private paint(): void {
    const { x, w, h } = this.area;
    const band = paintBand(this.visible(), h) ?? [0, Math.min(h, 1)];
    this.band = band;
    const bh = Math.max(1, band[1] - band[0]);
    this.ratio = pixelRatio(w, bh, this.fo.ownerDocument.defaultView?.devicePixelRatio ?? 1);
    const fo = this.fo;
    fo.setAttribute("x", String(x));
    fo.setAttribute("y", String(band[0]));
    fo.setAttribute("width", String(w));
    fo.setAttribute("height", String(bh));
    for (const c of [this.base, this.over]) this.resize(c, w, bh);
    this.overDrawn = false;
    const ctx = this.context(this.base);
    const gen = ++this.generation;
    const win = fo.ownerDocument.defaultView;
    if (this.next && win) win.cancelAnimationFrame(this.next);
    this.next = 0;
    fo.setAttribute("data-paint", "done");
    if (ctx) {
      const color = this.byHead ? (e: Edge) => headColor(e.head!) : () => BLUE;
      const parts = frames(batchEdges(this.edges, { color, style: edgeStyle(this.byHead), scale: this.scale }), EDGES_PER_FRAME, EDGES_FIRST_FRAME);
      const step = (k: number) => {
        if (gen !== this.generation) return;
        strokeBatches(ctx, this.edges, parts[k], this.geometry, band);
        if (k + 1 >= parts.length || !win) {
          for (const part of parts.slice(k + 1)) strokeBatches(ctx, this.edges, part, this.geometry, band);
          this.next = 0;
          fo.setAttribute("data-paint", "done");
          return;
        }
        fo.setAttribute("data-paint", "partial");
        this.next = win.requestAnimationFrame(() => {
          // (after this frame is painted: the next part goes into the frame after)
          this.next = 0;
          win.setTimeout(() => step(k + 1), 0);
        });
      };
      if (parts.length) step(0);
    }
    this.focus(...this.focused);
  }

  private resize(c: HTMLCanvasElement, w: number, h: number): void {
    // (setting the size clears the canvas, even to the same size)
    c.width = Math.max(1, Math.ceil(w * this.ratio));
    c.height = Math.max(1, Math.ceil(h * this.ratio));
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }

  private context(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
    const ctx = typeof c.getContext === "function" ? (c.getContext("2d") as CanvasRenderingContext2D | null) : null;
    if (ctx) this.setTransform(ctx);
    return ctx;
  }

  /** View coordinates -> the band's device pixels. */
  private setTransform(ctx: CanvasRenderingContext2D): void {
    const r = this.ratio;
    ctx.setTransform(r, 0, 0, r, -this.area.x * r, -(this.band?.[0] ?? 0) * r);
  }
}
