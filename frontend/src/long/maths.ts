// The document view's numbers, without the DOM: mixing block summaries over heads, the brush
// (pixels <-> a window of tokens), and the colour scale of the heatmaps and the reader.

import { normaliseWeights } from "../attention/math";
import { MAX_WINDOW_TOKENS } from "../store";

/**
 * The mix of some heads' block summaries: `blocks` is [H, B, B] (row-major, head h at h*B*B);
 * `heads` index into it, `weights` as the viewer's (normaliseWeights: negatives 0, all zero =
 * equal). Each block row of a head sums to 1, so the mix's rows do too.
 */
export function mixBlocks(blocks: Float32Array, B: number, heads: readonly number[], weights: readonly number[]): Float32Array {
  const n = B * B;
  const out = new Float32Array(n);
  const w = normaliseWeights(weights);
  heads.forEach((h, k) => {
    const wk = w[k];
    if (!(wk > 0)) return;
    const o = h * n;
    for (let i = 0; i < n; i++) out[i] += wk * blocks[o + i];
  });
  return out;
}

/** Block b covers tokens [floor(b*T/B), floor((b+1)*T/B)) (as the server's attention_blocks). */
export function blockRange(b: number, T: number, B: number): [number, number] {
  return [Math.floor((b * T) / B), Math.floor(((b + 1) * T) / B)];
}

/** The token under pixel `x` of an axis `width` pixels long showing `T` tokens. */
export function tokenAt(x: number, width: number, T: number): number {
  if (width <= 0 || T <= 0) return 0;
  return Math.min(T - 1, Math.max(0, Math.floor((x / width) * T)));
}

export interface Window {
  start: number;
  stop: number;
}

/**
 * The window a drag from token `a` to token `b` selects: both ends included, at most `max`
 * tokens (the end moves back towards the anchor `a`). A click (a === b) centres a window of
 * `click` tokens on `a`. The result lies in [0, T).
 */
export function brushWindow(a: number, b: number, T: number, click: number, max: number = MAX_WINDOW_TOKENS): Window {
  const cap = Math.max(1, Math.min(max, T));
  if (a === b) {
    const w = Math.max(1, Math.min(click, cap));
    const start = Math.min(Math.max(0, a - Math.floor(w / 2)), T - w);
    return { start, stop: start + w };
  }
  if (b > a) return { start: a, stop: Math.min(b + 1, a + cap, T) };
  return { start: Math.max(b, a - cap + 1, 0), stop: a + 1 };
}

/** The window moved by `delta` tokens, kept inside [0, T) at the same width. */
export function shiftWindow(w: Window, delta: number, T: number): Window {
  const width = w.stop - w.start;
  const start = Math.min(Math.max(0, w.start + delta), Math.max(0, T - width));
  return { start, stop: start + width };
}

/** Pixels [x, x + w) of a window on an axis `width` pixels long showing `T` tokens. */
export function windowPixels(w: Window, T: number, width: number): { x: number; w: number } {
  if (T <= 0) return { x: 0, w: 0 };
  const x = (w.start / T) * width;
  return { x, w: Math.max(1, ((w.stop - w.start) / T) * width) };
}

/**
 * The top of the colour scale: the `q` quantile of the positive values (attention is heavy-
 * tailed: a few sink cells would wash everything else out). 0 when nothing is positive.
 */
export function scaleMax(values: ArrayLike<number>, q = 0.99, skip?: (i: number) => boolean): number {
  const pos: number[] = [];
  for (let i = 0; i < values.length; i++) if (values[i] > 0 && !skip?.(i)) pos.push(values[i]);
  if (!pos.length) return 0;
  pos.sort((x, y) => x - y);
  return pos[Math.min(pos.length - 1, Math.floor(q * (pos.length - 1)))];
}

/** 0..1 on the scale: (v / max) clipped, then a square root (weak attention stays visible). */
export function scaled(v: number, max: number): number {
  if (!(max > 0) || !(v > 0)) return 0;
  return Math.sqrt(Math.min(1, v / max));
}

// White -> light blue -> the app's blue -> dark navy.
const STOPS: [number, number, number][] = [
  [255, 255, 255],
  [191, 214, 250],
  [37, 99, 235],
  [20, 33, 61],
];

/** The colour of `t` in 0..1 (0 white, 1 dark navy) as [r, g, b]. */
export function heat(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (STOPS.length - 1);
  const k = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - k;
  const a = STOPS[k];
  const b = STOPS[k + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as [number, number, number];
}

export const css = ([r, g, b]: [number, number, number]) => `rgb(${r}, ${g}, ${b})`;

/** Text colour readable on background `t` (white on the dark end). */
export const inkOn = (t: number) => (t > 0.55 ? "#fff" : "");

/** Paint a B x B matrix into RGBA pixels (row i = query block i from the top). */
export function paintMatrix(m: Float32Array, B: number, max: number, out = new Uint8ClampedArray(B * B * 4)): Uint8ClampedArray {
  for (let i = 0; i < B * B; i++) {
    const [r, g, b] = heat(scaled(m[i], max));
    out[4 * i] = r;
    out[4 * i + 1] = g;
    out[4 * i + 2] = b;
    out[4 * i + 3] = 255;
  }
  return out;
}
