// The rules of the layer and head controls, as changes of the view state (no DOM).

import { equalWeights } from "./math";
import type { ViewState } from "../store";

type HeadPatch = Pick<ViewState, "heads" | "weights">;

/** The selected heads; all of them when the selection is null. */
export function selectedHeads(s: ViewState, nHeads: number): number[] {
  return s.heads ?? Array.from({ length: nHeads }, (_, h) => h);
}

/** The weights of the selected heads; equal weights when none are set. */
export function selectedWeights(s: ViewState, nHeads: number): number[] {
  const heads = selectedHeads(s, nHeads);
  const w = s.weights;
  return w && w.length === heads.length ? w : equalWeights(heads.length);
}

/** A selection as stored: every head without weights is "all heads" (null). */
export function headsPatch(heads: number[] | null, weights: number[] | null, nHeads: number): HeadPatch {
  return { heads: heads && heads.length === nHeads && !weights ? null : heads, weights };
}

/**
 * A click on head `h`: only that head, or (`additive`, shift/ctrl-click) add or remove it.
 * null: nothing changes; "last": the click would remove the last selected head.
 */
export function clickHead(s: ViewState, nHeads: number, h: number, additive: boolean): HeadPatch | null | "last" {
  if (!additive) {
    if (s.heads && s.heads.length === 1 && s.heads[0] === h) return null;
    return headsPatch([h], null, nHeads);
  }
  const cur = selectedHeads(s, nHeads);
  if (!cur.includes(h)) return headsPatch([...cur, h].sort((a, b) => a - b), null, nHeads);
  if (cur.length === 1) return "last";
  return headsPatch(cur.filter((x) => x !== h), null, nHeads);
}

/** Weight `w` for selected head `h` (null if `h` is not selected). */
export function weightPatch(s: ViewState, nHeads: number, h: number, w: number): HeadPatch | null {
  const heads = selectedHeads(s, nHeads);
  const k = heads.indexOf(h);
  if (k < 0) return null;
  const weights = selectedWeights(s, nHeads).slice();
  weights[k] = w;
  return { heads, weights };
}

/** Layer `layer` if it exists and differs from the current one, else null. */
export function layerPatch(s: ViewState, nLayers: number, layer: number): Pick<ViewState, "layer"> | null {
  if (layer === s.layer || layer < 0 || (nLayers && layer >= nLayers)) return null;
  return { layer };
}

/** The layer `delta` steps away, clamped to the model's layers. */
export function stepPatch(s: ViewState, nLayers: number, delta: number): Pick<ViewState, "layer"> | null {
  if (nLayers === 0) return null;
  return layerPatch(s, nLayers, Math.min(nLayers - 1, Math.max(0, s.layer + delta)));
}
