// The interactive viewer: toolbar, attention view, head boxes and prediction tooltip for the
// analysis in the store. It knows nothing of the server or of the URL: it draws the store
// (analysis, layer, heads, weights, threshold, the drawing switches, pinned token) and changes it on
// the user's actions; its host (the web app, a notebook widget, a static export) syncs the store
// with the outside world. Layer and head changes need no request while the layer is in the
// analysis; otherwise the viewer asks the host for it (onNeedLayer). With a LensSource
// (ViewerOptions.lenses) it also shows the lens area under the view (model view, logit lens,
// head detectors: src/lenses/) and the attention mode switch (raw, rollout, flow).

import { ALL_LAYERS_BYTES } from "../api/limits";
import { h } from "../dom";
import { AttentionModes } from "../lenses/modes";
import { LensArea } from "../lenses/panel";
import type { LensSource } from "../lenses/source";
import type { State, Store } from "../store";
import { download, exportFileName, svgToPng } from "./exportFile";
import { exportContext, exportSvg, type ExportContext, type ExportOptions } from "./exportSvg";
import { payloadBytes } from "./math";
import { AttentionPanes, sameFocus } from "./panes";
import { Toolbar } from "./toolbar";

export interface ViewerOptions {
  /** Double-click on a token of a model that can mask; absent = masking not offered. */
  onToggleMask?(index: number): void;
  /** The current layer is not in the analysis. */
  onNeedLayer?(layer: number): void;
  /**
   * Layers the model view needs that are not in the analysis; the promise settles once the host
   * added them. Absent: the viewer asks for each with onNeedLayer.
   */
  onNeedLayers?(layers: number[]): Promise<void> | void;
  /** Where the lenses' numbers come from; absent = no lens area, no attention mode switch. */
  lenses?: LensSource;
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

/** A change of these redraws the view. */
const DRAWN = ["analysis", "layer", "heads", "weights", "hideSpecial", "hideFirst", "colorByHead", "threshold", "shape"] as const;

export class Viewer {
  private readonly toolbar: Toolbar;
  private readonly panes: AttentionPanes;
  /** The lens area (model view, logit lens, head detectors); null without a LensSource. */
  readonly lensArea: LensArea | null = null;

  constructor(
    readonly root: HTMLElement,
    readonly store: Store<State>,
    private readonly opts: ViewerOptions = {},
  ) {
    root.classList.add("viewer");
    this.toolbar = new Toolbar(store, (kind) => void this.saveExport(kind), opts.lenses !== undefined);
    const modes = opts.lenses ? new AttentionModes(opts.lenses, () => this.render()) : null;
    this.panes = new AttentionPanes(root, store, {
      onNeedLayer: opts.onNeedLayer,
      onDoubleClick: (i) => this.onDoubleClick(i),
      hint: (text) => this.toolbar.flashHint(text),
      modeMatrix: modes ? (s) => modes.matrix(s) : undefined,
    });
    const legend = h(
      "div",
      { class: "legend" },
      "Hover a token to see its attention and predictions \u00b7 click to pin \u00b7 double-click to mask (bidirectional models) \u00b7 \u2190/\u2192 change layer",
    );
    root.prepend(this.toolbar.el, this.panes.el, legend);
    if (opts.lenses) {
      this.lensArea = new LensArea(store, opts.lenses, {
        needLayers: (ls) => this.needLayers(ls),
      });
      legend.after(this.lensArea.el);
    }
    // Scroll events of any scrolling ancestor (the page, or a notebook's output panel, which
    // scrolls instead of the window in JupyterLab) reach the document in the capture phase.
    const doc = root.ownerDocument;
    const onScroll = () => {
      if (!root.isConnected) doc.removeEventListener("scroll", onScroll, { capture: true });
      else this.panes.followScroll();
    };
    doc.addEventListener("scroll", onScroll, { passive: true, capture: true });
    // (a taller window shows more of the view: its canvas edges may need repainting)
    const win = doc.defaultView;
    const onResize = () => {
      if (!root.isConnected) win?.removeEventListener("resize", onResize);
      else this.panes.attention.viewportChanged();
    };
    win?.addEventListener("resize", onResize, { passive: true });
    store.subscribe((s, prev) => this.onState(s, prev));
    this.toolbar.sync(store.state);
    this.panes.showOverlay("Type a sentence above and press Analyze.");
  }

  /** Ask the host for `layers` (the model view's) in one request, only while the whole
   * analysis fits ALL_LAYERS_BYTES (past that it came per layer: the model view says so). */
  private async needLayers(layers: number[]): Promise<void> {
    const a = this.store.state.analysis;
    if (!a || payloadBytes(a.header.n_layers, a.header.n_heads, a.header.tokens.length) > ALL_LAYERS_BYTES) return;
    const ask = this.opts.onNeedLayers;
    if (!ask) return layers.forEach((l) => this.opts.onNeedLayer?.(l));
    await ask(layers);
  }

  get svg(): SVGSVGElement {
    return this.panes.svg;
  }

  private onState(s: State, prev: State): void {
    if (s.analysis !== prev.analysis) {
      this.panes.analysisChanged(s.analysis?.header.tokens.length === prev.analysis?.header.tokens.length);
    }
    if (DRAWN.some((k) => s[k] !== prev[k]) || s.lens.attentionMode !== prev.lens.attentionMode) {
      this.toolbar.sync(s);
      this.render();
    } else if (!sameFocus(s.pinned, prev.pinned)) {
      this.panes.pinChanged(s.pinned);
    }
  }

  /** Repaint everything from the store. */
  render(): void {
    const t0 = performance.now();
    const drawn = this.panes.render();
    // (layers added by the host show in the model view too)
    if (this.lensArea && this.store.state.lens.panel === "model") this.lensArea.render();
    if (!drawn) return;
    // Force style and layout so that the measured time covers the browser's work too.
    this.svg.getBoundingClientRect();
    this.opts.onRendered?.(performance.now() - t0);
  }

  /** Labels of the current view for the exporter (model, layer, heads, weights, settings). */
  exportContext(): ExportContext {
    return exportContext(this.store.state);
  }

  /** Whether a view is drawn (something to export). */
  get ready(): boolean {
    return this.svg.getAttribute("data-ready") === "true";
  }

  /** The current view as a standalone SVG document (see exportSvg.ts). */
  exportSvg(opts: ExportOptions = {}): string {
    if (!this.ready) throw new Error("nothing to export: no view is drawn");
    return exportSvg(this.panes.attention.exportView(), this.exportContext(), { ...this.opts.exportOptions, ...opts });
  }

  /** The current view as PNG, drawn from the SVG at `scale` x (default 2). */
  exportPng(opts: ExportOptions & { scale?: number } = {}): Promise<Blob> {
    const scale = opts.scale ?? this.opts.exportOptions?.pngScale ?? 2;
    return svgToPng(this.exportSvg(opts), scale, this.root.ownerDocument);
  }

  private async saveExport(kind: "svg" | "png"): Promise<void> {
    try {
      const data = kind === "svg" ? new Blob([this.exportSvg()], { type: "image/svg+xml" }) : await this.exportPng();
      const name = exportFileName(this.store.state.analysis?.header.model ?? "view", this.store.state.layer, kind);
      if (this.opts.onExport) this.opts.onExport(kind, data, name);
      else download(data, name, this.root.ownerDocument);
    } catch (err) {
      this.toolbar.flashHint(`Export failed: ${(err as Error)?.message ?? err}`);
    }
  }

  /** Show a busy overlay over the view (null to remove it). */
  setLoading(message: string | null): void {
    if (message) {
      this.svg.setAttribute("data-ready", "false");
      this.panes.showOverlay(message, true);
    } else {
      this.render();
    }
  }

  /** A message in place of the view (used when there is nothing to show). */
  showMessage(message: string): void {
    this.panes.showOverlay(message);
  }

  stepLayer(delta: number): void {
    this.toolbar.step(delta);
  }

  /**
   * The page's arrow keys step the layer, except in text fields, selects and sliders (checkboxes
   * and buttons do not use them). Returns whether the key was used.
   */
  handleKey(ev: KeyboardEvent): boolean {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return false;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return false;
    // (inside a shadow root, as in the notebook widget, the event's target is the host)
    const t = (ev.composedPath()[0] ?? ev.target) as HTMLElement | null;
    if (t && (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return false;
    if (t instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "reset"].includes(t.type)) return false;
    ev.preventDefault();
    this.stepLayer(ev.key === "ArrowLeft" ? -1 : 1);
    return true;
  }

  private onDoubleClick(index: number): void {
    const a = this.store.state.analysis;
    if (!a) return;
    if (a.header.kind !== "bidirectional" || !a.maskToken || !this.opts.onToggleMask) {
      this.toolbar.flashHint(this.opts.maskHint ?? "Masking works only for bidirectional models (with a mask token).");
      return;
    }
    const tok = a.header.tokens[index];
    if (tok?.special && !tok.masked) {
      this.toolbar.flashHint("Special tokens cannot be masked.");
      return;
    }
    this.opts.onToggleMask(index);
  }
}
