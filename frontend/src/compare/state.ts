// The compare view's part of the store (issue 14): a second input B shown beside the analysis on
// screen (A) and their difference. `compare` is null when not comparing; an open compare view
// with no text yet has text "". B's inputs are in the web app's URL (`cmp`, `cmpb`, `cmpm`); its
// analysis is run by `CompareRunner` in hosts/app/analysis.ts (POST /api/analyze, the same model as A).

import type { Analysis, State } from "../store";

export interface CompareState {
  /** Input B (text, pair sentence, masked positions). */
  text: string;
  textB: string;
  mask: number[];
  /** B's analysis once run; null while running or before. */
  analysis: Analysis | null;
}

/** An open compare view of inputs B (not analysed yet). */
export function compareInputs(text: string, textB = "", mask: readonly number[] = []): CompareState {
  return { text, textB, mask: [...new Set(mask)].sort((x, y) => x - y), analysis: null };
}

/** Whether two compare states have the same inputs (their analyses aside). */
export function sameCompareInputs(x: CompareState | null, y: CompareState | null): boolean {
  if (x === null || y === null) return x === y;
  return x.text === y.text && x.textB === y.textB && x.mask.join(",") === y.mask.join(",");
}

/** Whether B's analysis is of B's inputs with model `model`. */
export function compareAnalysed(c: CompareState, model: string): boolean {
  const hd = c.analysis?.header;
  return !!hd && hd.model === model && hd.text === c.text && (hd.text_b ?? "") === c.textB && hd.mask.join(",") === c.mask.join(",");
}

/** "Compare with masks": B is a copy of A (its text, pair and masks), to mask other tokens in. */
export function compareWithMasks(s: Pick<State, "text" | "textB" | "mask">): CompareState {
  return compareInputs(s.text, s.textB, s.mask);
}

/** B with token `i` masked, or unmasked when it was (B's analysis dropped: it must run again). */
export function toggleCompareMask(c: CompareState, i: number): CompareState {
  const mask = c.mask.includes(i) ? c.mask.filter((k) => k !== i) : [...c.mask, i];
  return compareInputs(c.text, c.textB, mask);
}
