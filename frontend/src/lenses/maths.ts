// The lenses' pure parts: colour scales, the model view's grid layout and thumbnail sampling, the
// rollout cache keys and the slicing of a rolled-out [layers, T, T] array. No DOM here.

import { interpolateBlues, interpolateYlGnBu } from "d3";
import { DEFAULT_RESIDUAL, MAX_FLOW_TOKENS } from "../api/limits";
import type { RolloutData, RolloutRequest } from "./source";

/** Attention flow (max-flow) is offered up to MAX_FLOW_TOKENS tokens; rollout and flow mix in
 * the residual share DEFAULT_RESIDUAL (both from src/exbert/view.py, through api/limits.ts). */
export { DEFAULT_RESIDUAL, MAX_FLOW_TOKENS };

function table(interp: (t: number) => string, lo = 0): Uint8ClampedArray {
  const out = new Uint8ClampedArray(256 * 3);
  for (let k = 0; k < 256; k++) {
    const m = /rgb\((\d+), ?(\d+), ?(\d+)\)/.exec(interp(lo + (1 - lo) * (k / 255)));
    out.set(m ? [+m[1], +m[2], +m[3]] : [255, 255, 255], 3 * k);
  }
  return out;
}

let blues: Uint8ClampedArray | null = null;
let ylgnbu: Uint8ClampedArray | null = null;

/** The thumbnails' palette: 256 RGB triples, white-ish to dark blue (as the head boxes). */
export function bluesTable(): Uint8ClampedArray {
  blues ??= table(interpolateBlues, 0.03);
  return blues;
}

/** Index 0..255 of value `v` scaled by `max` with a square-root curve (weak patterns stay
 * visible beside an attention sink, as in the head boxes). */
export function shade(v: number, max: number): number {
  if (!(max > 0) || !(v > 0)) return 0;
  return Math.min(255, Math.round(255 * Math.sqrt(Math.min(1, v / max))));
}

/** CSS colour of a probability or score t in 0..1 (yellow-green-blue); null/NaN: light grey. */
export function probColor(t: number | null): string {
  if (t === null || !Number.isFinite(t)) return "rgb(238, 240, 244)";
  ylgnbu ??= table(interpolateYlGnBu, 0.02);
  const k = 3 * Math.min(255, Math.max(0, Math.round(255 * t)));
  return `rgb(${ylgnbu[k]}, ${ylgnbu[k + 1]}, ${ylgnbu[k + 2]})`;
}

/** Text colour readable on probColor(t). */
export const probInk = (t: number | null) => (t !== null && Number.isFinite(t) && t > 0.5 ? "#fff" : "#1c2433");

/** The model view's grid: square cells of `cell` px with `gap` px between them, a `label` px
 * column and a `top` px row for the numbers. Layers run down the rows and heads across, or,
 * `across` (a deep model with few heads), layers across the columns and heads down the rows. */
export interface GridLayout {
  layers: number;
  heads: number;
  across: boolean;
  cell: number;
  gap: number;
  label: number;
  top: number;
  width: number;
  height: number;
}

/** The larger cells of the two orientations that fit `width` x `maxHeight` px (cells between
 * `min` and `max` px; layers down the rows when both are alike). */
export function gridLayout(layers: number, heads: number, width: number, maxHeight = 640, min = 22, max = 56): GridLayout {
  const gap = 3;
  const label = 26;
  const top = 16;
  const size = (rows: number, cols: number) => {
    const fitW = cols > 0 ? Math.floor((width - label) / cols) - gap : max;
    const fitH = rows > 0 ? Math.floor((maxHeight - top) / rows) - gap : max;
    return Math.max(min, Math.min(max, fitW, fitH));
  };
  const down = size(layers, heads);
  const side = size(heads, layers);
  const across = side > down;
  const cell = across ? side : down;
  const [rows, cols] = across ? [heads, layers] : [layers, heads];
  return { layers, heads, across, cell, gap, label, top, width: label + cols * (cell + gap), height: top + rows * (cell + gap) };
}

/** Top-left pixel of cell (layer, head). */
export function cellOrigin(g: GridLayout, layer: number, head: number): { x: number; y: number } {
  const [row, col] = g.across ? [head, layer] : [layer, head];
  return { x: g.label + col * (g.cell + g.gap), y: g.top + row * (g.cell + g.gap) };
}

/** The cell under pixel (x, y), or null (outside, or in a gap). */
export function cellAt(g: GridLayout, x: number, y: number): { layer: number; head: number } | null {
  const step = g.cell + g.gap;
  const cx = x - g.label;
  const cy = y - g.top;
  if (cx < 0 || cy < 0) return null;
  const col = Math.floor(cx / step);
  const row = Math.floor(cy / step);
  const [rows, cols] = g.across ? [g.heads, g.layers] : [g.layers, g.heads];
  if (col >= cols || row >= rows || cx - col * step >= g.cell || cy - row * step >= g.cell) return null;
  return g.across ? { layer: col, head: row } : { layer: row, head: col };
}

/**
 * A T x T matrix as an S x S thumbnail: each pixel the largest value of its block of cells when
 * T >= S (so a thin diagonal survives), the nearest cell when T < S. Returns S*S values.
 */
export function thumbnail(m: ArrayLike<number>, T: number, S: number, out = new Float32Array(S * S)): Float32Array {
  out.fill(0);
  if (T === 0 || S === 0) return out;
  if (T >= S) {
    for (let i = 0; i < T; i++) {
      const row = Math.floor((i * S) / T) * S;
      for (let j = 0; j < T; j++) {
        const v = m[i * T + j];
        const p = row + Math.floor((j * S) / T);
        if (v > out[p]) out[p] = v;
      }
    }
  } else {
    for (let y = 0; y < S; y++) {
      const i = Math.floor((y * T) / S);
      for (let x = 0; x < S; x++) out[y * S + x] = m[i * T + Math.floor((x * T) / S)];
    }
  }
  return out;
}

/** Largest value of an array (0 for none). */
export function maxOf(v: ArrayLike<number>): number {
  let mx = 0;
  for (let k = 0; k < v.length; k++) if (v[k] > mx) mx = v[k];
  return mx;
}

/** The key of a rollout request without its layer: the mode, the heads, the weights and the
 * residual share (an answer for these may hold one layer, the server's, or all of them, the
 * HTML export's and the widget's). */
export function rolloutBase(req: RolloutRequest): string {
  const heads = req.heads ? req.heads.join(",") : "all";
  const weights = req.weights ? req.weights.map((w) => +w.toFixed(6)).join(",") : "equal";
  return `${req.mode}|${heads}|${weights}|${+(req.residual ?? DEFAULT_RESIDUAL).toFixed(6)}`;
}

/** The cache key of a rollout request: rolloutBase and the layer (both modes are fetched per
 * layer). */
export function rolloutKey(req: RolloutRequest): string {
  return `${rolloutBase(req)}|${req.layer}`;
}

/** Whether a failed request may succeed if asked again: a network error, 404 (an analysis the
 * server evicted: it may be analysed again), 408, 429, 5xx (503: the memory budget is busy) and
 * errors that are not the server's; not 400, 413 or 422 (e.g. a model without an output head). */
export function retryable(err: unknown): boolean {
  const status = (err as { status?: unknown } | null)?.status;
  if (!(err instanceof Error) || typeof status !== "number") return true;
  return status === 0 || status === 404 || status === 408 || status === 429 || status >= 500;
}

/** Layer `layer`'s T x T matrix of a rollout answer (a view, no copy); null when not in it. */
export function rolloutLayer(d: RolloutData, layer: number): Float32Array | null {
  const k = d.layers.indexOf(layer);
  if (k < 0) return null;
  const n = d.T * d.T;
  if (d.data.length < (k + 1) * n) return null;
  return d.data.subarray(k * n, (k + 1) * n);
}

/** Whether attention flow may be asked for an input of T tokens. */
export const flowAllowed = (T: number) => T <= MAX_FLOW_TOKENS;
