// The numbers of the compare view, without the DOM: the attention each input shows at the view's
// layer and heads (as the viewer draws it), their difference B - A over the aligned tokens, how
// much each head changed, and the predictions that changed.

import type { Prediction } from "../api/types";
import type { AttentionLayers } from "../attention/frame";
import { combineHeads, droppedTokens, hideTokens } from "../attention/math";
import { selectedHeads, selectedWeights } from "../attention/selection";
import type { Analysis, ViewState } from "../store";
import type { Alignment } from "./align";

export type Pair = Alignment["pairs"][number];

/**
 * The attention the viewer draws for analysis `a` at the view's layer: the selected heads mixed
 * with their weights (rows renormalised), hidden tokens' rows and columns removed. null when the
 * layer is not loaded yet.
 */
export function shownMatrix(a: Analysis, v: ViewState): Float32Array | null {
  const T = a.header.tokens.length;
  if (!a.attention.has(v.layer)) return null;
  const heads = selectedHeads(v, a.header.n_heads);
  const m = combineHeads(heads.map((hd) => a.attention.head(v.layer, hd)), selectedWeights(v, a.header.n_heads), T);
  const dropped = droppedTokens(a.header.tokens, v);
  return dropped.some(Boolean) ? hideTokens(m, T, dropped) : m;
}

/** The aligned pairs whose tokens neither view hides (special tokens, the first token). */
export function shownPairs(pairs: readonly Pair[], a: Analysis, b: Analysis, v: ViewState): Pair[] {
  const da = droppedTokens(a.header.tokens, v);
  const db = droppedTokens(b.header.tokens, v);
  return pairs.filter((p) => !da[p.a] && !db[p.b]);
}

export interface AttentionDiff {
  pairs: Pair[];
  /** P x P, row-major: value [p, q] = B[pairs[p].b, pairs[q].b] - A[pairs[p].a, pairs[q].a]. */
  values: Float32Array;
  /** The largest |value| (0 when none). */
  maxAbs: number;
}

/** B - A between every two aligned tokens (A is TA x TA, B is TB x TB, row-major). */
export function attentionDiff(A: ArrayLike<number>, TA: number, B: ArrayLike<number>, TB: number, pairs: readonly Pair[]): AttentionDiff {
  const P = pairs.length;
  const values = new Float32Array(P * P);
  let maxAbs = 0;
  for (let p = 0; p < P; p++) {
    const ra = pairs[p].a * TA;
    const rb = pairs[p].b * TB;
    for (let q = 0; q < P; q++) {
      const d = B[rb + pairs[q].b] - A[ra + pairs[q].a];
      values[p * P + q] = d;
      if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
    }
  }
  return { pairs: [...pairs], values, maxAbs };
}

/**
 * How much each head changed: the mean over all aligned pairs (p, q) of |B_h[p, q] - A_h[p, q]|
 * (raw head attention, no mixing or hiding), as [layers * heads] (layer-major). NaN for a layer
 * that either input has not loaded, and everywhere when nothing aligns.
 */
export function headChanges(a: AttentionLayers, b: AttentionLayers, pairs: readonly Pair[]): Float32Array {
  const L = Math.min(a.nLayers, b.nLayers);
  const H = Math.min(a.nHeads, b.nHeads);
  const out = new Float32Array(L * H).fill(NaN);
  const P = pairs.length;
  if (!P) return out;
  const ia = Int32Array.from(pairs, (p) => p.a);
  const ib = Int32Array.from(pairs, (p) => p.b);
  for (let l = 0; l < L; l++) {
    if (!a.has(l) || !b.has(l)) continue;
    for (let hd = 0; hd < H; hd++) {
      const A = a.head(l, hd);
      const B = b.head(l, hd);
      let sum = 0;
      for (let p = 0; p < P; p++) {
        const ra = ia[p] * a.T;
        const rb = ib[p] * b.T;
        for (let q = 0; q < P; q++) sum += Math.abs(B[rb + ib[q]] - A[ra + ia[q]]);
      }
      out[l * H + hd] = sum / (P * P);
    }
  }
  return out;
}

export interface HeadChange {
  layer: number;
  head: number;
  value: number;
}

/** The `n` heads that changed most (largest first; ties by layer, then head; NaN left out). */
export function rankHeads(values: Float32Array, heads: number, n: number): HeadChange[] {
  const out: HeadChange[] = [];
  values.forEach((value, k) => {
    if (Number.isFinite(value)) out.push({ layer: Math.floor(k / heads), head: k % heads, value });
  });
  out.sort((x, y) => y.value - x.value || x.layer - y.layer || x.head - y.head);
  return out.slice(0, n);
}

export interface PredictionChange {
  /** The token's position in A and in B, its text (A's), and whether either input masks it. */
  a: number;
  b: number;
  token: string;
  masked: boolean;
  topA: Prediction;
  topB: Prediction;
  /** The probability of A's top-1 token in B; null when it is not in B's top-k. */
  probB: number | null;
  /** probB - topA.prob (probB counted as 0 when not in B's top-k). */
  delta: number;
}

/** What makes a prediction "changed": another top-1, or A's top-1 moved by at least this much. */
export const MIN_PROB_CHANGE = 0.05;

/**
 * The aligned tokens whose predictions changed: another top-1 in B, or a probability of A's
 * top-1 that moved by at least `minDelta` (special tokens left out: [CLS], [SEP], ...). Masked tokens first, then those whose top-1 changed,
 * then by |delta|. Empty when either input has no predictions.
 */
export function predictionChanges(a: Analysis, b: Analysis, pairs: readonly Pair[], minDelta = MIN_PROB_CHANGE): PredictionChange[] {
  const pa = a.header.predictions;
  const pb = b.header.predictions;
  if (!pa || !pb) return [];
  const out: PredictionChange[] = [];
  for (const { a: i, b: j } of pairs) {
    if (a.header.tokens[i].special) continue;
    const ta = pa[i]?.[0];
    const tb = pb[j]?.[0];
    if (!ta || !tb) continue;
    const probB = pb[j].find((p) => p.token_id === ta.token_id)?.prob ?? null;
    const delta = (probB ?? 0) - ta.prob;
    const masked = a.header.tokens[i].masked || b.header.tokens[j].masked;
    if (ta.token_id === tb.token_id && Math.abs(delta) < minDelta && !(masked && a.header.tokens[i].masked !== b.header.tokens[j].masked)) continue;
    out.push({ a: i, b: j, token: a.header.tokens[i].text, masked, topA: ta, topB: tb, probB, delta });
  }
  const rank = (c: PredictionChange) => (c.masked ? 0 : 2) + (c.topA.token_id !== c.topB.token_id ? 0 : 1);
  return out.sort((x, y) => rank(x) - rank(y) || Math.abs(y.delta) - Math.abs(x.delta) || x.a - y.a);
}
