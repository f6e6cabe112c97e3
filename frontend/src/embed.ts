// Entry point for hosts other than the web app (a notebook widget, a static HTML export):
// render one analysis (an EXB1 frame) into a container, with no server and no URL state.

import { AttentionStore, decodeFrame } from "./payload";
import { defaultState } from "./state";
import { Viewer, type ViewerOptions, type ViewState } from "./viewer";

export { decodeFrame } from "./payload";
export { Viewer } from "./viewer";

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
  const { header, attention } = decodeFrame(frame);
  const store = new AttentionStore(header.n_layers, header.n_heads, header.tokens.length);
  store.add(attention);
  const { layer, heads, weights, hideSpecial, threshold } = { ...defaultState(), ...opts.state };
  const viewer = new Viewer(container, { layer, heads, weights, hideSpecial, threshold }, opts);
  viewer.setAnalysis({ header, store, maskToken: opts.maskToken ?? null });
  return viewer;
}
