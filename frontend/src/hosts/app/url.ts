// The web app's URL: the store's inputs, view and search in the query string, so that a reload
// (or a shared link) reproduces the same view. `readUrl` reads it into the store once at start;
// history.ts writes it from the store after every change (one browser history entry per view
// change) and reads it back on Back/Forward. Only values that differ from the defaults are
// written; weights are rounded (`weightText`).
//
//   model=minilm-l6 & text=... & text_b=... & layer=3 & heads=0,4,7 & w=0.5,0.25,0.25
//   & mask=2,5 & special=0 & th=0.8 & byhead=1 & hidefirst=1
//   & corpus=holmes-minilm-l6 & sby=context & stok=2 & slayer=4 & sheads=1,3 & color=dep
//   & rel=prev_token & fpos=NOUN & fdep=nsubj & fent=PERSON
//
//   & win=1200-1456 & tok=1300 & dir=in & stat=entropy      (the document view of a long text)
//
//   & mode=rollout & panel=heads & detector=induction       (the lenses: lenses/state.ts)
//   & cmp=... & cmpb=... & cmpm=1,4                          (the compare view's input B)
//
// mode, panel and detector are read with validation (an unknown mode or panel is dropped). `cmp`
// present (even empty: the compare view open before B is typed) means comparing; B's texts are
// only written when they fit in the URL together with A's (else the compare view is left out).
//
// sby/stok/slayer/sheads describe the last search (re-run after a reload); slayer is a layer as
// everywhere in exbert (0-based, as in transformers) or `embeddings` (docs/API.md).
//
// A long text (a pasted book chapter: 400,000 characters percent-encode to over 1 MB, past what
// browsers and the server's request head accept) is left out of the URL: when text and text_b
// encode to more than MAX_URL_TEXT_CHARS, neither is written and both go into the history
// entry's state instead (`urlTexts`, `entryTexts`), so Back/Forward still restore them within the
// session; a reload or a shared link starts without the text (and analyses nothing).

import { DEFAULT_THRESHOLD } from "../../api/limits";
import { compareInputs, type CompareState } from "../../compare/state";
import { ATTENTION_MODES, DEFAULT_DETECTOR, defaultLensState, LENS_PANELS, type LensState } from "../../lenses/state";
import {
  DEFAULT_RELATION,
  defaultLongState,
  defaultSearchState,
  defaultState,
  fitLong,
  MAX_WINDOW_TOKENS,
  type LongDoc,
  type LongState,
  type SearchState,
  type State,
} from "../../store";

const URL_KEYS = [
  "model", "text", "textB", "layer", "heads", "weights", "mask", "hideSpecial", "threshold", "colorByHead", "hideFirst", "long", "lens", "compare",
] as const;

/** The query parameters of the view and the inputs (not of the search). */
export const URL_PARAMS_OF_VIEW = [
  "model", "text", "text_b", "layer", "heads", "w", "mask", "special", "th", "byhead", "hidefirst", "win", "tok", "dir", "stat",
  "mode", "panel", "detector", "cmp", "cmpb", "cmpm",
];

/** The most characters of percent-encoded text (text plus text_b) that the URL holds. */
export const MAX_URL_TEXT_CHARS = 16 * 1024;

/** The texts of a history entry kept out of its URL (too long for it). */
export interface UrlTexts {
  text: string;
  textB: string;
}

let lastFit: { text: string; textB: string; fits: boolean } | null = null;

/** Whether text and text_b, percent-encoded, fit in the URL (MAX_URL_TEXT_CHARS in all). */
export function textsFitUrl(text: string, textB: string): boolean {
  // Every character encodes to at least one: a longer raw text never fits (no encoding needed).
  if (text.length + textB.length > MAX_URL_TEXT_CHARS) return false;
  if (lastFit && lastFit.text === text && lastFit.textB === textB) return lastFit.fits;
  const n = new URLSearchParams({ text }).toString().length - 5 + new URLSearchParams({ b: textB }).toString().length - 2;
  lastFit = { text, textB, fits: n <= MAX_URL_TEXT_CHARS };
  return lastFit.fits;
}

/** The texts of `s` that the URL leaves out (to keep in the history entry's state), or null. */
export function urlTexts(s: Pick<State, "text" | "textB">): UrlTexts | null {
  return textsFitUrl(s.text, s.textB) ? null : { text: s.text, textB: s.textB };
}

/** The texts a history entry's state holds (`history.state` as written by history.ts), or null. */
export function entryTexts(state: unknown): UrlTexts | null {
  const t = (state as { exbertTexts?: unknown } | null)?.exbertTexts as Partial<UrlTexts> | undefined;
  return t && typeof t.text === "string" && typeof t.textB === "string" ? { text: t.text, textB: t.textB } : null;
}

/** A history entry's state keeping `texts` (null when the URL has them). */
export function entryState(texts: UrlTexts | null): { exbertTexts: UrlTexts } | null {
  return texts ? { exbertTexts: texts } : null;
}

/** The part of the state in the query string besides the search. */
export type UrlState = Pick<State, (typeof URL_KEYS)[number]>;

/** The URL part of a state. */
export function urlState(s: UrlState): UrlState {
  return Object.fromEntries(URL_KEYS.map((k) => [k, s[k]])) as UrlState;
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

/**
 * A head weight as written in the URL: at most 3 significant digits and 4 decimals, no trailing
 * zeros (1/3 -> "0.333", 0.5 -> "0.5", 12.345 -> "12.3"). Parsing accepts any number.
 */
export function weightText(w: number): string {
  if (!Number.isFinite(w) || w === 0) return String(w);
  const decimals = Math.min(4, Math.max(0, 2 - Math.floor(Math.log10(Math.abs(w)))));
  const r = Number(w.toFixed(decimals));
  // A tiny nonzero weight stays nonzero (one significant digit).
  return String(r !== 0 ? r : Number(w.toPrecision(1)));
}

const params = (query: string) => new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);

/** Encode a state as a query string (without the leading "?"; texts too long for it left out). */
export function encodeState(s: UrlState): string {
  const p = new URLSearchParams();
  if (s.model) p.set("model", s.model);
  if (textsFitUrl(s.text, s.textB)) {
    if (s.text) p.set("text", s.text);
    if (s.textB) p.set("text_b", s.textB);
  }
  if (s.layer !== 0) p.set("layer", String(s.layer));
  if (s.heads) p.set("heads", s.heads.join(","));
  if (s.heads && s.weights) p.set("w", s.weights.map(weightText).join(","));
  if (s.mask.length) p.set("mask", s.mask.join(","));
  if (!s.hideSpecial) p.set("special", "0");
  if (s.threshold !== DEFAULT_THRESHOLD) p.set("th", String(s.threshold));
  if (s.colorByHead) p.set("byhead", "1");
  if (s.hideFirst) p.set("hidefirst", "1");
  encodeLong(p, s.long);
  encodeLens(p, s.lens);
  if (s.compare && compareFitsUrl(s.text, s.textB, s.compare)) {
    p.set("cmp", s.compare.text);
    if (s.compare.textB) p.set("cmpb", s.compare.textB);
    if (s.compare.mask.length) p.set("cmpm", s.compare.mask.join(","));
  }
  return p.toString();
}

/** Whether B's texts fit in the URL with A's (MAX_URL_TEXT_CHARS in all, percent-encoded). */
export function compareFitsUrl(text: string, textB: string, c: Pick<CompareState, "text" | "textB">): boolean {
  if (text.length + textB.length + c.text.length + c.textB.length > MAX_URL_TEXT_CHARS) return false;
  if (!textsFitUrl(text, textB)) return false;
  const n = (k: string, v: string) => new URLSearchParams({ [k]: v }).toString().length - k.length - 1;
  return n("t", text) + n("t", textB) + n("t", c.text) + n("t", c.textB) <= MAX_URL_TEXT_CHARS;
}

/** The lenses' parameters (only those that differ from the defaults). */
function encodeLens(p: URLSearchParams, l: LensState): void {
  const d = defaultLensState();
  if (l.attentionMode !== d.attentionMode) p.set("mode", l.attentionMode);
  if (l.panel !== d.panel && l.panel !== null) p.set("panel", l.panel);
  if (l.detector !== d.detector) p.set("detector", l.detector);
}

function decodeLens(p: URLSearchParams): LensState {
  const l = defaultLensState();
  const mode = ATTENTION_MODES.find((m) => m === p.get("mode"));
  if (mode) l.attentionMode = mode;
  const panel = LENS_PANELS.find((x) => x === p.get("panel"));
  if (panel) l.panel = panel;
  const detector = p.get("detector");
  l.detector = detector && /^[a-z][a-z0-9_]{0,63}$/.test(detector) ? detector : DEFAULT_DETECTOR;
  return l;
}

function decodeCompare(p: URLSearchParams): CompareState | null {
  const text = p.get("cmp");
  return text === null ? null : compareInputs(text, p.get("cmpb") ?? "", intList(p.get("cmpm")) ?? []);
}

/** The document view's parameters (only those that differ from the defaults). */
function encodeLong(p: URLSearchParams, l: LongState): void {
  const d = defaultLongState();
  if (l.start !== d.start || l.stop !== d.stop) p.set("win", `${l.start}-${l.stop}`);
  if (l.token !== null) p.set("tok", String(l.token));
  if (l.direction !== d.direction) p.set("dir", l.direction);
  if (l.stat !== d.stat) p.set("stat", l.stat);
}

function decodeLong(p: URLSearchParams): LongState {
  const l = defaultLongState();
  const win = /^(\d+)-(\d+)$/.exec(p.get("win") ?? "");
  if (win) {
    const [start, stop] = [Number(win[1]), Number(win[2])];
    if (stop > start && stop - start <= MAX_WINDOW_TOKENS) Object.assign(l, { start, stop });
  }
  const tok = Number(p.get("tok") ?? "x");
  if (Number.isInteger(tok) && tok >= 0) l.token = tok;
  if (p.get("dir") === "in") l.direction = "in";
  const stat = p.get("stat");
  if (stat && /^[a-z0-9_]{1,64}$/.test(stat)) l.stat = stat;
  return l;
}

/** Decode a query string (with or without "?"); anything malformed falls back to the default. */
export function decodeState(query: string): UrlState {
  const p = params(query);
  const s = urlState(defaultState());
  s.model = p.get("model") ?? "";
  s.text = p.get("text") ?? "";
  s.textB = p.get("text_b") ?? "";
  const l = Number(p.get("layer") ?? "0");
  s.layer = Number.isInteger(l) && l >= 0 ? l : 0;
  const hs = intList(p.get("heads"));
  s.heads = hs && hs.length ? hs : null;
  const w = numList(p.get("w"));
  // Weights are positional: they only make sense with the same (unsorted-input) selection.
  const rawHeads = (p.get("heads") ?? "").split(",").map(Number);
  const headsAsWritten = s.heads !== null && rawHeads.every((x, k) => x === s.heads![k]);
  s.weights = s.heads && w && headsAsWritten && w.length === s.heads.length ? w : null;
  s.mask = intList(p.get("mask")) ?? [];
  s.hideSpecial = p.get("special") !== "0";
  const th = Number(p.get("th") ?? DEFAULT_THRESHOLD);
  s.threshold = Number.isFinite(th) && th > 0 && th <= 1 ? th : DEFAULT_THRESHOLD;
  s.colorByHead = p.get("byhead") === "1";
  s.hideFirst = p.get("hidefirst") === "1";
  s.long = decodeLong(p);
  s.lens = decodeLens(p);
  s.compare = decodeCompare(p);
  return s;
}

/**
 * The state of a history entry: its query string, with the texts of its state (`history.state`)
 * when the URL has none (a long text kept out of the URL).
 */
export function decodeEntry(query: string, state: unknown): UrlState {
  const s = decodeState(query);
  const t = entryTexts(state);
  if (t && !params(query).has("text") && !params(query).has("text_b")) Object.assign(s, t);
  return s;
}

/**
 * A history entry's state applied to the document on screen (`doc`, null when none): its
 * document view fitted to the document's tokens, so that a hand-edited link or an entry of a
 * longer text never asks for a window or a token past the end.
 */
export function fitEntry(u: UrlState, doc: LongDoc | null): UrlState {
  return doc ? { ...u, long: fitLong(u.long, doc.header.tokens.length) } : u;
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
  const p = params(query);
  const s = defaultSearchState();
  s.corpus = p.get("corpus") ?? "";
  const by = p.get("sby");
  const token = Number(p.get("stok") ?? "x");
  const slayer = p.get("slayer");
  const layer = slayer === "embeddings" ? slayer : Number(slayer ?? "x");
  const layerOk = layer === "embeddings" || (Number.isInteger(layer) && layer >= 0);
  if ((by === "embedding" || by === "context") && Number.isInteger(token) && token >= 0 && layerOk) {
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

/** The store's start from a query string. */
export function readUrl(query: string): Partial<State> {
  return { ...decodeState(query), search: decodeSearchState(query) };
}

/** The query string of a state (without "?"). */
export function urlQuery(s: State): string {
  return [encodeState(s), encodeSearchState(s.search)].filter(Boolean).join("&");
}
