// The interactive viewer: toolbar (layer, threshold, special-token switch), the attention view,
// the head boxes and the prediction tooltip, for one analysis. It knows nothing of the server or
// of the URL: a host (the web app, a notebook widget, a static export) gives it an analysis and a
// state and hears about changes. Layer and head changes never need a new request as long as the
// layer is in the store; otherwise the viewer asks the host for it (onNeedLayer).

import { download, exportFileName, exportSvg, svgToPng, type ExportContext, type ExportOptions } from "./export";
import { combineHeads, equalWeights, hideTokens, thresholdEdges } from "./math";
import type { AnalysisHeader, AttentionStore } from "./payload";
import type { AppState } from "./state";
import { AttentionView, type Focus } from "./views/attention";
import { HeadsView } from "./views/heads";
import { PredictionTooltip } from "./views/tooltip";

export type ViewState = Pick<AppState, "layer" | "heads" | "weights" | "hideSpecial" | "threshold">;

export interface ViewerAnalysis {
  header: AnalysisHeader;
  store: AttentionStore;
  /** The model's mask token; null when it cannot mask (autoregressive models). */
  maskToken: string | null;
}

export interface ViewerOptions {
  /** The user changed the view state (layer, heads, weights, threshold, special switch). */
  onChange?(state: ViewState): void;
  /** Double-click on a token of a model that can mask; absent = masking not offered. */
  onToggleMask?(index: number): void;
  /** A token was pinned (click) or unpinned (null). */
  onPin?(focus: Focus | null): void;
  /** The current layer is not in the store. */
  onNeedLayer?(layer: number): void;
  /** Called after each repaint with its duration in ms. */
  onRendered?(ms: number): void;
  /** Shown on double-click when masking is not offered (default: bidirectional models only). */
  maskHint?: string;
  /**
   * The SVG/PNG buttons were used; the default saves the file through the browser. A host can
   * replace it (e.g. a notebook that also wants the file in the kernel).
   */
  onExport?(kind: "svg" | "png", data: Blob, filename: string): void;
  /** Options of the SVG/PNG buttons (background, legend) and the PNG scale (default 2). */
  exportOptions?: ExportOptions & { pngScale?: number };
}

const same = (a: Focus | null, b: Focus | null) =>
  a === b || (a !== null && b !== null && a.side === b.side && a.index === b.index);

export class Viewer {
  readonly root: HTMLElement;
  private state: ViewState;
  private analysis: ViewerAnalysis | null = null;
  private nLayers = 0;
  private nHeads = 0;
  private pinned: Focus | null = null;
  private hover: Focus | null = null;
  private headCache = new Map<string, Float32Array>();
  private readonly attention: AttentionView;
  private readonly heads: HeadsView;
  private readonly tooltip: PredictionTooltip;
  private readonly layerSelect: HTMLSelectElement;
  private readonly threshold: HTMLInputElement;
  private readonly thresholdValue: HTMLSpanElement;
  private readonly special: HTMLInputElement;
  private readonly hint: HTMLDivElement;
  private readonly exportSvgButton: HTMLButtonElement;
  private readonly exportPngButton: HTMLButtonElement;
  private readonly overlay: HTMLDivElement;
  private hintTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(root: HTMLElement, state: ViewState, private readonly opts: ViewerOptions = {}) {
    this.root = root;
    this.state = { ...state };
    const doc = root.ownerDocument;
    root.classList.add("viewer");
    const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string) => {
      const e = doc.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    };

    // Toolbar
    const bar = el("div", "toolbar");
    const layerLabel = el("label", "ctl");
    layerLabel.append(el("span", "ctl-name", "Layer"));
    this.layerSelect = el("select");
    this.layerSelect.dataset.testid = "layer-select";
    this.layerSelect.title = "Layer (\u2190/\u2192 keys)";
    this.layerSelect.addEventListener("change", () => this.setLayer(Number(this.layerSelect.value)));
    const prev = el("button", "icon", "\u2039");
    prev.type = "button";
    prev.title = "Previous layer (\u2190)";
    prev.dataset.testid = "layer-prev";
    prev.addEventListener("click", () => this.stepLayer(-1));
    const next = el("button", "icon", "\u203a");
    next.type = "button";
    next.title = "Next layer (\u2192)";
    next.dataset.testid = "layer-next";
    next.addEventListener("click", () => this.stepLayer(1));
    layerLabel.append(this.layerSelect);
    const layerCtl = el("div", "ctl-group");
    layerCtl.append(layerLabel, prev, next);

    const thLabel = el("label", "ctl");
    thLabel.append(el("span", "ctl-name", "Threshold"));
    this.threshold = el("input");
    this.threshold.type = "range";
    this.threshold.min = "0.05";
    this.threshold.max = "1";
    this.threshold.step = "0.01";
    this.threshold.dataset.testid = "threshold-slider";
    this.threshold.title = "Each row keeps its strongest edges until this share of its attention is covered";
    this.thresholdValue = el("span", "ctl-value");
    this.threshold.addEventListener("input", () => {
      this.state.threshold = Number(this.threshold.value);
      this.thresholdValue.textContent = `${Math.round(this.state.threshold * 100)}%`;
      this.changed();
    });
    thLabel.append(this.threshold, this.thresholdValue);

    const spLabel = el("label", "ctl check");
    this.special = el("input");
    this.special.type = "checkbox";
    this.special.dataset.testid = "special-toggle";
    this.special.addEventListener("change", () => {
      this.state.hideSpecial = this.special.checked;
      this.changed();
    });
    spLabel.append(this.special, el("span", "", "Hide special tokens"));

    this.hint = el("div", "hint");
    this.hint.dataset.testid = "viewer-hint";
    this.hint.setAttribute("aria-live", "polite");
    const exportCtl = el("div", "ctl-group export");
    this.exportSvgButton = el("button", "", "SVG");
    this.exportSvgButton.type = "button";
    this.exportSvgButton.title = "Download the view as SVG (text as text, with title and legend)";
    this.exportSvgButton.dataset.testid = "export-svg-button";
    this.exportSvgButton.addEventListener("click", () => void this.saveExport("svg"));
    this.exportPngButton = el("button", "", "PNG");
    this.exportPngButton.type = "button";
    this.exportPngButton.title = "Download the view as PNG (drawn from the SVG at 2x)";
    this.exportPngButton.dataset.testid = "export-png-button";
    this.exportPngButton.addEventListener("click", () => void this.saveExport("png"));
    exportCtl.append(el("span", "ctl-name", "Export"), this.exportSvgButton, this.exportPngButton);
    bar.append(layerCtl, thLabel, spLabel, this.hint, exportCtl);

    // Panes
    const panes = el("div", "panes");
    const attnPane = el("div", "attn-pane");
    this.overlay = el("div", "overlay");
    this.overlay.dataset.testid = "viewer-overlay";
    attnPane.append(this.overlay);
    this.attention = new AttentionView(attnPane, {
      onHover: (f, anchor) => this.onHover(f, anchor),
      onClick: (f) => this.onClick(f),
      onDoubleClick: (f) => this.onDoubleClick(f),
    });
    const headsPane = el("div", "heads-pane");
    this.heads = new HeadsView(headsPane, {
      onSelect: (h, additive) => this.selectHead(h, additive),
      onSelectAll: () => this.setHeads(null, null),
      onWeight: (h, w) => this.setWeight(h, w),
      onResetWeights: () => this.setHeads(this.state.heads, null),
    });
    panes.append(attnPane, headsPane);
    const legend = el(
      "div",
      "legend",
      "Hover a token to see its attention and predictions \u00b7 click to pin \u00b7 double-click to mask (bidirectional models) \u00b7 \u2190/\u2192 change layer",
    );
    root.append(bar, panes, legend);
    this.tooltip = new PredictionTooltip(root);
    // The tooltip is position: fixed; when the page scrolls, keep it beside its token (or hide
    // it while the token is out of sight) instead of leaving it over whatever scrolls under it.
    const win = doc.defaultView;
    if (win) {
      const onScroll = () => {
        if (!this.root.isConnected) win.removeEventListener("scroll", onScroll);
        else this.followScroll();
      };
      win.addEventListener("scroll", onScroll, { passive: true });
    }
    this.syncControls();
    this.showOverlay("Type a sentence above and press Analyze.");
  }

  get svg(): SVGSVGElement {
    return this.attention.svg;
  }

  getState(): ViewState {
    return { ...this.state };
  }

  /** Labels of the current view for the exporter (model, layer, heads, weights, settings). */
  exportContext(): ExportContext {
    return {
      model: this.analysis?.header.model ?? "",
      layer: this.state.layer,
      nLayers: this.nLayers,
      heads: this.selectedHeads(),
      nHeads: this.nHeads,
      weights: this.selectedWeights(),
      threshold: this.state.threshold,
      hideSpecial: this.state.hideSpecial,
    };
  }

  /** Whether a view is drawn (something to export). */
  get ready(): boolean {
    return this.svg.getAttribute("data-ready") === "true";
  }

  /** The current view as a standalone SVG document (see src/export.ts). */
  exportSvg(opts: ExportOptions = {}): string {
    if (!this.ready) throw new Error("nothing to export: no view is drawn");
    return exportSvg(this.svg, this.exportContext(), { ...this.opts.exportOptions, ...opts });
  }

  /** The current view as PNG, drawn from the SVG at `scale` x (default 2). */
  exportPng(opts: ExportOptions & { scale?: number } = {}): Promise<Blob> {
    const scale = opts.scale ?? this.opts.exportOptions?.pngScale ?? 2;
    return svgToPng(this.exportSvg(opts), scale, this.root.ownerDocument);
  }

  private async saveExport(kind: "svg" | "png"): Promise<void> {
    try {
      const data =
        kind === "svg" ? new Blob([this.exportSvg()], { type: "image/svg+xml" }) : await this.exportPng();
      const name = exportFileName(this.analysis?.header.model ?? "view", this.state.layer, kind);
      if (this.opts.onExport) this.opts.onExport(kind, data, name);
      else download(data, name, this.root.ownerDocument);
    } catch (err) {
      this.flashHint(`Export failed: ${(err as Error)?.message ?? err}`);
    }
  }

  /** Number of layers and heads (from the model list) before any analysis is shown. */
  setShape(layers: number, heads: number): void {
    this.nLayers = layers;
    this.nHeads = heads;
    this.syncControls();
  }

  setState(s: Partial<ViewState>): void {
    this.state = { ...this.state, ...s };
    this.syncControls();
    this.render();
  }

  setAnalysis(a: ViewerAnalysis | null): void {
    const sameTokens =
      a !== null &&
      this.analysis !== null &&
      a.header.tokens.length === this.analysis.header.tokens.length;
    this.analysis = a;
    this.headCache.clear();
    if (!sameTokens) {
      if (this.pinned) this.opts.onPin?.(null);
      this.pinned = null;
      this.hover = null;
      this.tooltip.hide();
    }
    if (a) {
      this.nLayers = a.header.n_layers;
      this.nHeads = a.header.n_heads;
    }
    this.syncControls();
    this.render();
  }

  /** Show a busy overlay over the view (null to remove it). */
  setLoading(message: string | null): void {
    if (message) {
      this.svg.setAttribute("data-ready", "false");
      this.showOverlay(message, true);
    } else {
      this.render();
    }
  }

  /** A message in place of the view (used when there is nothing to show). */
  showMessage(message: string): void {
    this.showOverlay(message);
  }

  stepLayer(delta: number): void {
    if (this.nLayers === 0) return;
    this.setLayer(Math.min(this.nLayers - 1, Math.max(0, this.state.layer + delta)));
  }

  setLayer(layer: number): void {
    if (layer === this.state.layer || layer < 0 || (this.nLayers && layer >= this.nLayers)) return;
    this.state.layer = layer;
    this.changed();
  }

  /** Pin token `index` (as a click on it would, without the tooltip); null unpins. */
  pin(index: number | null): void {
    const f: Focus | null = index === null ? null : { side: "left", index };
    if (same(f, this.pinned)) return;
    this.pinned = f;
    this.attention.setPinned(f);
    this.opts.onPin?.(f);
    if (!this.hover) this.tooltip.hide();
    this.updateHeads();
  }

  private selectedHeads(): number[] {
    return this.state.heads ?? Array.from({ length: this.nHeads }, (_, h) => h);
  }

  private selectedWeights(): number[] {
    const heads = this.selectedHeads();
    const w = this.state.weights;
    return w && w.length === heads.length ? w : equalWeights(heads.length);
  }

  private setHeads(heads: number[] | null, weights: number[] | null): void {
    this.state.heads = heads && heads.length === this.nHeads && !weights ? null : heads;
    this.state.weights = weights;
    this.changed();
  }

  private selectHead(h: number, additive: boolean): void {
    const cur = this.selectedHeads();
    if (!additive) {
      if (this.state.heads && this.state.heads.length === 1 && this.state.heads[0] === h) return;
      this.setHeads([h], null);
      return;
    }
    if (cur.includes(h)) {
      if (cur.length === 1) {
        this.flashHint("At least one head stays selected.");
        return;
      }
      this.setHeads(cur.filter((x) => x !== h), null);
    } else {
      this.setHeads([...cur, h].sort((a, b) => a - b), null);
    }
  }

  private setWeight(h: number, w: number): void {
    const heads = this.selectedHeads();
    const k = heads.indexOf(h);
    if (k < 0) return;
    const weights = this.selectedWeights().slice();
    weights[k] = w;
    this.state.heads = heads;
    this.state.weights = weights;
    this.changed();
  }

  private changed(): void {
    this.syncControls();
    this.render();
    this.opts.onChange?.(this.getState());
  }

  private syncControls(): void {
    const n = this.nLayers;
    if (this.layerSelect.options.length !== n) {
      this.layerSelect.replaceChildren(
        ...Array.from({ length: n }, (_, l) => {
          const o = this.root.ownerDocument.createElement("option");
          o.value = String(l);
          o.textContent = `${l}`;
          return o;
        }),
      );
    }
    if (n) this.layerSelect.value = String(Math.min(this.state.layer, n - 1));
    this.layerSelect.disabled = n === 0;
    this.threshold.value = String(this.state.threshold);
    this.thresholdValue.textContent = `${Math.round(this.state.threshold * 100)}%`;
    this.special.checked = this.state.hideSpecial;
    const drawable = this.analysis !== null;
    this.exportSvgButton.disabled = !drawable;
    this.exportPngButton.disabled = !drawable;
  }

  private showOverlay(message: string, busy = false): void {
    this.overlay.replaceChildren();
    if (busy) {
      const sp = this.root.ownerDocument.createElement("span");
      sp.className = "spinner";
      this.overlay.append(sp);
    }
    const t = this.root.ownerDocument.createElement("span");
    t.textContent = message;
    this.overlay.append(t);
    this.overlay.dataset.testid = busy ? "loading" : "viewer-overlay";
    this.overlay.hidden = false;
    this.overlay.classList.toggle("busy", busy);
  }

  private flashHint(text: string): void {
    this.hint.textContent = text;
    if (this.hintTimer) clearTimeout(this.hintTimer);
    this.hintTimer = setTimeout(() => (this.hint.textContent = ""), 4000);
  }

  /** Per-head displayed matrices of the current layer (special tokens removed if hidden). */
  private headMatrix(h: number): Float32Array {
    const a = this.analysis!;
    const raw = a.store.head(this.state.layer, h);
    if (!this.state.hideSpecial || !a.header.tokens.some((t) => t.special && !t.masked)) return raw;
    const key = `${this.state.layer}:${h}`;
    let m = this.headCache.get(key);
    if (!m) {
      m = hideTokens(raw, a.header.tokens.length, a.header.tokens.map((t) => t.special && !t.masked));
      this.headCache.set(key, m);
    }
    return m;
  }

  /** Repaint everything from the analysis and the state. */
  render(): void {
    const t0 = performance.now();
    const a = this.analysis;
    if (!a) {
      this.attention.update({ tokens: [], visible: [], matrix: new Float32Array(0), edges: [], kind: "bidirectional", pinned: null });
      this.heads.clear();
      this.current = null;
      this.svg.removeAttribute("data-ready");
      return;
    }
    const { header, store } = a;
    const tokens = header.tokens;
    const T = tokens.length;
    const layer = this.state.layer;
    if (!store.has(layer)) {
      this.svg.setAttribute("data-ready", "false");
      this.showOverlay(`Loading layer ${layer}\u2026`, true);
      this.opts.onNeedLayer?.(layer);
      return;
    }
    this.overlay.hidden = true;
    const heads = this.selectedHeads();
    const weights = this.selectedWeights();
    // A masked position stays visible even if the server flags the mask token as special.
    const hidden = tokens.map((t) => this.state.hideSpecial && t.special && !t.masked);
    const visible: number[] = [];
    hidden.forEach((hd, i) => hd || visible.push(i));
    if (visible.length === 0) {
      this.showOverlay("Only special tokens here: turn off \u201chide special tokens\u201d to see them.");
    }
    let m = combineHeads(
      heads.map((h) => store.head(layer, h)),
      weights,
      T,
    );
    if (hidden.some(Boolean)) m = hideTokens(m, T, hidden);
    const edges = thresholdEdges(m, T, this.state.threshold);
    const keep = (f: Focus | null) => (f && !hidden[f.index] ? f : null);
    const wasPinned = this.pinned;
    this.pinned = keep(this.pinned);
    if (wasPinned && !this.pinned) this.opts.onPin?.(null);
    this.hover = keep(this.hover);
    this.attention.update({
      tokens,
      visible,
      matrix: m,
      edges,
      kind: header.kind,
      pinned: this.pinned,
      maskToken: a.maskToken,
    });
    this.current = { matrix: m, visible };
    this.updateHeads();
    this.svg.setAttribute("data-ready", "true");
    this.svg.setAttribute("data-layer", String(layer));
    this.svg.setAttribute("data-edges", String(edges.length));
    // Force style and layout so that the measured time covers the browser's work too.
    this.svg.getBoundingClientRect();
    this.opts.onRendered?.(performance.now() - t0);
  }

  private current: { matrix: Float32Array; visible: number[] } | null = null;

  private updateHeads(): void {
    const a = this.analysis;
    if (!a || !this.current || !a.store.has(this.state.layer)) return;
    this.heads.update({
      nHeads: this.nHeads,
      T: a.header.tokens.length,
      head: (h) => this.headMatrix(h),
      visible: this.current.visible,
      selected: this.selectedHeads(),
      weights: this.selectedWeights(),
      focus: this.hover ?? this.pinned,
      layer: this.state.layer,
    });
  }

  private tooltipFor(f: Focus, anchor: Element | null): void {
    const a = this.analysis;
    if (!a) return;
    const h = a.header;
    this.tooltip.show(
      {
        index: f.index,
        token: h.tokens[f.index],
        kind: h.kind,
        predictions: h.predictions ? (h.predictions[f.index] ?? []) : null,
        unavailable: h.predictions_unavailable,
        pinned: same(f, this.pinned),
      },
      anchor,
      this.svg,
    );
  }

  private followScroll(): void {
    const f = this.hover ?? this.pinned;
    const win = this.root.ownerDocument.defaultView;
    if (!f || !win) return;
    const anchor = this.anchorOf(f);
    if (!anchor) return;
    const r = anchor.getBoundingClientRect();
    if (r.bottom < 0 || r.top > win.innerHeight) this.tooltip.hide();
    else this.tooltipFor(f, anchor);
  }

  private anchorOf(f: Focus): Element | null {
    return this.attention.tokenElement(f);
  }

  private onHover(f: Focus | null, anchor: Element | null): void {
    this.hover = f;
    if (f) this.tooltipFor(f, anchor);
    else if (this.pinned) this.tooltipFor(this.pinned, this.anchorOf(this.pinned));
    else this.tooltip.hide();
    this.updateHeads();
  }

  private onClick(f: Focus): void {
    this.pinned = same(f, this.pinned) ? null : f;
    this.attention.setPinned(this.pinned);
    this.opts.onPin?.(this.pinned);
    const shown = this.hover ?? this.pinned;
    if (shown) this.tooltipFor(shown, this.anchorOf(shown));
    else this.tooltip.hide();
    this.updateHeads();
  }

  private onDoubleClick(f: Focus): void {
    const a = this.analysis;
    if (!a) return;
    if (a.header.kind !== "bidirectional" || !a.maskToken || !this.opts.onToggleMask) {
      this.flashHint(this.opts.maskHint ?? "Masking works only for bidirectional models (with a mask token).");
      return;
    }
    const tok = a.header.tokens[f.index];
    if (tok?.special && !tok.masked) {
      this.flashHint("Special tokens cannot be masked.");
      return;
    }
    this.opts.onToggleMask(f.index);
  }
}
