// Where the lenses' numbers come from. They are computed in Python (exbert.analysis: logit lens,
// rollout and flow, head detectors), never re-running the model: the web app asks the server for
// the analysis on screen by its id (GET /api/analyses/{id}/lens, /head-scores, /rollout); the
// notebook widget and the HTML export carry them with the analysis. The viewer knows only this
// interface (ViewerOptions.lenses).

import type { Analysis } from "../store";

/** One prediction of a lens cell. */
export interface LensPrediction {
  token: string;
  prob: number;
  token_id: number;
}

/** The logit lens of an analysis (JSON of GET /api/analyses/{id}/lens; Python LogitLens). */
export interface LogitLensData {
  model: string;
  /** "logit": the model's own head; "tuned": a per-layer fitted lens. */
  lens: string;
  top_k: number;
  /** The token positions of the columns (all tokens of a short analysis). */
  positions: number[];
  /** top[l][i]: top-k at hidden state l (0 = embeddings, last = the model's output), column i. */
  top: LensPrediction[][][];
  /** Per column: the token the last layer ranks first. */
  target_ids: number[];
  target_tokens: string[];
  /** [layers + 1][columns]: that token's probability and rank (0 = first) at each layer. */
  target_prob: number[][];
  target_rank: number[][];
}

/** Head detector scores (JSON of GET /api/analyses/{id}/head-scores). */
export interface HeadScoresData {
  /** Detector names in display order (previous_token, induction, duplicate_token, ...). */
  names: string[];
  layers: number;
  heads: number;
  /** scores[name][layer][head] in 0..1; null where the pattern applies to no token. */
  scores: Record<string, (number | null)[][]>;
}

export interface RolloutRequest {
  mode: "rollout" | "flow";
  /** The layer on screen (flow is computed for one layer at a time). */
  layer: number;
  heads: number[] | null;
  weights: number[] | null;
}

/** Rolled-out attention: `data` is float32 [layers.length, T, T] (row i: token i's mix of input
 * tokens), for the 0-based layers listed. */
export interface RolloutData {
  mode: "rollout" | "flow";
  layers: number[];
  T: number;
  data: Float32Array;
}

export interface LensSource {
  /** The logit lens of `a`; rejects with a message for a model without an output head. */
  logitLens(a: Analysis): Promise<LogitLensData>;
  headScores(a: Analysis): Promise<HeadScoresData>;
  rollout(a: Analysis, req: RolloutRequest): Promise<RolloutData>;
  /** Analyse random tokens repeated twice and show that analysis; absent = not offered. */
  inductionProbe?(): Promise<void>;
}
