// The web app: inputs, model picker, server requests, URL state; the views live in Viewer.

import "./style.css";
import { analyze, ApiError, fetchModels, type AnalyzeRequest, type ModelInfo } from "./api";
import { payloadBytes } from "./math";
import { AttentionStore, type AnalysisHeader } from "./payload";
import { CorpusController } from "./corpusController";
import {
  decodeSearchState,
  decodeState,
  encodeSearchState,
  encodeState,
  fitState,
  type AppState,
  type SearchState,
} from "./state";
import { Viewer, type ViewState } from "./viewer";

declare global {
  interface Window {
    /** Duration of the last repaint (layer/head/threshold change to drawn), in ms. */
    __exbertRenderMs?: number;
  }
}

/** Above this many bytes of float16 attention, layers are fetched one at a time on demand. */
export const ALL_LAYERS_LIMIT = 32 * 1024 * 1024;
const TOP_K = 5;
const URL_WRITES_PER_10S = 120;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

class App {
  private state: AppState;
  private search: SearchState;
  private models: ModelInfo[] = [];
  private header: AnalysisHeader | null = null;
  private store: AttentionStore | null = null;
  private controller: AbortController | null = null;
  private seq = 0;
  private pendingLayers = new Set<number>();
  private urlTimer: ReturnType<typeof setTimeout> | null = null;
  private urlWrites: number[] = [];

  private readonly modelSelect: HTMLSelectElement;
  private readonly modelInfo: HTMLSpanElement;
  private readonly input: HTMLInputElement;
  private readonly inputB: HTMLInputElement;
  private readonly button: HTMLButtonElement;
  private readonly error: HTMLDivElement;
  private readonly viewer: Viewer;
  private readonly corpus: CorpusController;

  constructor(root: HTMLElement) {
    this.state = decodeState(location.search);
    this.search = decodeSearchState(location.search);

    this.modelSelect = h("select", { "data-testid": "model-select", "aria-label": "Model" });
    this.modelSelect.disabled = true;
    this.modelSelect.append(h("option", { value: "" }, "loading models\u2026"));
    this.modelInfo = h("span", { class: "model-info", "data-testid": "model-info" });
    const header = h(
      "header",
      { class: "app-header" },
      h("div", { class: "brand" }, h("span", { class: "logo" }, "exbert"), h("span", { class: "tagline" }, "explore transformer attention")),
      h("div", { class: "model-pick" }, h("label", {}, "Model ", this.modelSelect), this.modelInfo),
    );

    this.input = h("input", {
      type: "text",
      class: "sentence",
      "data-testid": "sentence-input",
      placeholder: "Type a sentence, e.g. The cat sat on the mat because it was tired.",
      "aria-label": "Sentence",
      spellcheck: "false",
    });
    this.inputB = h("input", {
      type: "text",
      class: "sentence-b",
      "data-testid": "sentence-b-input",
      placeholder: "Optional second sentence (pair)",
      "aria-label": "Second sentence",
      spellcheck: "false",
    });
    this.button = h("button", { type: "submit", class: "primary", "data-testid": "analyze-button" }, "Analyze");
    const form = h("form", { class: "inputs", autocomplete: "off" }, this.input, this.inputB, this.button);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.analyseFromInputs();
    });
    this.error = h("div", { class: "error", "data-testid": "error-message", role: "alert" });
    this.error.hidden = true;

    const viewerRoot = h("main", { class: "viewer-root" });
    const corpusRoot = h("div", { class: "corpus-root" });
    root.append(header, form, this.error, viewerRoot, corpusRoot);
    this.viewer = new Viewer(viewerRoot, this.viewState(), {
      onChange: (s) => this.onViewChange(s),
      onToggleMask: (i) => this.toggleMask(i),
      onNeedLayer: (l) => void this.fetchLayer(l),
      onPin: (f) => this.corpus?.pinChanged(f ? f.index : null),
      onRendered: (ms) => {
        window.__exbertRenderMs = ms;
        document.body.dataset.ready = "true";
      },
    });
    this.corpus = new CorpusController(
      corpusRoot,
      {
        model: () => this.state.model,
        analysis: () => this.header,
        view: () => this.viewer.getState(),
        nHeads: () => this.header?.n_heads ?? this.model()?.heads ?? 0,
        pin: (i) => this.viewer.pin(i),
        selectHead: (layer, head) => this.selectHead(layer, head),
        stateChanged: (s) => {
          this.search = s;
          this.writeUrl();
        },
      },
      this.search,
    );
    this.input.value = this.state.text;
    this.inputB.value = this.state.textB;

    this.modelSelect.addEventListener("change", () => this.onModelChange());
    document.addEventListener("keydown", (ev) => this.onKey(ev));
    void this.start();
  }

  private viewState(): ViewState {
    const { layer, heads, weights, hideSpecial, threshold } = this.state;
    return { layer, heads, weights, hideSpecial, threshold };
  }

  private model(): ModelInfo | undefined {
    return this.models.find((m) => m.name === this.state.model);
  }

  private async start(): Promise<void> {
    try {
      this.models = await fetchModels();
    } catch (err) {
      this.showError(err);
      this.modelSelect.replaceChildren(h("option", { value: "" }, "no models"));
      this.viewer.showMessage("The model list could not be loaded from the server.");
      void this.corpus.load();
      return;
    }
    if (this.models.length === 0) {
      this.showError(new ApiError("the server offers no models", "NoModels", 0));
      this.viewer.showMessage("The server offers no models.");
      void this.corpus.load();
      return;
    }
    this.modelSelect.replaceChildren(
      ...this.models.map((m) => h("option", { value: m.name }, `${m.name} (${m.kind})`)),
    );
    this.modelSelect.disabled = false;
    if (!this.model()) this.state.model = this.models[0].name;
    this.modelSelect.value = this.state.model;
    this.applyModelShape();
    this.writeUrl();
    void this.corpus.load();
    if (this.state.text.trim()) void this.run({ text: this.state.text, textB: this.state.textB, mask: this.state.mask });
  }

  private applyModelShape(): void {
    const m = this.model();
    if (!m) return;
    this.state = fitState(this.state, m.layers, m.heads);
    this.viewer.setShape(m.layers, m.heads);
    this.viewer.setState(this.viewState());
    this.modelInfo.textContent = `${m.kind} \u00b7 ${m.layers} layers \u00d7 ${m.heads} heads`;
  }

  private onModelChange(): void {
    this.state.model = this.modelSelect.value;
    this.state.heads = null;
    this.state.weights = null;
    this.state.mask = [];
    this.header = null;
    this.store = null;
    this.viewer.setAnalysis(null);
    this.applyModelShape();
    this.corpus.modelChanged();
    this.writeUrl();
    if (this.input.value.trim()) void this.analyseFromInputs();
    else this.viewer.showMessage("Type a sentence above and press Analyze.");
  }

  private onViewChange(s: ViewState): void {
    this.state = { ...this.state, ...s };
    this.writeUrl();
    this.corpus?.viewChanged();
  }

  /** Show one head of one layer (a click in the head ranking). */
  private selectHead(layer: number, head: number): void {
    const m = this.model();
    const nLayers = this.header?.n_layers ?? m?.layers ?? 0;
    const nHeads = this.header?.n_heads ?? m?.heads ?? 0;
    if (layer < 0 || layer >= nLayers || head < 0 || head >= nHeads) return;
    this.state = { ...this.state, layer, heads: [head], weights: null };
    this.viewer.setState(this.viewState());
    this.writeUrl();
    this.corpus.viewChanged();
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    // Leave the keys to text fields, selects and sliders; checkboxes and buttons do not use them.
    const t = ev.target as HTMLElement | null;
    if (t && (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (t instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "reset"].includes(t.type)) return;
    ev.preventDefault();
    this.viewer.stepLayer(ev.key === "ArrowLeft" ? -1 : 1);
  }

  /**
   * history.replaceState, at once, except when more than URL_WRITES_PER_10S writes happened in
   * the last 10 s (a slider drag): browsers ignore state updates beyond ~200 per 10 s, so a
   * trailing write then catches the last change.
   */
  private writeUrl(): void {
    const write = () => {
      this.urlTimer = null;
      const t = performance.now();
      this.urlWrites = this.urlWrites.filter((w) => t - w < 10_000);
      this.urlWrites.push(t);
      const q = [encodeState(this.state), encodeSearchState(this.search)].filter(Boolean).join("&");
      const url = (q ? `?${q}` : location.pathname) + location.hash;
      if (`?${q}` !== location.search) history.replaceState(null, "", url);
    };
    const now = performance.now();
    const recent = this.urlWrites.filter((w) => now - w < 10_000).length;
    if (recent < URL_WRITES_PER_10S) {
      if (this.urlTimer) clearTimeout(this.urlTimer);
      write();
    } else if (!this.urlTimer) {
      this.urlTimer = setTimeout(write, 250);
    }
  }

  private showError(err: unknown): void {
    const msg =
      err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err ?? "unknown error");
    this.error.replaceChildren(h("strong", {}, "Error: "), msg);
    if (err instanceof ApiError) this.error.dataset.type = err.type;
    this.error.hidden = false;
  }

  private clearError(): void {
    this.error.hidden = true;
    this.error.replaceChildren();
    delete this.error.dataset.type;
  }

  private async analyseFromInputs(): Promise<void> {
    const text = this.input.value;
    const textB = this.inputB.value;
    if (!text.trim()) {
      this.showError(new ApiError("the text is empty: type a sentence to analyse", "EmptyText", 0));
      return;
    }
    const sameText = this.header !== null && text === this.state.text && textB === this.state.textB;
    await this.run({ text, textB, mask: sameText ? this.state.mask : [] });
  }

  private toggleMask(i: number): void {
    if (!this.header) return;
    const mask = new Set(this.state.mask);
    if (mask.has(i)) mask.delete(i);
    else mask.add(i);
    void this.run({
      text: this.header.text,
      textB: this.header.text_b ?? "",
      mask: [...mask].sort((a, b) => a - b),
    });
  }

  private request(text: string, textB: string, mask: number[], layers: number[] | null): AnalyzeRequest {
    return { model: this.state.model, text, text_b: textB ? textB : null, mask, top_k: TOP_K, layers };
  }

  /** Analyse a text; all layers at once unless the payload would be too large. */
  private async run(p: { text: string; textB: string; mask: number[] }): Promise<void> {
    const m = this.model();
    if (!m) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const seq = ++this.seq;
    this.pendingLayers.clear();
    this.state = { ...this.state, text: p.text, textB: p.textB, mask: p.mask };
    this.writeUrl();
    // Rough (generous) token count before the server has tokenised: one per two UTF-8 bytes.
    // If the guess is low the frame is merely larger than planned; if the real payload turns
    // out small, the other layers follow in one request (below).
    const utf8 = new TextEncoder().encode(p.text + p.textB).length;
    const estT = Math.min(m.max_tokens || 512, Math.ceil(utf8 / 2) + 4);
    const perLayer = payloadBytes(m.layers, m.heads, estT) > ALL_LAYERS_LIMIT;
    const layer = this.state.layer;
    document.body.dataset.ready = "false";
    this.button.disabled = true;
    this.button.classList.add("busy");
    this.viewer.setLoading(p.mask.length ? "Analysing with masked tokens\u2026" : "Analysing\u2026");
    try {
      const frame = await analyze(this.request(p.text, p.textB, p.mask, perLayer ? [layer] : null), controller.signal);
      if (seq !== this.seq) return;
      const hd = frame.header;
      const store = new AttentionStore(hd.n_layers, hd.n_heads, hd.tokens.length);
      store.add(frame.attention);
      this.header = hd;
      this.store = store;
      this.state.mask = hd.mask ?? p.mask;
      this.clearError();
      this.writeUrl();
      this.viewer.setAnalysis({ header: hd, store, maskToken: m.mask_token });
      this.corpus.analysisChanged();
      this.modelInfo.textContent =
        `${m.kind} \u00b7 ${hd.n_layers} layers \u00d7 ${hd.n_heads} heads \u00b7 ${hd.tokens.length} tokens`;
      const missing = store.missingLayers();
      if (missing.length && payloadBytes(hd.n_layers, hd.n_heads, hd.tokens.length) <= ALL_LAYERS_LIMIT) {
        void this.fetchLayers(missing);
      }
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.showError(err);
      if (this.header) this.viewer.setLoading(null);
      else this.viewer.showMessage("Nothing to show: the analysis failed (see the error above).");
    } finally {
      if (seq === this.seq) {
        this.button.disabled = false;
        this.button.classList.remove("busy");
      }
    }
  }

  private fetchLayer(layer: number): Promise<void> {
    return this.fetchLayers([layer]);
  }

  /** Fetch some layers of the current analysis and add them to its store. */
  private async fetchLayers(layers: number[]): Promise<void> {
    const hd = this.header;
    const store = this.store;
    if (!hd || !store) return;
    const want = layers.filter((l) => !store.has(l) && !this.pendingLayers.has(l));
    if (!want.length) return;
    want.forEach((l) => this.pendingLayers.add(l));
    const seq = this.seq;
    try {
      const frame = await analyze(
        { model: hd.model, text: hd.text, text_b: hd.text_b, mask: hd.mask, top_k: TOP_K, layers: want },
        this.controller?.signal,
      );
      if (seq !== this.seq) return;
      store.add(frame.attention);
      if (want.includes(this.viewer.getState().layer)) this.viewer.render();
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.showError(err);
      this.viewer.showMessage(`Layer ${want.join(", ")} could not be loaded (see the error above).`);
    } finally {
      if (seq === this.seq) want.forEach((l) => this.pendingLayers.delete(l));
    }
  }
}

const root = document.getElementById("app");
if (root) new App(root);
