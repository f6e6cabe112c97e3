// The compare view's part of the store (issue 14): a second input B shown beside the analysis on
// screen (A) and their difference. CONTRACT STUB: the compare view's owner shapes it.

import type { Analysis } from "../store";

export interface CompareState {
  /** Input B (text, pair sentence, masked positions). */
  text: string;
  textB: string;
  mask: number[];
  /** B's analysis once run; null while running or before. */
  analysis: Analysis | null;
}
