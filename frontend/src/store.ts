// The one state of a page: what is analysed, how it is viewed, the corpus search, and who hears
// about changes. The viewer, the corpus panel and each host subscribe to the store and change
// it with `update`; nobody keeps a copy. Hosts sync it with the outside world: the web app with
// the URL (src/hosts/app/url.ts), the notebook widget with the kernel's traits.

import { DEFAULT_THRESHOLD } from "./api/limits";
import type { AnalysisHeader, SearchBy, SearchRequest } from "./api/types";
import type { AttentionLayers } from "./attention/frame";
import type { Focus } from "./attention/view";
import type { CompareState } from "./compare/state";
import type { SummaryField } from "./corpus/labels";
import { defaultLensState, type LensState } from "./lenses/state";

/** How the attention is drawn. */
export interface ViewState {
  /** 0-based layer index. */
  layer: number;
  /** Selected heads, sorted ascending; null = all heads. */
  heads: number[] | null;
  /** Weights of the selected heads (same order as the selection); null = equal weights. */
  weights: number[] | null;
  /** Hide special tokens ([CLS], [SEP], <s>, ...) and renormalise. */
  hideSpecial: boolean;
  /** Fraction of each row's attention that the drawn edges must cover. */
  threshold: number;
  /**
   * Draw each selected head's edges in that head's own colour (heads.ts `headColor`) instead of
   * one mix of the heads. Absent = false (hosts that do not know it yet leave it out).
   */
  colorByHead?: boolean;
  /**
   * Remove the first token's edges and renormalise, as `hideSpecial` does: the attention sink of
   * models without a BOS token (SmolLM2's first word). Absent = false.
   */
  hideFirst?: boolean;
}

/** The drawing options that hosts may not carry yet, with their defaults. */
export const DRAW_DEFAULTS = { colorByHead: false, hideFirst: false } as const;

export interface SearchFilterState {
  pos: string;
  dep: string;
  ent: string;
}

/** The corpus search. */
export interface SearchState {
  /** The selected corpus ("" = the first one of the model). */
  corpus: string;
  /** The last search, or null; `layer` as everywhere: 0-based, or "embeddings" (docs/API.md). */
  by: SearchBy | null;
  token: number | null;
  layer: SearchRequest["layer"] | null;
  heads: number[] | null;
  /** The annotation the colour summary and histograms show. */
  field: SummaryField;
  /** The relation of the head-ranking heatmap. */
  relation: string;
  filters: SearchFilterState;
}

/** One analysis on screen: the frame's header and attention. */
export interface Analysis {
  header: AnalysisHeader;
  attention: AttentionLayers;
  /** The model's mask token; null when it cannot mask (autoregressive models). */
  maskToken: string | null;
  /** The server's id of the analysis (its other layers come from /api/analyses/{id}/attention). */
  id?: string;
}

/**
 * A long document analysed lazily (the header's `attention.mode` is "lazy"): no attention in the
 * frame; the document view (src/long/) fetches blocks, windows, rows and stats by `id`.
 */
export interface LongDoc {
  id: string;
  header: AnalysisHeader;
  /** The model's mask token; null when it cannot mask. */
  maskToken: string | null;
}

/** Whether the reader colours tokens by the attention a token gives ("out") or receives ("in"). */
export type Direction = "out" | "in";

/** The document view's state (src/long/). */
export interface LongState {
  /** The brushed window: tokens start..stop-1 of the document (at most MAX_WINDOW_TOKENS). */
  start: number;
  stop: number;
  /** The reader's selected token (document position), or null. */
  token: number | null;
  direction: Direction;
  /** The per-head statistic of the layers x heads heatmap. */
  stat: string;
}

/** Widest window (tokens) the document view asks for: the server's MAX_WINDOW_TOKENS. */
export const MAX_WINDOW_TOKENS = 512;
/** The window of a new document: its first DEFAULT_WINDOW_TOKENS tokens. */
export const DEFAULT_WINDOW_TOKENS = 128;
export const DEFAULT_STAT = "first_token";

export function defaultLongState(): LongState {
  return { start: 0, stop: DEFAULT_WINDOW_TOKENS, token: null, direction: "out", stat: DEFAULT_STAT };
}

/** A document view state fitted to a document of `T` tokens (the window inside it, at most
 * MAX_WINDOW_TOKENS wide and at least one token; a token past the end dropped). */
export function fitLong(l: LongState, T: number): LongState {
  const n = Math.max(1, T);
  let start = Math.min(Math.max(0, Math.floor(l.start)), n - 1);
  let stop = Math.min(Math.max(start + 1, Math.floor(l.stop)), n, start + MAX_WINDOW_TOKENS);
  if (stop <= start) [start, stop] = [0, Math.min(n, DEFAULT_WINDOW_TOKENS)];
  const token = l.token !== null && l.token >= 0 && l.token < T ? l.token : null;
  return { ...l, start, stop, token };
}

/** The change that shows lazy document `d`: the document view fitted to it, the analysis on
 * screen dropped (the document view replaces the all-tokens view). */
export function showDocument(s: State, d: LongDoc): Partial<State> {
  return { doc: d, long: fitLong(s.long, d.header.tokens.length), analysis: null, pinned: null };
}

/** The document view of new inputs: the first window, no token (the statistic shown stays). */
export function newInputsLong(s: State): LongState {
  return { ...defaultLongState(), stat: s.long.stat };
}

/** A click on cell (layer, head) of the head statistics: that layer, only that head. */
export function selectHeadCell(layer: number, head: number): Partial<ViewState> {
  return { layer, heads: [head], weights: null };
}

export interface Shape {
  layers: number;
  heads: number;
}

export interface State extends ViewState {
  colorByHead: boolean;
  hideFirst: boolean;
  model: string;
  text: string;
  /** Second sentence of a pair; "" for none. */
  textB: string;
  /** Masked token positions, sorted ascending. */
  mask: number[];
  search: SearchState;
  /** Layers and heads of the model, known before any analysis (see `shapeOf`). */
  shape: Shape;
  analysis: Analysis | null;
  /** The pinned (clicked) token of the analysis. */
  pinned: Focus | null;
  /** A long document analysed lazily (shown in the document view instead of `analysis`). */
  doc: LongDoc | null;
  /** The document view's state. */
  long: LongState;
  /** The lenses: attention mode (raw, rollout, flow), the open lens panel, the detector. */
  lens: LensState;
  /** The compare view: input B and its analysis; null when not comparing. */
  compare: CompareState | null;
}

export const DEFAULT_RELATION = "dep_head";

export function defaultSearchState(): SearchState {
  return {
    corpus: "",
    by: null,
    token: null,
    layer: null,
    heads: null,
    field: "pos",
    relation: DEFAULT_RELATION,
    filters: { pos: "", dep: "", ent: "" },
  };
}

export function defaultState(): State {
  return {
    model: "",
    text: "",
    textB: "",
    layer: 0,
    heads: null,
    weights: null,
    mask: [],
    hideSpecial: true,
    threshold: DEFAULT_THRESHOLD,
    ...DRAW_DEFAULTS,
    search: defaultSearchState(),
    shape: { layers: 0, heads: 0 },
    analysis: null,
    pinned: null,
    doc: null,
    long: defaultLongState(),
    lens: defaultLensState(),
    compare: null,
  };
}

/** The view part of a state (the drawing options with their defaults when absent). */
export function viewOf(s: ViewState): Required<ViewState> {
  const { layer, heads, weights, hideSpecial, threshold } = s;
  const colorByHead = s.colorByHead ?? DRAW_DEFAULTS.colorByHead;
  const hideFirst = s.hideFirst ?? DRAW_DEFAULTS.hideFirst;
  return { layer, heads, weights, hideSpecial, threshold, colorByHead, hideFirst };
}

export function sameView(a: ViewState, b: ViewState): boolean {
  return JSON.stringify(viewOf(a)) === JSON.stringify(viewOf(b));
}

/** Layers and heads: the analysis's (or the long document's), else the model's. */
export function shapeOf(s: Pick<State, "analysis" | "shape"> & { doc?: LongDoc | null }): Shape {
  const h = s.analysis?.header ?? s.doc?.header;
  return h ? { layers: h.n_layers, heads: h.n_heads } : s.shape;
}

/** Clamp a view to a model's shape (layers, heads) and drop what does not fit. */
export function fitView<S extends ViewState>(s: S, layers: number, heads: number): S {
  const out: S = { ...s };
  out.layer = Math.min(Math.max(0, s.layer), Math.max(0, layers - 1));
  if (s.heads) {
    const hs = s.heads.filter((h) => h < heads);
    out.heads = hs.length ? hs : null;
    out.weights = hs.length && s.weights && hs.length === s.heads.length ? s.weights : null;
  }
  return out;
}

/** The change that shows analysis `a`: the pinned token stays if the tokens are as many. */
export function showAnalysis(s: State, a: Analysis | null): Partial<State> {
  const sameTokens = a !== null && s.analysis !== null && a.header.tokens.length === s.analysis.header.tokens.length;
  return { analysis: a, pinned: sameTokens ? s.pinned : null, doc: null };
}

export type Listener<S> = (state: S, prev: S) => void;

/**
 * A state object, `update(patch)` and `subscribe(listener)`. Listeners are called in the order
 * they subscribed with the new and the previous state. An update made by a listener is applied
 * at once and announced after the current round, so every listener sees every change in order.
 */
export class Store<S extends object> {
  private current: S;
  private announced: S;
  private readonly listeners: Listener<S>[] = [];
  private notifying = false;

  constructor(initial: S) {
    this.current = initial;
    this.announced = initial;
  }

  get state(): S {
    return this.current;
  }

  /** Call `listener` after each change; returns the function that unsubscribes it. */
  subscribe(listener: Listener<S>): () => void {
    this.listeners.push(listener);
    return () => {
      const k = this.listeners.indexOf(listener);
      if (k >= 0) this.listeners.splice(k, 1);
    };
  }

  update(patch: Partial<S>): void {
    const keys = Object.keys(patch) as (keyof S)[];
    if (keys.every((k) => Object.is(patch[k], this.current[k]))) return;
    this.current = { ...this.current, ...patch };
    if (this.notifying) return;
    this.notifying = true;
    try {
      while (this.announced !== this.current) {
        const prev = this.announced;
        const next = this.current;
        this.announced = next;
        for (const l of [...this.listeners]) l(next, prev);
      }
    } finally {
      this.notifying = false;
    }
  }
}

export function createStore(initial: Partial<State> = {}): Store<State> {
  return new Store({ ...defaultState(), ...initial });
}
