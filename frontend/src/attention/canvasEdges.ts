// Many edges on a <canvas>: the attention view's edges when there are too many for SVG paths
// (a layer of MiniLM at 512 tokens keeps ~80k edges; joining that many paths froze the tab).
//
// The geometry and the batching are pure functions (tested without a canvas): each edge's width
// and opacity come from `edgeStyle` (the same numbers as the SVG paths), edges are grouped into
// batches of one colour and one quantised strength, and each batch is one canvas path, stroked
// once. Hover and pinned edges are drawn on a second canvas over the base one (only the focused
// token's edges, found through `EdgeIndex`), while the base is dimmed with CSS opacity: a hover
// costs the focused token's edges, not the layer's.

import type { Edge } from "./math";

/** Width and opacity of an edge of relative strength r in (0, 1]: w0 + w1 r, o0 + o1 r. */
export interface EdgeStyle {
  w0: number;
  w1: number;
  o0: number;
  o1: number;
}

/** Heads' own edges overlap: thinner and lighter than the edges of the mix. */
export function edgeStyle(byHead: boolean): EdgeStyle {
  return byHead ? { w0: 0.5, w1: 3.4, o0: 0.14, o1: 0.8 } : { w0: 0.6, w1: 4.4, o0: 0.12, o1: 0.78 };
}

/** 1 / the largest weight (0 when there is none): relative strengths are weight * scale. */
export function weightScale(edges: readonly Edge[]): number {
  let max = 0;
  for (const e of edges) if (e.weight > max) max = e.weight;
  return max > 0 ? 1 / max : 0;
}

/**
 * The cubic curve of an edge from (x1, y1) to (x2, y2), as d3's linkHorizontal draws it: both
 * control points at the middle x. Returns [cx1, cy1, cx2, cy2].
 */
export function controlPoints(x1: number, y1: number, x2: number, y2: number): [number, number, number, number] {
  const mx = (x1 + x2) / 2;
  return [mx, y1, mx, y2];
}

/** Quantised strengths per batch (the widths and opacities a canvas batch can have). */
export const LEVELS = 24;

/** The strength level of relative strength r: 0..LEVELS-1. */
export function levelOf(r: number): number {
  return Math.max(0, Math.min(LEVELS - 1, Math.floor(r * LEVELS)));
}

/** The relative strength a level is drawn with (its middle). */
export function levelStrength(level: number): number {
  return (level + 0.5) / LEVELS;
}

/** Edges drawn as one canvas path: one colour, one width, one opacity. */
export interface Batch {
  /** A CSS colour. */
  color: string;
  width: number;
  alpha: number;
  /** Indices into the edge list, in drawing order. */
  edges: number[];
}

export interface BatchOptions {
  /** Colour of an edge (e.g. its head's colour, or one colour for all). */
  color(e: Edge): string;
  style: EdgeStyle;
  /** 1 / the largest weight (see weightScale). */
  scale: number;
  /** Draw only these edges (indices), e.g. a token's; default all. */
  only?: readonly number[];
}

/**
 * Group edges by colour and strength level. Drawing order: colours in the order they first
 * appear (head after head: the last head on top, as the SVG), and within a colour the weak
 * levels first (the strong edges on top).
 */
export function batchEdges(edges: readonly Edge[], o: BatchOptions): Batch[] {
  const byColor = new Map<string, (number[] | undefined)[]>();
  const visit = (k: number) => {
    const e = edges[k];
    const c = o.color(e);
    let levels = byColor.get(c);
    if (!levels) byColor.set(c, (levels = new Array(LEVELS)));
    const lv = levelOf(e.weight * o.scale);
    (levels[lv] ??= []).push(k);
  };
  if (o.only) for (const k of o.only) visit(k);
  else for (let k = 0; k < edges.length; k++) visit(k);
  const out: Batch[] = [];
  const { w0, w1, o0, o1 } = o.style;
  for (const [color, levels] of byColor) {
    levels.forEach((list, lv) => {
      if (!list) return;
      const r = levelStrength(lv);
      out.push({ color, width: w0 + w1 * r, alpha: o0 + o1 * r, edges: list });
    });
  }
  return out;
}

/**
 * The batches in frames of `budget` units of work each (`first` in the first; an edge costs its
 * width in pixels, at least 1: a software canvas spends about that much longer on a wide curve),
 * strongest first: the first frame shows a
 * layer's structure, the faint edges follow (a long input keeps tens of thousands of them). One
 * colour's edges look the same in any order; between heads' colours the strong edges of every
 * head come before the weak ones.
 */
export function frames(batches: readonly Batch[], budget: number, first = budget): Batch[][] {
  const order = batches
    .map((b, k) => ({ b, k }))
    .sort((p, q) => q.b.width - p.b.width || p.k - q.k)
    .map((p) => p.b);
  const out: Batch[][] = [];
  let frame: Batch[] = [];
  let room = Math.max(1, first);
  for (const b of order) {
    const cost = Math.max(1, b.width);
    let at = 0;
    while (at < b.edges.length) {
      const take = Math.max(1, Math.min(Math.floor(room / cost), b.edges.length - at));
      frame.push(take === b.edges.length ? b : { ...b, edges: b.edges.slice(at, at + take) });
      at += take;
      room -= take * cost;
      if (room < cost) {
        out.push(frame);
        frame = [];
        room = Math.max(1, budget);
      }
    }
  }
  if (frame.length) out.push(frame);
  return out;
}

/** Per token: the indices of the edges it gives (from) and receives (to). */
export interface EdgeIndex {
  from(token: number): number[];
  to(token: number): number[];
}

/** Index edges by their endpoints (tokens 0..T-1), in edge order. */
export function indexEdges(edges: readonly Edge[], T: number): EdgeIndex {
  const build = (key: (e: Edge) => number) => {
    const start = new Int32Array(T + 1);
    for (const e of edges) start[key(e) + 1]++;
    for (let t = 0; t < T; t++) start[t + 1] += start[t];
    const fill = start.slice(0, T);
    const list = new Int32Array(edges.length);
    edges.forEach((e, k) => (list[fill[key(e)]++] = k));
    return (t: number) => (t >= 0 && t < T ? Array.from(list.subarray(start[t], start[t + 1])) : []);
  };
  return { from: build((e) => e.from), to: build((e) => e.to) };
}

/** What the canvas needs of a 2D context (the standard CanvasRenderingContext2D has it). */
export type Ctx2D = Pick<
  CanvasRenderingContext2D,
  "beginPath" | "moveTo" | "bezierCurveTo" | "stroke" | "setTransform" | "clearRect" | "strokeStyle" | "lineWidth" | "globalAlpha" | "lineCap"
>;

/** Where edges go: x of the attending (left) and attended (right) ends, y of each token's row. */
export interface EdgeGeometry {
  x1: number;
  x2: number;
  /** y of token t's row (NaN: not shown). */
  y: ArrayLike<number>;
}

/** Edges per canvas path: a few dozen keeps the rasteriser's list of edges per scanline short
 * (one path for thousands of long curves is several times slower in Chromium's software canvas). */
export const CHUNK = 32;

/**
 * Stroke the batches, CHUNK edges per path. Edges with an end not shown, and edges that lie
 * wholly above `band[0]` or below `band[1]` (view y), are skipped. Returns the edges stroked.
 */
export function strokeBatches(ctx: Ctx2D, edges: readonly Edge[], batches: readonly Batch[], g: EdgeGeometry, band: readonly [number, number] = [-Infinity, Infinity]): number {
  const { x1, x2, y } = g;
  const mx = (x1 + x2) / 2;
  const [top, bottom] = band;
  let n = 0;
  ctx.lineCap = "round";
  for (const b of batches) {
    ctx.strokeStyle = b.color;
    ctx.lineWidth = b.width;
    ctx.globalAlpha = b.alpha;
    let open = 0;
    for (const k of b.edges) {
      const e = edges[k];
      const ya = y[e.from];
      // (a token's edge to itself: half a pixel of slope, as the SVG path)
      const yb = y[e.to] + (e.from === e.to ? 0.5 : 0);
      if (Number.isNaN(ya) || Number.isNaN(yb)) continue;
      if ((ya < top && yb < top) || (ya > bottom && yb > bottom)) continue;
      if (open === 0) ctx.beginPath();
      ctx.moveTo(x1, ya);
      ctx.bezierCurveTo(mx, ya, mx, yb, x2, yb);
      n++;
      if (++open === CHUNK) {
        ctx.stroke();
        open = 0;
      }
    }
    if (open > 0) ctx.stroke();
  }
  ctx.globalAlpha = 1;
  return n;
}

/**
 * The band of view y to paint: the visible part `visible` ([top, bottom], view coordinates)
 * widened by `margin` of its height on each side, within 0..height. Null when nothing is visible.
 */
export function paintBand(visible: readonly [number, number], height: number, margin = 0.25): [number, number] | null {
  const top = Math.max(0, visible[0]);
  const bottom = Math.min(height, visible[1]);
  if (!(bottom > top)) return null;
  const m = (bottom - top) * margin;
  return [Math.max(0, Math.floor(top - m)), Math.min(height, Math.ceil(bottom + m))];
}

/** Device pixels per CSS pixel for a canvas of w x h CSS pixels: the screen's, capped so that the
 * canvas stays under `maxPixels` (and under the browsers' 32k side limit). */
export function pixelRatio(w: number, h: number, devicePixelRatio: number, maxPixels = 16e6): number {
  let r = Math.max(1, devicePixelRatio || 1);
  const area = Math.max(1, w * h);
  if (area * r * r > maxPixels) r = Math.sqrt(maxPixels / area);
  if (Math.max(w, h) * r > 32000) r = 32000 / Math.max(w, h);
  return Math.max(0.25, r);
}
