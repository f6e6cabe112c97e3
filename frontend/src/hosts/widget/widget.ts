// The notebook widget (anywidget ES module): the browser app's Viewer on a store synced with the
// kernel's traits.
//
// Built as one ES module (CSS inlined) into src/exbert/static/widget/widget.js and loaded by the
// Python class exbert.notebook.ExbertWidget as its `_esm`: no CDN, no server. It renders into a
// shadow root so that the notebook's CSS and ours do not meet.
//
// Synced traits (Python names): frame (bytes, EXB1), layer, heads, weights, hide_special,
// threshold, mask, mask_token, error, busy, corpus_name, search_result. The view traits and the
// store follow each other; a double-click on a token (bidirectional models) sets `mask`, the
// kernel re-analyses and sends the new frame. Exports (SVG/PNG buttons) are saved by the browser
// and also sent to the kernel as a custom message {type: "export", kind, filename} with the bytes
// as a buffer. With a corpus, a pinned token can be searched in it: {type: "search", token, by}
// goes to the kernel, which answers with the `search_result` trait (searchPanel.ts).
// Lenses (the trait `lenses`: false when the widget was made with lenses=False): the Viewer's lens
// panels and attention modes ask the kernel for the part they need when they first need it
// ({type: "lens", ...}, answered by a custom message; kernelLenses.ts): an analysis costs no lens
// until one is looked at. "Run induction probe" sends {type: "induction_probe"}; the kernel answers
// with the probe's analysis (a new frame).

import css from "../../style.css?inline";
import { DEFAULT_THRESHOLD } from "../../api/limits";
import { AttentionLayers, decodeFrame } from "../../attention/frame";
import { download } from "../../attention/exportFile";
import { Viewer } from "../../attention/viewer";
import { h } from "../../dom";
import { createStore, sameView, showAnalysis, viewOf, type ViewState } from "../../store";
import { kernelLensSource } from "./kernelLenses";
import { WidgetSearchPanel, type WidgetSearchResult } from "./searchPanel";

/** The part of anywidget's model interface that the widget uses. */
export interface WidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  off(event?: string | null, cb?: ((...args: unknown[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: (ArrayBuffer | ArrayBufferView)[]): void;
}

const VIEW_TRAITS = ["layer", "heads", "weights", "hide_special", "threshold", "color_by_head", "hide_first"] as const;

/** `:root` rules of the app's stylesheet apply to the shadow host instead. */
export function scopeCss(text: string): string {
  return text.replace(/:root\b/g, ":host").replace(/(^|\})(\s*)body(\s*)\{/g, "$1$2:host$3{");
}

function viewFromTraits(model: WidgetModel): ViewState {
  const heads = model.get("heads") as number[] | null;
  const weights = model.get("weights") as number[] | null;
  return {
    layer: Number(model.get("layer") ?? 0),
    heads: heads && heads.length ? [...heads] : null,
    weights: weights && heads && weights.length === heads.length ? [...weights] : null,
    hideSpecial: Boolean(model.get("hide_special") ?? true),
    threshold: Number(model.get("threshold") ?? DEFAULT_THRESHOLD),
    colorByHead: Boolean(model.get("color_by_head") ?? false),
    hideFirst: Boolean(model.get("hide_first") ?? false),
  };
}

function viewToTraits(model: WidgetModel, v: ViewState): void {
  model.set("layer", v.layer);
  model.set("heads", v.heads);
  model.set("weights", v.weights);
  model.set("hide_special", v.hideSpecial);
  model.set("threshold", v.threshold);
  model.set("color_by_head", Boolean(v.colorByHead));
  model.set("hide_first", Boolean(v.hideFirst));
  model.save_changes();
}

function bytesOf(v: unknown): ArrayBufferView | ArrayBuffer | null {
  if (v instanceof ArrayBuffer) return v.byteLength ? v : null;
  if (ArrayBuffer.isView(v)) return v.byteLength ? v : null;
  return null;
}

export function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const shadow = el.shadowRoot ?? el.attachShadow({ mode: "open" });
  shadow.replaceChildren();
  const style = h(
    "style",
    {},
    scopeCss(css) +
      "\n:host{display:block;background:transparent;}\n.exbert-widget{padding:4px 0;outline:none;}\n" +
      ".exbert-widget .error{margin:0 0 6px;}\n",
  );
  const error = h("div", { class: "error", "data-testid": "error-message", role: "alert", hidden: true });
  const viewerRoot = h("div");
  const search = new WidgetSearchPanel((token, by) => model.send({ type: "search", token, by }));
  const root = h("div", { class: "exbert-widget", tabindex: 0, "data-testid": "exbert-widget" }, error, viewerRoot, search.el);
  shadow.append(style, root);

  const store = createStore(viewFromTraits(model));
  // The lens panels are offered unless the widget was made with lenses=False; their numbers are
  // asked of the kernel when first needed.
  const kernel = model.get("lenses") === false ? null : kernelLensSource((content) => model.send(content));
  const lenses = kernel?.source;
  if (lenses) {
    lenses.inductionProbe = async () => {
      viewer.setLoading("Running the induction probe\u2026");
      model.send({ type: "induction_probe" });
    };
  }
  const onCustom = (content: unknown, buffers?: unknown) => {
    kernel?.parts.receive(content, Array.isArray(buffers) ? (buffers as (ArrayBuffer | ArrayBufferView)[]) : undefined);
  };
  // Large analyses hold one layer at a time: the kernel sends the new layer's frame when the
  // layer trait changes; meanwhile the viewer shows "Loading layer ...".
  const viewer = new Viewer(viewerRoot, store, {
    onToggleMask: (i) => {
      const mask = new Set((model.get("mask") as number[] | null) ?? []);
      if (mask.has(i)) mask.delete(i);
      else mask.add(i);
      viewer.setLoading("Analysing with masked tokens\u2026");
      model.set("mask", [...mask].sort((a, b) => a - b));
      model.save_changes();
    },
    onExport: (kind, data, filename) => {
      download(data, filename, el.ownerDocument);
      void data.arrayBuffer().then((buf) => model.send({ type: "export", kind, filename }, undefined, [buf]));
    },
    onRendered: (ms) => {
      root.dataset.renderMs = ms.toFixed(1);
    },
    lenses,
  });

  const showCorpus = () => {
    const s = store.state;
    const i = s.pinned?.index ?? null;
    search.update(String(model.get("corpus_name") ?? ""), i, i === null ? null : (s.analysis?.header.tokens[i]?.text ?? null));
  };
  store.subscribe((s, prev) => {
    if (!sameView(s, prev) && !sameView(s, viewFromTraits(model))) viewToTraits(model, viewOf(s));
    if (s.pinned !== prev.pinned || s.analysis !== prev.analysis) showCorpus();
  });

  const showFrame = () => {
    const bytes = bytesOf(model.get("frame"));
    if (!bytes) {
      store.update(showAnalysis(store.state, null));
      viewer.showMessage("No analysis yet.");
      return;
    }
    const frame = decodeFrame(bytes);
    const maskToken = frame.header.kind === "bidirectional" ? ((model.get("mask_token") as string | null) ?? null) : null;
    store.update(showAnalysis(store.state, { header: frame.header, attention: AttentionLayers.of(frame), maskToken }));
  };
  const showView = () => {
    const v = viewFromTraits(model);
    if (!sameView(v, store.state)) store.update(v);
  };
  const showError = () => {
    const msg = String(model.get("error") ?? "");
    error.textContent = msg ? `Error: ${msg}` : "";
    error.hidden = !msg;
    if (msg) viewer.setLoading(null);
  };
  const showBusy = () => viewer.setLoading(model.get("busy") ? "Analysing\u2026" : null);
  const showSearch = () => search.showResult((model.get("search_result") as WidgetSearchResult | null) ?? null);
  const handlers: [string, () => void][] = [
    ["change:corpus_name", showCorpus],
    ["change:search_result", showSearch],
    ["change:frame", showFrame],
    ["change:mask_token", showFrame],
    ["change:error", showError],
    ["change:busy", showBusy],
    ...VIEW_TRAITS.map((t) => [`change:${t}`, showView] as [string, () => void]),
  ];
  for (const [ev, cb] of handlers) model.on(ev, cb);
  model.on("msg:custom", onCustom as (...args: unknown[]) => void);

  root.addEventListener("keydown", (ev) => {
    if (viewer.handleKey(ev)) ev.stopPropagation();
  });

  showFrame();
  showError();
  showCorpus();
  showSearch();
  return () => {
    for (const [ev, cb] of handlers) model.off(ev, cb);
    model.off("msg:custom", onCustom as (...args: unknown[]) => void);
  };
}

export default { render };
