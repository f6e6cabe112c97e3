// The whole app state, kept in the URL query string so that a reload (or a shared link)
// reproduces the same view. Only values that differ from the defaults are written.
//
//   model=minilm-l6 & text=... & text_b=... & layer=3 & heads=0,4,7 & w=0.5,0.25,0.25
//   & mask=2,5 & special=0 & th=0.8

import type { SearchBy, SummaryField } from "./corpus";

export interface AppState {
  model: string;
  text: string;
  /** Second sentence of a pair; "" for none. */
  textB: string;
  /** 0-based layer index. */
  layer: number;
  /** Selected heads, sorted ascending; null = all heads. */
  heads: number[] | null;
  /** Weights of the selected heads (same order as the selection); null = equal weights. */
  weights: number[] | null;
  /** Masked token positions, sorted ascending. */
  mask: number[];
  /** Hide special tokens ([CLS], [SEP], <s>, ...) and renormalise. */
  hideSpecial: boolean;
  /** Fraction of each row's attention that the drawn edges must cover. */
  threshold: number;
}

export const DEFAULT_THRESHOLD = 0.7;

export function defaultState(): AppState {
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
  };
}

function intList(v: string | null): number[] | null {
  if (v === null || v === "") return null;
  const out = v.split(",").map((s) => Number(s));
  if (out.some((n) => !Number.isInteger(n) || n < 0)) return null;
  return [...new Set(out)].sort((a, b) => a - b);
}

function numList(v: string | null): number[] | null {
  if (v === null || v === "") return null;
  const out = v.split(",").map((s) => Number(s));
  return out.some((n) => !Number.isFinite(n)) ? null : out;
}

/** Encode a state as a query string (without the leading "?"). */
export function encodeState(s: AppState): string {
  const p = new URLSearchParams();
  if (s.model) p.set("model", s.model);
  if (s.text) p.set("text", s.text);
  if (s.textB) p.set("text_b", s.textB);
  if (s.layer !== 0) p.set("layer", String(s.layer));
  if (s.heads) p.set("heads", s.heads.join(","));
  if (s.heads && s.weights) p.set("w", s.weights.map((w) => String(w)).join(","));
  if (s.mask.length) p.set("mask", s.mask.join(","));
  if (!s.hideSpecial) p.set("special", "0");
  if (s.threshold !== DEFAULT_THRESHOLD) p.set("th", String(s.threshold));
  return p.toString();
}

/** Decode a query string (with or without "?"); anything malformed falls back to the default. */
export function decodeState(query: string): AppState {
  const p = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  const s = defaultState();
  s.model = p.get("model") ?? "";
  s.text = p.get("text") ?? "";
  s.textB = p.get("text_b") ?? "";
  const layer = Number(p.get("layer") ?? "0");
  s.layer = Number.isInteger(layer) && layer >= 0 ? layer : 0;
  const heads = intList(p.get("heads"));
  s.heads = heads && heads.length ? heads : null;
  const w = numList(p.get("w"));
  // Weights are positional: they only make sense with the same (unsorted-input) selection.
  const rawHeads = (p.get("heads") ?? "").split(",").map(Number);
  const headsAsWritten = s.heads !== null && rawHeads.every((h, k) => h === s.heads![k]);
  s.weights = s.heads && w && headsAsWritten && w.length === s.heads.length ? w : null;
  s.mask = intList(p.get("mask")) ?? [];
  s.hideSpecial = p.get("special") !== "0";
  const th = Number(p.get("th") ?? DEFAULT_THRESHOLD);
  s.threshold = Number.isFinite(th) && th > 0 && th <= 1 ? th : DEFAULT_THRESHOLD;
  return s;
}

/** Clamp a state to a model's shape (layers, heads) and drop what does not fit. */
export function fitState(s: AppState, layers: number, heads: number): AppState {
  const out: AppState = { ...s };
  out.layer = Math.min(Math.max(0, s.layer), Math.max(0, layers - 1));
  if (s.heads) {
    const hs = s.heads.filter((h) => h < heads);
    out.heads = hs.length ? hs : null;
    out.weights = hs.length && s.weights && hs.length === s.heads.length ? s.weights : null;
  }
  return out;
}

export function statesEqual(a: AppState, b: AppState): boolean {
  return encodeState(a) === encodeState(b);
}

// Corpus search state, in the same query string (written after the view's keys):
//   corpus=holmes-minilm-l6 & sby=context & stok=2 & slayer=4 & sheads=1,3 & color=dep
//   & rel=prev_token & fpos=NOUN & fdep=nsubj & fent=PERSON
// sby/stok/slayer/sheads describe the last search (re-run after a reload); slayer is in the
// search's block numbering (docs/API.md), not the attention view's.

export interface SearchFilterState {
  pos: string;
  dep: string;
  ent: string;
}

export interface SearchState {
  /** The selected corpus ("" = the first one of the model). */
  corpus: string;
  /** The last search, or null. */
  by: SearchBy | null;
  token: number | null;
  layer: number | null;
  heads: number[] | null;
  /** The annotation the colour summary and histograms show. */
  field: SummaryField;
  /** The relation of the head-ranking heatmap. */
  relation: string;
  filters: SearchFilterState;
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

/** Encode the search state as query-string parameters (without "?"; "" for the default). */
export function encodeSearchState(s: SearchState): string {
  const p = new URLSearchParams();
  if (s.corpus) p.set("corpus", s.corpus);
  if (s.by && s.token !== null && s.layer !== null) {
    p.set("sby", s.by);
    p.set("stok", String(s.token));
    p.set("slayer", String(s.layer));
    if (s.heads) p.set("sheads", s.heads.join(","));
  }
  if (s.field !== "pos") p.set("color", s.field);
  if (s.relation !== DEFAULT_RELATION) p.set("rel", s.relation);
  if (s.filters.pos) p.set("fpos", s.filters.pos);
  if (s.filters.dep) p.set("fdep", s.filters.dep);
  if (s.filters.ent) p.set("fent", s.filters.ent);
  return p.toString();
}

/** Decode the search state from a query string; anything malformed falls back to the default. */
export function decodeSearchState(query: string): SearchState {
  const p = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  const s = defaultSearchState();
  s.corpus = p.get("corpus") ?? "";
  const by = p.get("sby");
  const token = Number(p.get("stok") ?? "x");
  const layer = Number(p.get("slayer") ?? "x");
  if ((by === "embedding" || by === "context") && Number.isInteger(token) && token >= 0 && Number.isInteger(layer) && layer >= 0) {
    s.by = by;
    s.token = token;
    s.layer = layer;
    s.heads = intList(p.get("sheads"));
    if (s.heads && !s.heads.length) s.heads = null;
  }
  const field = p.get("color");
  if (field === "dep" || field === "ent") s.field = field;
  const rel = p.get("rel");
  if (rel && /^[A-Za-z0-9_-]{1,64}$/.test(rel)) s.relation = rel;
  s.filters = { pos: p.get("fpos") ?? "", dep: p.get("fdep") ?? "", ent: p.get("fent") ?? "" };
  return s;
}
