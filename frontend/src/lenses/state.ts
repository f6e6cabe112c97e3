// The lenses' part of the store (issue 14): which attention the main view draws (raw, rollout,
// flow), which lens panel is open (model view, logit lens, head detectors) and which detector the
// head-scores heatmap shows. The web app carries it in the URL (hosts/app/url.ts: `mode`,
// `panel`, `detector`).

/** What the main attention view draws: the layer's raw attention, its rollout through layers
 * 0..layer, or its attention flow (max-flow; short inputs only). */
export type AttentionMode = "raw" | "rollout" | "flow";

/** The lens panel shown under the viewer; null = none open. */
export type LensPanel = "model" | "lens" | "heads";

export interface LensState {
  attentionMode: AttentionMode;
  panel: LensPanel | null;
  /** The detector of the head-scores heatmap (a name of HeadScoresOut.names). */
  detector: string;
}

export const ATTENTION_MODES: readonly AttentionMode[] = ["raw", "rollout", "flow"];
export const LENS_PANELS: readonly LensPanel[] = ["model", "lens", "heads"];
export const DEFAULT_DETECTOR = "previous_token";

export function defaultLensState(): LensState {
  return { attentionMode: "raw", panel: null, detector: DEFAULT_DETECTOR };
}
