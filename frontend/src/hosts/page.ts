// What the pages (the web app and the static export) tell scripts, benchmarks and tests: that
// the view is drawn (body[data-ready="true"]) and how long the last repaint took.

declare global {
  interface Window {
    /** Duration of the last repaint (layer/head/threshold change to drawn), in ms. */
    __exbertRenderMs?: number;
  }
}

/** The viewer's onRendered on a page of its own. */
export function pageRendered(ms: number): void {
  window.__exbertRenderMs = ms;
  document.body.dataset.ready = "true";
}
