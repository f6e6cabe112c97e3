// Pure maths on attention matrices. A matrix is a row-major Float32Array of T*T values;
// row i is token i's attention over all tokens (rows sum to 1, or to 0 for removed rows).

export type Matrix = Float32Array;

export interface Edge {
  from: number;
  to: number;
  weight: number;
  /** The head whose edge this is ("colour by head"); absent for the mix of the heads. */
  head?: number;
}

/**
 * Effective head weights: negative or non-finite weights count as 0, and when nothing positive
 * is left every head gets the same weight. The result sums to 1. Because `combineHeads`
 * renormalises each row afterwards, only the ratios of the weights matter: weights 2 and 1 mean
 * the same as 2/3 and 1/3.
 */
export function normaliseWeights(weights: readonly number[]): number[] {
  const clean = weights.map((w) => (Number.isFinite(w) && w > 0 ? w : 0));
  const sum = clean.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 1 / weights.length);
  return clean.map((w) => w / sum);
}

/** Default weights for n selected heads: 1/n each. */
export function equalWeights(n: number): number[] {
  return Array.from({ length: n }, () => 1 / n);
}

/** Divide each row by its sum, in place; rows summing to 0 stay 0. Returns `m`. */
export function normaliseRows(m: Matrix, T: number): Matrix {
  for (let i = 0; i < T; i++) {
    const o = i * T;
    let s = 0;
    for (let j = 0; j < T; j++) s += m[o + j];
    if (s > 0) {
      const inv = 1 / s;
      for (let j = 0; j < T; j++) m[o + j] *= inv;
    }
  }
  return m;
}

/**
 * Weighted linear combination of heads: sum_h w_h * A_h, then every row renormalised to sum 1.
 * Weights are passed through `normaliseWeights` first (negatives count as 0, all-zero means
 * equal weights), so weights that do not sum to 1 act as relative weights.
 */
export function combineHeads(
  heads: readonly ArrayLike<number>[],
  weights: readonly number[],
  T: number,
): Matrix {
  if (heads.length !== weights.length) {
    throw new Error(`combineHeads: ${heads.length} heads but ${weights.length} weights`);
  }
  const n = T * T;
  const out = new Float32Array(n);
  const w = normaliseWeights(weights);
  for (let h = 0; h < heads.length; h++) {
    const a = heads[h];
    const wh = w[h];
    if (wh === 0) continue;
    if (a.length !== n) throw new Error(`combineHeads: head ${h} has ${a.length} values, not ${n}`);
    for (let k = 0; k < n; k++) out[k] += wh * a[k];
  }
  return normaliseRows(out, T);
}

/**
 * Remove tokens (e.g. special tokens): their rows and columns become 0 and every other row is
 * renormalised to sum 1 over the remaining tokens. Returns a new matrix.
 */
export function hideTokens(m: ArrayLike<number>, T: number, hidden: readonly boolean[]): Matrix {
  const out = new Float32Array(T * T);
  for (let i = 0; i < T; i++) {
    if (hidden[i]) continue;
    const o = i * T;
    for (let j = 0; j < T; j++) if (!hidden[j]) out[o + j] = m[o + j];
  }
  return normaliseRows(out, T);
}

// Threshold pruning sorts each row as packed numeric keys (a typed array's native sort, several
// times faster than a comparator at hundreds of tokens). Key of token j in a row: the float32 bit
// pattern of its weight (monotonic in the value for positive floats) times 2^b, plus
// (2^b - 1 - j) so that, read from the largest key down, equal weights come by ascending j.
// Exact in a float64 for T < 2^21.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Threshold pruning, row by row: keep a row's strongest edges, in descending order of weight,
 * until together they cover at least `fraction` of that row's total attention. A row with any
 * positive attention keeps at least one edge; zero weights are never kept. Ties: by ascending
 * index. `head` is set on each edge when given.
 */
export function thresholdEdges(m: ArrayLike<number>, T: number, fraction: number, head?: number): Edge[] {
  const edges: Edge[] = [];
  const f = Math.min(1, Math.max(0, fraction));
  let bits = 1;
  while (1 << bits < T) bits++;
  const span = 2 ** bits;
  const keys = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const o = i * T;
    let total = 0;
    let n = 0;
    for (let j = 0; j < T; j++) {
      const v = m[o + j];
      if (v > 0) {
        total += v;
        f32[0] = v;
        keys[n++] = u32[0] * span + (span - 1 - j);
      }
    }
    if (n === 0) continue;
    const row = keys.subarray(0, n).sort();
    const target = f * total * (1 - 1e-6);
    let covered = 0;
    for (let k = n - 1; k >= 0; k--) {
      const j = span - 1 - (row[k] % span);
      const v = m[o + j];
      edges.push(head === undefined ? { from: i, to: j, weight: v } : { from: i, to: j, weight: v, head });
      covered += v;
      if (covered >= target) break;
    }
  }
  return edges;
}

/**
 * "Colour by head": each selected head's own edges (thresholded row by row like the mix), head
 * after head in the order given (ascending: a stable drawing order). An edge's weight is its
 * head's attention times the head's weight relative to the largest weight (1 with equal
 * weights); a head of weight 0 draws nothing. `mats[k]` is head `heads[k]`'s displayed matrix.
 */
export function edgesByHead(
  mats: readonly ArrayLike<number>[],
  heads: readonly number[],
  weights: readonly number[],
  T: number,
  fraction: number,
): Edge[] {
  if (mats.length !== heads.length || heads.length !== weights.length) {
    throw new Error(`edgesByHead: ${mats.length} matrices, ${heads.length} heads, ${weights.length} weights`);
  }
  const w = normaliseWeights(weights);
  const top = Math.max(0, ...w);
  const out: Edge[] = [];
  for (let k = 0; k < heads.length; k++) {
    if (w[k] <= 0 || top <= 0) continue;
    const rel = w[k] / top;
    for (const e of thresholdEdges(mats[k], T, fraction, heads[k])) {
      e.weight *= rel;
      out.push(e);
    }
  }
  return out;
}

/** Which tokens lose their edges: hidden special tokens (a masked one stays) and, with
 * `hideFirst`, the first token (the attention sink of a model without BOS). */
export function droppedTokens(
  tokens: readonly { special: boolean; masked: boolean }[],
  opts: { hideSpecial: boolean; hideFirst?: boolean },
): boolean[] {
  return tokens.map((t, i) => (opts.hideSpecial && t.special && !t.masked) || (opts.hideFirst === true && i === 0));
}

/** Size in bytes of a float16 attention payload of `layers` layers. */
export function payloadBytes(layers: number, heads: number, T: number): number {
  return layers * heads * T * T * 2;
}
