// The alignment of two tokenisations (input A and input B of the compare view) by their tokens'
// texts: a longest common subsequence (the diff of two token lists), so that an inserted or
// deleted word shifts the rest instead of misaligning it. A masked token keeps its text (the
// server flags it `masked`), so "the same text with other masks" aligns fully.

/** Aligned token pairs: token `a` of A and token `b` of B, both ascending. */
export interface Alignment {
  pairs: { a: number; b: number }[];
  /** For each token of A its partner in B, or -1. */
  aToB: Int32Array;
  /** For each token of B its partner in A, or -1. */
  bToA: Int32Array;
}

/**
 * The longest common subsequence of two token lists compared by text (among equally long ones,
 * the same one every time: the walk skips a token of A before one of B). The common
 * prefix and suffix are matched first, so near-identical inputs cost O(T) (the table is only
 * built for the differing middle: O(n * m) for n and m tokens there).
 */
export function alignTokens(a: readonly string[], b: readonly string[]): Alignment {
  const aToB = new Int32Array(a.length).fill(-1);
  const bToA = new Int32Array(b.length).fill(-1);
  let lo = 0;
  while (lo < a.length && lo < b.length && a[lo] === b[lo]) lo++;
  let ea = a.length;
  let eb = b.length;
  while (ea > lo && eb > lo && a[ea - 1] === b[eb - 1]) {
    ea--;
    eb--;
  }
  const link = (i: number, j: number) => {
    aToB[i] = j;
    bToA[j] = i;
  };
  for (let k = 0; k < lo; k++) link(k, k);
  for (let k = 0; ea + k < a.length; k++) link(ea + k, eb + k);
  const n = ea - lo;
  const m = eb - lo;
  if (n > 0 && m > 0) {
    // len[i][j]: LCS length of a[lo+i..ea) and b[lo+j..eb) (suffixes, so the walk goes forward).
    const w = m + 1;
    const len = new Int32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        len[i * w + j] = a[lo + i] === b[lo + j] ? len[(i + 1) * w + j + 1] + 1 : Math.max(len[(i + 1) * w + j], len[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[lo + i] === b[lo + j]) {
        link(lo + i, lo + j);
        i++;
        j++;
      } else if (len[(i + 1) * w + j] >= len[i * w + j + 1]) i++;
      else j++;
    }
  }
  const pairs: { a: number; b: number }[] = [];
  for (let i = 0; i < a.length; i++) if (aToB[i] >= 0) pairs.push({ a: i, b: aToB[i] });
  return { pairs, aToB, bToA };
}
