// The viewer's drawing: the attention view, the head boxes beside it, the prediction tooltip and
// the overlay (loading, messages), all drawn from the store. Hover is its own; a click pins a
// token in the store, a double-click asks the host to mask it.

import { h } from "../dom";
import type { ModeMatrix } from "../lenses/modes";
import { shapeOf, type State, type Store, type ViewState } from "../store";
import { HeadsView } from "./heads";
import { combineHeads, droppedTokens, edgesByHead, hideTokens, thresholdEdges } from "./math";
import { poolMatrix } from "./pool";
import { clickHead, headsPatch, selectedHeads, selectedWeights, weightPatch } from "./selection";
import { PredictionTooltip } from "./tooltip";
import { AttentionView, type Focus } from "./view";

export interface PanesEvents {
  /** The current layer is not in the analysis. */
  onNeedLayer?(layer: number): void;
  /** A double-click on token `index`. */
  onDoubleClick(index: number): void;
  /** A short message for the user (the toolbar's hint). */
  hint(text: string): void;
  /** The matrix of the attention mode (rollout, flow) to draw instead of the raw heads; null
   * (or absent) draws the raw heads. */
  modeMatrix?(s: State): ModeMatrix | null;
}

/** The head boxes' miniature of more shown tokens than this is made of block means. */
const HEAD_BOX_BINS = 112;

/** Above this many tokens the head boxes are redrawn after the view is painted. */
const HEADS_LATER_T = 128;

export const sameFocus = (a: Focus | null, b: Focus | null) =>
  a === b || (a !== null && b !== null && a.side === b.side && a.index === b.index);

export class AttentionPanes {
  readonly el: HTMLDivElement;
  readonly attention: AttentionView;
  private readonly heads: HeadsView;
  private readonly tooltip: PredictionTooltip;
  private readonly overlay: HTMLDivElement;
  /** What the lines show when not the raw attention (rollout, flow). */
  private readonly modeNote: HTMLDivElement;
  private hover: Focus | null = null;
  private headsFrame = 0;
  private headsAfterPaint = false;
  private readonly headCache = new Map<string, Float32Array>();
  /** The drawn matrix and the visible tokens (for the head boxes). */
  private current: { matrix: Float32Array; visible: number[] } | null = null;

  constructor(
    tooltipIn: HTMLElement,
    private readonly store: Store<State>,
    private readonly events: PanesEvents,
  ) {
    this.overlay = h("div", { class: "overlay", "data-testid": "viewer-overlay" });
    this.modeNote = h("div", { class: "mode-note", "data-testid": "attention-mode-note", hidden: true });
    const attnPane = h("div", { class: "attn-pane" }, this.overlay, this.modeNote);
    this.attention = new AttentionView(attnPane, {
      onHover: (f, anchor) => this.onHover(f, anchor),
      onClick: (f) => this.onClick(f),
      onDoubleClick: (f) => this.events.onDoubleClick(f.index),
    });
    const headsPane = h("div", { class: "heads-pane" });
    const nHeads = () => shapeOf(store.state).heads;
    const update = (p: Partial<ViewState> | null) => p && store.update(p);
    this.heads = new HeadsView(headsPane, {
      onSelect: (hd, additive) => {
        const p = clickHead(store.state, nHeads(), hd, additive);
        if (p === "last") this.events.hint("At least one head stays selected.");
        else update(p);
      },
      onSelectAll: () => update(headsPatch(null, null, nHeads())),
      onWeight: (hd, w) => update(weightPatch(store.state, nHeads(), hd, w)),
      onResetWeights: () => update(headsPatch(store.state.heads, null, nHeads())),
    });
    this.el = h("div", { class: "panes" }, attnPane, headsPane);
    this.tooltip = new PredictionTooltip(tooltipIn);
  }

  get svg(): SVGSVGElement {
    return this.attention.svg;
  }

  /** A new analysis: forget what belonged to the old one. */
  analysisChanged(sameTokens: boolean): void {
    this.headCache.clear();
    if (!sameTokens) {
      this.hover = null;
      this.tooltip.hide();
    }
  }

  pinChanged(pinned: Focus | null): void {
    this.attention.setPinned(pinned);
    if (!this.hover) this.tooltip.hide();
    this.updateHeads();
  }

  showOverlay(message: string, busy = false): void {
    this.overlay.replaceChildren(...(busy ? [h("span", { class: "spinner" })] : []), h("span", {}, message));
    this.overlay.dataset.testid = busy ? "loading" : "viewer-overlay";
    this.overlay.hidden = false;
    this.overlay.classList.toggle("busy", busy);
  }

  /** Draw the store; false when nothing could be drawn. */
  render(): boolean {
    const s = this.store.state;
    const a = s.analysis;
    if (!a) {
      this.attention.update({ tokens: [], visible: [], matrix: new Float32Array(0), edges: [], kind: "bidirectional", pinned: null });
      this.heads.clear();
      this.current = null;
      this.modeNote.hidden = true;
      this.svg.removeAttribute("data-ready");
      return false;
    }
    const tokens = a.header.tokens;
    const T = tokens.length;
    const mode = this.events.modeMatrix?.(s) ?? null;
    if (mode && !("matrix" in mode)) {
      this.svg.setAttribute("data-ready", "false");
      if ("pending" in mode) this.showOverlay(mode.pending, true);
      else this.showOverlay(mode.error);
      return false;
    }
    if (!mode && !a.attention.has(s.layer)) {
      this.svg.setAttribute("data-ready", "false");
      this.showOverlay(`Loading layer ${s.layer}\u2026`, true);
      this.events.onNeedLayer?.(s.layer);
      return false;
    }
    this.overlay.hidden = true;
    const nHeads = shapeOf(s).heads;
    // A masked position stays visible even if the server flags the mask token as special.
    const hidden = tokens.map((t) => s.hideSpecial && t.special && !t.masked);
    // Tokens without edges: the hidden ones and, with "hide first token", the first (shown muted).
    const dropped = droppedTokens(tokens, s);
    const visible: number[] = [];
    hidden.forEach((hd, i) => hd || visible.push(i));
    if (visible.length === 0) {
      this.showOverlay("Only special tokens here: turn off \u201chide special tokens\u201d to see them.");
    }
    const heads = selectedHeads(s, nHeads);
    const weights = selectedWeights(s, nHeads);
    // In rollout/flow mode: the rolled-out matrix of the layer, one mixed "head".
    let m = mode ? mode.matrix : combineHeads(heads.map((hd) => a.attention.head(s.layer, hd)), weights, T);
    if (dropped.some(Boolean)) m = hideTokens(m, T, dropped);
    const edges = s.colorByHead && !mode
      ? edgesByHead(heads.map((hd) => this.headMatrix(hd)), heads, weights, T, s.threshold)
      : thresholdEdges(m, T, s.threshold);
    const keep = (f: Focus | null) => (f && f.index < T && !hidden[f.index] ? f : null);
    const pinned = keep(s.pinned);
    this.hover = keep(this.hover);
    this.attention.update({ tokens, visible, dropped, matrix: m, edges, kind: a.header.kind, pinned, maskToken: a.maskToken });
    this.current = { matrix: m, visible };
    // A long input's head boxes (heads x T x T pixels) are drawn in a task after the view is
    // painted, so that a layer change shows its edges first.
    if (T > HEADS_LATER_T) this.scheduleHeads(true);
    else this.updateHeads();
    this.svg.setAttribute("data-ready", "true");
    this.svg.setAttribute("data-layer", String(s.layer));
    this.svg.setAttribute("data-edges", String(edges.length));
    this.svg.setAttribute("data-color-by-head", String(s.colorByHead === true));
    this.svg.setAttribute("data-mode", mode ? s.lens.attentionMode : "raw");
    this.modeNote.hidden = !mode;
    if (mode) {
      const what = heads.length === nHeads ? "all heads" : `head${heads.length > 1 ? "s" : ""} ${heads.join(", ")}`;
      this.modeNote.textContent =
        s.lens.attentionMode === "flow"
          ? `attention flow through layers 0\u2013${s.layer} (${what})`
          : `attention rollout through layers 0\u2013${s.layer} (${what})`;
    }
    if (pinned !== s.pinned) this.store.update({ pinned });
    return true;
  }

  /** Per-head displayed matrices of the current layer (the tokens without edges removed:
   * hidden special tokens, the first token when hidden). */
  private headMatrix(hd: number): Float32Array {
    const s = this.store.state;
    const a = s.analysis!;
    const raw = a.attention.head(s.layer, hd);
    const dropped = droppedTokens(a.header.tokens, s);
    if (!dropped.some(Boolean)) return raw;
    const key = `${s.layer}:${hd}:${s.hideSpecial}:${s.hideFirst === true}`;
    let m = this.headCache.get(key);
    if (!m) {
      m = hideTokens(raw, dropped.length, dropped);
      this.headCache.set(key, m);
    }
    return m;
  }

  /** Head hd's matrix over the shown tokens in HEAD_BOX_BINS x HEAD_BOX_BINS block means. */
  private pooledHead(hd: number, visible: readonly number[]): Float32Array {
    const s = this.store.state;
    const key = `pool:${s.layer}:${hd}:${s.hideSpecial}:${s.hideFirst === true}:${visible.length}`;
    let m = this.headCache.get(key);
    if (!m) {
      m = poolMatrix(this.headMatrix(hd), s.analysis!.header.tokens.length, visible, HEAD_BOX_BINS).values;
      this.headCache.set(key, m);
    }
    return m;
  }

  private updateHeads(): void {
    const s = this.store.state;
    const a = s.analysis;
    if (!a || !this.current || !a.attention.has(s.layer)) return;
    const nHeads = shapeOf(s).heads;
    const focus = this.hover ?? s.pinned;
    const visible = this.current.visible;
    // Without a focus the boxes show each head's whole matrix: of a long input, its block means.
    const pool = !focus && visible.length > HEAD_BOX_BINS;
    const bins = Array.from({ length: HEAD_BOX_BINS }, (_, k) => k);
    this.heads.update({
      nHeads,
      T: pool ? HEAD_BOX_BINS : a.header.tokens.length,
      head: (hd) => (pool ? this.pooledHead(hd, visible) : this.headMatrix(hd)),
      visible: pool ? bins : visible,
      selected: selectedHeads(s, nHeads),
      weights: selectedWeights(s, nHeads),
      focus,
      layer: s.layer,
      colorByHead: s.colorByHead === true,
    });
  }

  private tooltipFor(f: Focus, anchor: Element | null): void {
    const s = this.store.state;
    const hd = s.analysis?.header;
    if (!hd) return;
    this.tooltip.show(
      {
        index: f.index,
        token: hd.tokens[f.index],
        kind: hd.kind,
        predictions: hd.predictions ? (hd.predictions[f.index] ?? []) : null,
        unavailable: hd.predictions_unavailable,
        pinned: sameFocus(f, s.pinned),
      },
      anchor,
      this.svg,
    );
  }

  /** Keep the tooltip (position: fixed) beside its token when the page scrolls, or hide it. */
  followScroll(): void {
    this.attention.viewportChanged();
    const f = this.hover ?? this.store.state.pinned;
    const win = this.el.ownerDocument.defaultView;
    if (!f || !win) return;
    const anchor = this.attention.tokenElement(f);
    if (!anchor) return;
    const r = anchor.getBoundingClientRect();
    if (r.bottom < 0 || r.top > win.innerHeight) this.tooltip.hide();
    else this.tooltipFor(f, anchor);
  }

  private onHover(f: Focus | null, anchor: Element | null): void {
    this.hover = f;
    const pinned = this.store.state.pinned;
    if (f) this.tooltipFor(f, anchor);
    else if (pinned) this.tooltipFor(pinned, this.attention.tokenElement(pinned));
    else this.tooltip.hide();
    this.scheduleHeads();
  }

  /** The head boxes follow the hover at the next frame: a pointer moving from token to token
   * leaves one and enters the next in one task, and only the last focus is drawn. */
  private scheduleHeads(afterPaint = false): void {
    const win = this.el.ownerDocument.defaultView;
    if (!win || typeof win.requestAnimationFrame !== "function") return this.updateHeads();
    if (afterPaint) this.headsAfterPaint = true;
    if (this.headsFrame) return;
    this.headsFrame = win.requestAnimationFrame(() => {
      const later = this.headsAfterPaint;
      this.headsAfterPaint = false;
      if (!later) {
        this.headsFrame = 0;
        this.updateHeads();
        return;
      }
      win.setTimeout(() => {
        this.headsFrame = 0;
        this.updateHeads();
      }, 0);
    });
  }

  private onClick(f: Focus): void {
    this.store.update({ pinned: sameFocus(f, this.store.state.pinned) ? null : f });
    const shown = this.hover ?? this.store.state.pinned;
    if (shown) this.tooltipFor(shown, this.attention.tokenElement(shown));
    else this.tooltip.hide();
  }
}
