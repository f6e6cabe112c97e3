// Entry point for hosts other than the web app (a static HTML export, a page of your own):
// render one analysis (an EXB1 frame) into a container, on a store of its own, with no server
// and no URL state. Lenses: pass `lenses` (ViewerOptions), e.g. embeddedLensSource(payload) from
// lenses/embedded.ts over the data of exbert.export.lenses.

import { AttentionLayers, decodeFrame } from "../attention/frame";
import { Viewer, type ViewerOptions } from "../attention/viewer";
import { createStore, showAnalysis, viewOf, defaultState, type ViewState } from "../store";

export interface EmbedOptions extends ViewerOptions {
  /** Initial view state (layer, heads, weights, special switch, threshold). */
  state?: Partial<ViewState>;
  /** The model's mask token; masking is offered only with it and an onToggleMask handler. */
  maskToken?: string | null;
}

/** Render the analysis in `frame` (the bytes of POST /api/analyze) into `container`. */
export function renderAnalysis(
  container: HTMLElement,
  frame: ArrayBuffer | ArrayBufferView,
  opts: EmbedOptions = {},
): Viewer {
  const decoded = decodeFrame(frame);
  const store = createStore(viewOf({ ...defaultState(), ...opts.state }));
  const viewer = new Viewer(container, store, opts);
  const analysis = { header: decoded.header, attention: AttentionLayers.of(decoded), maskToken: opts.maskToken ?? null };
  store.update(showAnalysis(store.state, analysis));
  return viewer;
}
