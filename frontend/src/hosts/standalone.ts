// Entry of the self-contained HTML export (`exbert export ... --out view.html`,
// `exbert.export_html`). Python inlines this bundle (built as one IIFE file with the CSS inside)
// and the analysis frame (base64) into one HTML file that works from disk: no server, no network.
//
// The page holds:
//   <script type="application/json" id="exbert-options">{"state": {...}, ...}</script>
//   <script type="application/octet-stream" id="exbert-frame">BASE64 EXB1 frame</script>
//   and, unless exported with lenses=False (src/exbert/export/lenses.py):
//   <script type="application/json" id="exbert-lenses">{key, logit_lens, head_scores, ...}</script>
//   <script type="application/octet-stream" id="exbert-lens-rollout">BASE64 float16 [L,T,T]</script>
//   <script type="application/octet-stream" id="exbert-lens-flow">BASE64 float16 [L,T,T]</script>
//   <div id="app"></div>
// and exposes window.exbert = { viewer, lenses, exportSvg(opts), exportPng(opts) } for scripted
// figures.

import css from "../style.css?inline";
import type { ExportOptions } from "../attention/exportSvg";
import type { Viewer } from "../attention/viewer";
import { h } from "../dom";
import { embeddedLensSource, type EmbeddedLensInfo, type EmbeddedLensPayload } from "../lenses/embedded";
import type { LensSource } from "../lenses/source";
import type { ViewState } from "../store";
import { renderAnalysis } from "./embed";
import { pageRendered } from "./page";

export interface StandaloneOptions {
  state?: Partial<ViewState>;
  /** Shown in the header; default: the model name. */
  title?: string;
  /** Options of the SVG/PNG buttons. */
  export?: ExportOptions & { pngScale?: number };
}

export interface StandaloneApi {
  viewer: Viewer;
  /** The lenses carried by the page (absent: exported with lenses=False). */
  lenses?: LensSource;
  /** The current view as an SVG document string. */
  exportSvg(opts?: ExportOptions): string;
  /** The current view as a PNG data URL (base64), drawn from the SVG at `scale` x. */
  exportPng(opts?: ExportOptions & { scale?: number }): Promise<string>;
}

declare global {
  interface Window {
    exbert?: StandaloneApi;
  }
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) out[k] = bin.charCodeAt(k);
  return out;
}

function blobToDataUrl(b: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error ?? new Error("could not read the PNG"));
    r.readAsDataURL(b);
  });
}

/** The lenses carried by the page, or null (exported without them). */
export function pageLenses(): EmbeddedLensPayload | null {
  const info = document.getElementById("exbert-lenses")?.textContent;
  if (!info) return null;
  const array = (name: string) => {
    const text = document.getElementById(`exbert-lens-${name}`)?.textContent;
    return text ? base64ToBytes(text) : null;
  };
  return { info: JSON.parse(info) as EmbeddedLensInfo, rollout: array("rollout"), flow: array("flow") };
}

export function boot(): StandaloneApi | null {
  document.head.append(h("style", {}, css));
  const root = document.getElementById("app") ?? document.body.appendChild(h("div"));
  const frameEl = document.getElementById("exbert-frame");
  if (!frameEl?.textContent) {
    root.textContent = "This page holds no exbert analysis.";
    return null;
  }
  const opts = JSON.parse(document.getElementById("exbert-options")?.textContent || "{}") as StandaloneOptions;
  const bytes = base64ToBytes(frameEl.textContent);
  const carried = pageLenses();
  const lenses = carried ? embeddedLensSource(carried) : undefined;

  const model = h("span", { class: "model-info" });
  const header = h(
    "header",
    { class: "app-header" },
    h("div", { class: "brand" }, h("span", { class: "logo" }, "exbert"), h("span", { class: "tagline" }, "static export \u00b7 no server needed")),
    h("div", { class: "model-pick" }, model),
  );
  const text = h("div", { class: "static-text", "data-testid": "static-text" });
  const viewerRoot = h("main", { class: "viewer-root" });
  root.append(header, text, viewerRoot);

  const viewer = renderAnalysis(viewerRoot, bytes, {
    state: opts.state,
    maskToken: null,
    maskHint: "Masking needs the model: use `exbert serve` or the notebook widget.",
    exportOptions: opts.export,
    lenses,
    onNeedLayer: (l) => viewer.showMessage(`Layer ${l} is not in this export (exported with only some layers).`),
    // (the model view draws the layers the file holds and leaves the others blank)
    onNeedLayers: () => undefined,
    onRendered: pageRendered,
  });
  const ctx = viewer.exportContext();
  const hd = viewer.store.state.analysis!.header;
  model.textContent = opts.title ?? `${ctx.model} \u00b7 ${ctx.nLayers} layers \u00d7 ${ctx.nHeads} heads`;
  text.append(h("span", { class: "static-label" }, "Text"), h("span", {}, hd.text));
  if (hd.text_b) text.append(h("span", { class: "static-label" }, "Pair"), h("span", {}, hd.text_b));
  document.title = `exbert \u00b7 ${ctx.model} \u00b7 ${hd.text.slice(0, 60)}`;
  document.addEventListener("keydown", (ev) => viewer.handleKey(ev));

  const api: StandaloneApi = {
    viewer,
    lenses,
    exportSvg: (o = {}) => viewer.exportSvg(o),
    exportPng: async (o = {}) => blobToDataUrl(await viewer.exportPng(o)),
  };
  window.exbert = api;
  return api;
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => boot());
else boot();
