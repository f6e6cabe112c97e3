// The notebook widget (anywidget ES module): the browser app's Viewer, fed by the kernel.
//
// Built as one ES module (CSS inlined) into src/exbert/static/widget/widget.js and loaded by the
// Python class exbert.notebook.ExbertWidget as its `_esm`: no CDN, no server. It renders into a
// shadow root so that the notebook's CSS and ours do not meet.
//
// Synced traits (Python names): frame (bytes, EXB1), layer, heads, weights, hide_special,
// threshold, mask, mask_token, error, busy, corpus_name, search_result. View changes go to the kernel as trait changes; a
// double-click on a token (bidirectional models) sets `mask`, the kernel re-analyses and sends
// the new frame. Exports (SVG/PNG buttons) are saved by the browser and also sent to the kernel
// as a custom message {type: "export", kind, filename} with the bytes as a buffer. With a
// corpus, a pinned token can be searched in it: {type: "search", token, by} goes to the kernel,
// which answers with the `search_result` trait (exbert.search's SearchResult.to_dict()), shown as
// a table of matches plus the app's colour summary and histograms (SearchFigures).

import css from "./style.css?inline";
import { decodeFrame, AttentionStore } from "./payload";
import type { ViewState } from "./viewer";
import type { Focus } from "./views/attention";
import { displayToken } from "./views/attention";
import { Viewer } from "./viewer";
import { download } from "./export";
import type { SearchResult } from "./corpus";
import { SearchFigures } from "./views/corpus";

/** The part of anywidget's model interface that the widget uses. */
export interface WidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  off(event?: string | null, cb?: ((...args: unknown[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: (ArrayBuffer | ArrayBufferView)[]): void;
}

const STATE_TRAITS = ["layer", "heads", "weights", "hide_special", "threshold"] as const;

/** `:root` rules of the app's stylesheet apply to the shadow host instead. */
export function scopeCss(text: string): string {
  return text.replace(/:root\b/g, ":host").replace(/(^|\})(\s*)body(\s*)\{/g, "$1$2:host$3{");
}

function stateOf(model: WidgetModel): ViewState {
  const heads = model.get("heads") as number[] | null;
  const weights = model.get("weights") as number[] | null;
  return {
    layer: Number(model.get("layer") ?? 0),
    heads: heads && heads.length ? [...heads] : null,
    weights: weights && heads && weights.length === heads.length ? [...weights] : null,
    hideSpecial: Boolean(model.get("hide_special") ?? true),
    threshold: Number(model.get("threshold") ?? 0.7),
  };
}

interface SearchMatch {
  rank: number;
  score: number;
  text: string;
  position: number;
  tokens: { text: string; start: number; end: number; pos: string | null; dep: string | null }[];
}

interface SearchResultJson {
  corpus: string;
  by: string;
  layer: number;
  matches: SearchMatch[];
  query?: { token: number; text: string; view_layer: number };
}

/** The corpus panel: search the pinned token's neighbours, list the matches in context. */
class CorpusPanel {
  readonly el: HTMLDivElement;
  private readonly info: HTMLSpanElement;
  private readonly byEmbedding: HTMLButtonElement;
  private readonly byContext: HTMLButtonElement;
  private readonly results: HTMLDivElement;
  private readonly figuresEl: HTMLDivElement;
  private readonly figures: SearchFigures;
  private pinned: Focus | null = null;

  constructor(
    private readonly doc: Document,
    private readonly onSearch: (token: number, by: "embedding" | "context") => void,
  ) {
    const el = (tag: string, cls = "", text = "") => {
      const e = doc.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    };
    this.el = el("div", "corpus-panel") as HTMLDivElement;
    this.el.dataset.testid = "corpus-panel";
    const bar = el("div", "corpus-bar");
    this.info = el("span", "corpus-info") as HTMLSpanElement;
    this.byEmbedding = el("button", "", "Search by embedding") as HTMLButtonElement;
    this.byEmbedding.type = "button";
    this.byEmbedding.dataset.testid = "corpus-search-embedding";
    this.byEmbedding.title = "Corpus tokens whose output of this layer is nearest to the pinned token's";
    this.byContext = el("button", "", "Search by context") as HTMLButtonElement;
    this.byContext.type = "button";
    this.byContext.dataset.testid = "corpus-search-context";
    this.byContext.title = "Corpus tokens whose per-head contexts (selected heads) at this layer are nearest";
    this.byEmbedding.addEventListener("click", () => this.search("embedding"));
    this.byContext.addEventListener("click", () => this.search("context"));
    bar.append(this.info, this.byEmbedding, this.byContext);
    this.results = el("div", "corpus-results") as HTMLDivElement;
    this.results.dataset.testid = "corpus-results";
    // The app's colour summary and histograms, below the table.
    this.figuresEl = el("div", "corpus-figures") as HTMLDivElement;
    const switchIn = el("div");
    const grid = el("div", "corpus-figures-grid");
    const summaryIn = el("div", "cp-card cp-summary");
    const matchedIn = el("div", "cp-card");
    const maxIn = el("div", "cp-card");
    grid.append(summaryIn, matchedIn, maxIn);
    this.figuresEl.append(switchIn, grid);
    this.figuresEl.hidden = true;
    this.el.append(bar, this.results, this.figuresEl);
    this.figures = new SearchFigures({ switchIn, summaryIn, matchedIn, maxIn });
  }

  private search(by: "embedding" | "context"): void {
    if (!this.pinned) return;
    this.results.replaceChildren(this.doc.createTextNode("Searching\u2026"));
    this.onSearch(this.pinned.index, by);
  }

  update(corpus: string, pinned: Focus | null, tokenText: string | null): void {
    this.pinned = pinned;
    this.el.hidden = !corpus;
    this.byEmbedding.disabled = this.byContext.disabled = !pinned;
    this.info.textContent = pinned
      ? `Corpus \u201c${corpus}\u201d \u00b7 token #${pinned.index} \u201c${tokenText ?? ""}\u201d`
      : `Corpus \u201c${corpus}\u201d \u00b7 click a token to pin it, then search its neighbours`;
  }

  showResult(r: SearchResultJson | null): void {
    const doc = this.doc;
    if (!r) {
      this.results.replaceChildren();
      this.figuresEl.hidden = true;
      this.figures.clear();
      return;
    }
    const head = doc.createElement("div");
    head.className = "corpus-caption";
    const q = r.query;
    head.textContent =
      `${r.matches.length} nearest by ${r.by}` +
      (q ? ` to \u201c${displayToken(q.text, 30)}\u201d (#${q.token}) at layer ${q.view_layer}` : "");
    const table = doc.createElement("table");
    for (const m of r.matches) {
      const tr = doc.createElement("tr");
      tr.dataset.testid = `corpus-match-${m.rank}`;
      const tok = m.tokens[m.position];
      const cell = (cls: string, text: string) => {
        const td = doc.createElement("td");
        td.className = cls;
        td.textContent = text;
        return td;
      };
      const start = tok?.start ?? 0;
      const end = tok?.end ?? 0;
      const left = m.text.slice(0, start);
      const right = m.text.slice(end);
      tr.append(
        cell("c-rank", String(m.rank + 1)),
        cell("c-score", m.score.toFixed(3)),
        cell("c-left", left.length > 48 ? "\u2026" + left.slice(-47) : left),
        cell("c-match", m.text.slice(start, end)),
        cell("c-right", right.length > 48 ? right.slice(0, 47) + "\u2026" : right),
        cell("c-tag", [tok?.pos, tok?.dep].filter(Boolean).join(" \u00b7 ")),
      );
      table.append(tr);
    }
    this.results.replaceChildren(head, table);
    const full = r as unknown as SearchResult;
    const hasFigures = Boolean(full.summary?.rows && r.matches.length && r.matches.every((m) => Array.isArray(m.tokens)));
    this.figuresEl.hidden = !hasFigures;
    if (hasFigures) this.figures.show(full);
    else this.figures.clear();
  }
}

const sameState = (a: ViewState, b: ViewState) => JSON.stringify(a) === JSON.stringify(b);

function bytesOf(v: unknown): ArrayBufferView | ArrayBuffer | null {
  if (v instanceof ArrayBuffer) return v.byteLength ? v : null;
  if (ArrayBuffer.isView(v)) return v.byteLength ? v : null;
  return null;
}

export function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const doc = el.ownerDocument;
  const shadow = el.shadowRoot ?? el.attachShadow({ mode: "open" });
  shadow.replaceChildren();
  const style = doc.createElement("style");
  style.textContent =
    scopeCss(css) +
    "\n:host{display:block;background:transparent;}\n.exbert-widget{padding:4px 0;outline:none;}\n" +
    ".exbert-widget .error{margin:0 0 6px;}\n";
  const root = doc.createElement("div");
  root.className = "exbert-widget";
  root.tabIndex = 0;
  root.dataset.testid = "exbert-widget";
  const error = doc.createElement("div");
  error.className = "error";
  error.dataset.testid = "error-message";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const viewerRoot = doc.createElement("div");
  let pinned: Focus | null = null;
  let tokenTexts: string[] = [];
  const corpus = new CorpusPanel(doc, (token, by) => model.send({ type: "search", token, by }));
  const showCorpus = () =>
    corpus.update(String(model.get("corpus_name") ?? ""), pinned, pinned ? (tokenTexts[pinned.index] ?? null) : null);
  root.append(error, viewerRoot, corpus.el);
  shadow.append(style, root);

  const pushState = (s: ViewState) => {
    model.set("layer", s.layer);
    model.set("heads", s.heads);
    model.set("weights", s.weights);
    model.set("hide_special", s.hideSpecial);
    model.set("threshold", s.threshold);
    model.save_changes();
  };

  const viewer: Viewer = new Viewer(viewerRoot, stateOf(model), {
    onChange: pushState,
    onToggleMask: (i) => {
      const mask = new Set((model.get("mask") as number[] | null) ?? []);
      if (mask.has(i)) mask.delete(i);
      else mask.add(i);
      viewer.setLoading("Analysing with masked tokens\u2026");
      model.set("mask", [...mask].sort((a, b) => a - b));
      model.save_changes();
    },
    // Large analyses hold one layer at a time: the kernel sends the new layer's frame when the
    // layer trait changes; meanwhile the viewer shows "Loading layer ...".
    onNeedLayer: () => undefined,
    onPin: (f) => {
      pinned = f;
      showCorpus();
    },
    onExport: (kind, data, filename) => {
      download(data, filename, doc);
      void data.arrayBuffer().then((buf) => model.send({ type: "export", kind, filename }, undefined, [buf]));
    },
    onRendered: (ms) => {
      root.dataset.renderMs = ms.toFixed(1);
    },
  });

  const showFrame = () => {
    const bytes = bytesOf(model.get("frame"));
    if (!bytes) {
      viewer.setAnalysis(null);
      viewer.showMessage("No analysis yet.");
      return;
    }
    const { header, attention } = decodeFrame(bytes);
    tokenTexts = header.tokens.map((t) => t.text);
    const store = new AttentionStore(header.n_layers, header.n_heads, header.tokens.length);
    store.add(attention);
    const maskToken = (model.get("mask_token") as string | null) ?? null;
    viewer.setAnalysis({ header, store, maskToken: header.kind === "bidirectional" ? maskToken : null });
  };
  const showState = () => {
    const s = stateOf(model);
    if (!sameState(s, viewer.getState())) viewer.setState(s);
  };
  const showError = () => {
    const msg = String(model.get("error") ?? "");
    error.textContent = msg ? `Error: ${msg}` : "";
    error.hidden = !msg;
    if (msg) viewer.setLoading(null);
  };
  const showBusy = () => {
    if (model.get("busy")) viewer.setLoading("Analysing\u2026");
    else viewer.setLoading(null);
  };

  const showSearch = () => corpus.showResult((model.get("search_result") as SearchResultJson | null) ?? null);
  const handlers: [string, () => void][] = [
    ["change:corpus_name", showCorpus],
    ["change:search_result", showSearch],
    ["change:frame", showFrame],
    ["change:mask_token", showFrame],
    ["change:error", showError],
    ["change:busy", showBusy],
    ...STATE_TRAITS.map((t) => [`change:${t}`, showState] as [string, () => void]),
  ];
  for (const [ev, cb] of handlers) model.on(ev, cb);

  root.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    const t = ev.composedPath()[0] as HTMLElement | undefined;
    if (t && (t.tagName === "SELECT" || (t instanceof HTMLInputElement && t.type !== "checkbox"))) return;
    ev.preventDefault();
    ev.stopPropagation();
    viewer.stepLayer(ev.key === "ArrowLeft" ? -1 : 1);
  });

  showFrame();
  showError();
  showCorpus();
  showSearch();
  (el as HTMLElement & { __exbertViewer?: Viewer }).__exbertViewer = viewer;
  return () => {
    for (const [ev, cb] of handlers) model.off(ev, cb);
  };
}

export default { render };
