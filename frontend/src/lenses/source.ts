// Where the lenses' numbers come from. They are computed in Python (exbert.analysis: logit lens,
// rollout and flow, head detectors), never re-running the model: the web app asks the server for
// the analysis on screen by its id (GET /api/analyses/{id}/lens, /head-scores, /rollout); the
// notebook widget and the HTML export carry them with the analysis. The viewer knows only this
// interface (ViewerOptions.lenses).

import type { HeadScoresData, LensPrediction, LogitLensData } from "../api/types";
import type { Analysis } from "../store";

/** The JSON shapes come from the server's schemas (api/types.ts, generated): the logit lens
 * (Python LogitLens.to_dict()), one prediction of a lens cell, the head detector scores. */
export type { HeadScoresData, LensPrediction, LogitLensData };

export interface RolloutRequest {
  mode: "rollout" | "flow";
  /** The layer on screen (flow is computed for one layer at a time). */
  layer: number;
  heads: number[] | null;
  weights: number[] | null;
  /** The residual share (default DEFAULT_RESIDUAL). */
  residual?: number;
}

/** Rolled-out attention: `data` is float32 [layers.length, T, T] (row i: token i's mix of input
 * tokens), for the 0-based layers listed: the server answers the requested layer only, a source
 * with the data at hand (lenses/embedded.ts) may answer every layer at once. */
export interface RolloutData {
  mode: "rollout" | "flow";
  layers: number[];
  T: number;
  data: Float32Array;
}

/** `signal`: aborted when the view no longer needs the answer (another analysis is shown). */
export interface LensSource {
  /** The logit lens of `a`; rejects with a message for a model without an output head. */
  logitLens(a: Analysis, signal?: AbortSignal): Promise<LogitLensData>;
  headScores(a: Analysis, signal?: AbortSignal): Promise<HeadScoresData>;
  rollout(a: Analysis, req: RolloutRequest, signal?: AbortSignal): Promise<RolloutData>;
  /** Analyse random tokens repeated twice and show that analysis; absent = not offered. */
  inductionProbe?(): Promise<void>;
}
