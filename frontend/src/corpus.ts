// Corpus search: the server's JSON shapes (docs/API.md, "Corpora and search") and the pure logic
// behind the corpus views: which corpora fit a model, which stored layer a search uses, the
// labels and colours of the colour summary, and the histograms' bars. No DOM here.

export type SearchBy = "embedding" | "context";
/** The annotation the colour summary and the histograms show. */
export type SummaryField = "pos" | "dep" | "ent";
export const SUMMARY_FIELDS: readonly SummaryField[] = ["pos", "dep", "ent"];
export const FIELD_NAMES: Record<SummaryField, string> = { pos: "POS", dep: "DEP", ent: "Entity" };
/** The key of each field in a token's metadata. */
export const FIELD_KEY: Record<SummaryField, "pos" | "dep" | "ent_type"> = {
  pos: "pos",
  dep: "dep",
  ent: "ent_type",
};

export interface CorpusInfo {
  name: string;
  /** Stored hidden states (embedding search), block numbering 0..L. */
  layers: number[];
  /** Stored per-head contexts and attention (context search), blocks 1..L. */
  context_layers: number[];
  approximate?: boolean;
  model: { name: string; kind?: string; layers?: number; heads?: number; [k: string]: unknown };
  counts?: { sentences?: number; tokens?: number; words?: number; [k: string]: unknown };
  spacy?: { pipeline?: string; lang?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A token of a corpus sentence with its word's annotation (null fields: special tokens). */
export interface CorpusToken {
  text: string;
  start: number;
  end: number;
  special: boolean;
  word?: number | null;
  lemma?: string | null;
  pos: string | null;
  tag?: string | null;
  dep: string | null;
  head?: number | null;
  head_token?: number | null;
  ent_type: string | null;
  ent_iob?: string | null;
  is_stop?: boolean | null;
  is_punct?: boolean | null;
}

export interface MaxAttention {
  out: number;
  out_weight: number;
  in: number;
  in_weight: number;
}

export interface SearchMatch {
  rank: number;
  score: number;
  sentence_id: number;
  position: number;
  text: string;
  tokens: CorpusToken[];
  max_attention: MaxAttention | null;
  token_id?: number;
}

export interface SummaryCell {
  offset: number;
  position: number;
  text: string;
  special: boolean;
  pos: string | null;
  dep: string | null;
  ent_type: string | null;
}

export interface SearchSummary {
  window: number;
  offsets: number[];
  rows: (SummaryCell | null)[][];
  histograms?: unknown;
}

export interface SearchResult {
  corpus: string;
  model: string;
  by: SearchBy;
  layer: number;
  heads: number[] | null;
  k: number;
  filters?: string[];
  attention_heads?: number[] | null;
  /** Whether max attention counted special tokens (by default they are skipped). */
  special_attention?: boolean;
  max_attention_unavailable?: string | null;
  seconds?: number;
  query?: { text: string; text_b: string | null; token: number; token_text: string };
  matches: SearchMatch[];
  summary: SearchSummary;
}

export interface SearchRequest {
  model: string;
  corpus: string;
  text: string;
  text_b: string | null;
  mask: number[];
  token: number;
  layer: number;
  by: SearchBy;
  heads: number[] | null;
  k: number;
  filters: Record<string, string> | null;
  window: number;
  /** Count special tokens in max attention: the view shows them (special toggle off). */
  special_attention: boolean;
}

export interface HeadRelation {
  description?: string;
  label?: string;
  /** Tokens for which the relation exists (the denominator of the scores). */
  eligible?: number;
  /** scores[k][h]: layer `layers[k]` (block numbering), head h; a fraction 0..1. */
  scores: number[][];
  counts?: number[][];
  top?: { layer: number; head: number; score: number; count?: number }[];
}

export interface HeadRanking {
  /** Stored attention layers, block numbering (the attention view's layer is block - 1). */
  layers: number[];
  heads: number;
  relations: Record<string, HeadRelation>;
}

/** The corpora built for a model (by name; the server checks the rest). */
export function corporaForModel(corpora: readonly CorpusInfo[], model: string): CorpusInfo[] {
  return corpora.filter((c) => c.model?.name === model);
}

export interface LayerChoice {
  /** The attention view's layer (0-based). */
  viewLayer: number;
  /** The block the view's layer is (viewLayer + 1). */
  wanted: number;
  /** The stored layer to search: `wanted` when stored, else the nearest stored; null: none. */
  layer: number | null;
  /** Whether `layer` is `wanted`. */
  exact: boolean;
}

/**
 * The layer to search from the attention view's layer `viewLayer`: block `viewLayer + 1`
 * (docs/API.md), or the nearest layer the corpus stores (ties: the lower one).
 */
export function searchLayer(viewLayer: number, stored: readonly number[]): LayerChoice {
  const wanted = viewLayer + 1;
  let best: number | null = null;
  for (const l of stored) {
    if (best === null) best = l;
    else {
      const d = Math.abs(l - wanted);
      const bd = Math.abs(best - wanted);
      if (d < bd || (d === bd && l < best)) best = l;
    }
  }
  return { viewLayer, wanted, layer: best, exact: best === wanted };
}

/** The layers a corpus stores for a kind of search. */
export function storedLayers(info: Pick<CorpusInfo, "layers" | "context_layers">, by: SearchBy): number[] {
  return [...((by === "embedding" ? info.layers : info.context_layers) ?? [])];
}

/** Label of special tokens ([CLS], [SEP], <s>, ...) in the summary and the histograms. */
export const SPECIAL = "(special)";
/** Label of tokens without that annotation (no entity; whitespace tokens). */
export const NONE = "(none)";
/** Bars beyond a histogram's top labels, summed. */
export const OTHER = "(other)";

type Annotated = Pick<CorpusToken, "special" | "pos" | "dep" | "ent_type">;

/** A token's label for a field: its annotation, or SPECIAL / NONE. */
export function tokenLabel(t: Annotated | null | undefined, field: SummaryField): string | null {
  if (!t) return null;
  if (t.special) return SPECIAL;
  const v = t[FIELD_KEY[field]];
  return v ? v : NONE;
}

// Tableau 20: ten strong colours, then their light partners.
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#499894", "#b6992d", "#d37295", "#9d7660",
  "#79706e", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#8cd17d", "#d4a6c8", "#86bcb6", "#f1ce63", "#fabfd2",
  "#d7b5a6", "#bab0ac",
] as const;
export const SPECIAL_COLOR = "#e5e7eb";
export const NONE_COLOR = "#f6f7f9";
export const OTHER_COLOR = "#c3c9d3";

/** Universal POS tags: related tags share a hue (NOUN/PROPN, VERB/AUX, ...). */
const POS_COLORS: Record<string, string> = {
  NOUN: "#4e79a7",
  PROPN: "#a0cbe8",
  VERB: "#e15759",
  AUX: "#ff9d9a",
  ADJ: "#59a14f",
  ADV: "#8cd17d",
  ADP: "#f28e2b",
  DET: "#ffbe7d",
  PRON: "#b07aa1",
  NUM: "#d4a6c8",
  CCONJ: "#499894",
  SCONJ: "#86bcb6",
  PART: "#b6992d",
  PUNCT: "#bab0ac",
  SYM: "#9d7660",
  INTJ: "#d37295",
  X: "#d7b5a6",
  SPACE: "#dfe3ea",
};

/** OntoNotes entity types (spaCy's English pipelines) and the PER/LOC/ORG/MISC of others. */
const ENT_COLORS: Record<string, string> = {
  PERSON: "#4e79a7",
  PER: "#4e79a7",
  NORP: "#a0cbe8",
  FAC: "#9d7660",
  ORG: "#f28e2b",
  GPE: "#59a14f",
  LOC: "#8cd17d",
  PRODUCT: "#b6992d",
  EVENT: "#e15759",
  WORK_OF_ART: "#d37295",
  LAW: "#79706e",
  LANGUAGE: "#86bcb6",
  DATE: "#b07aa1",
  TIME: "#d4a6c8",
  PERCENT: "#f1ce63",
  MONEY: "#ffbe7d",
  QUANTITY: "#499894",
  ORDINAL: "#fabfd2",
  CARDINAL: "#ff9d9a",
  MISC: "#bab0ac",
};

export type Counts = Map<string, number>;

/** Add one to a label's count (null: nothing). */
export function bump(counts: Counts, label: string | null, by = 1): Counts {
  if (label !== null) counts.set(label, (counts.get(label) ?? 0) + by);
  return counts;
}

/** Labels by count (descending), then by name. */
export function byFrequency(counts: Counts): string[] {
  return [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A colour for each label: special tokens grey, missing annotations near-white, known POS and
 * entity labels their fixed colour (the same in every search); the rest (dependency labels,
 * other tag sets) take the palette's unused colours in order of frequency, so that the most
 * frequent labels of one figure get distinct colours, and OTHER_COLOR once the palette is used.
 */
export function assignColors(field: SummaryField, counts: Counts): Map<string, string> {
  const fixed = field === "pos" ? POS_COLORS : field === "ent" ? ENT_COLORS : {};
  const out = new Map<string, string>();
  const used = new Set<string>();
  const rest: string[] = [];
  for (const label of byFrequency(counts)) {
    if (label === SPECIAL) out.set(label, SPECIAL_COLOR);
    else if (label === NONE) out.set(label, NONE_COLOR);
    else if (label === OTHER) out.set(label, OTHER_COLOR);
    else if (Object.prototype.hasOwnProperty.call(fixed, label)) {
      out.set(label, fixed[label]);
      used.add(fixed[label]);
    } else rest.push(label);
  }
  const free = PALETTE.filter((c) => !used.has(c));
  rest.forEach((label, k) => out.set(label, k < free.length ? free[k] : OTHER_COLOR));
  return out;
}

/** Dark or white text, whichever reads better on `bg` (#rrggbb). */
export function textColor(bg: string): string {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(bg);
  if (!m) return "#1c2433";
  const lin = (h: string) => {
    const c = parseInt(h, 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  // contrast against white (1.05) vs against the ink (lum of #1c2433 ~ 0.017)
  return (1.05 / (lum + 0.05) >= (lum + 0.05) / 0.067 ? "#ffffff" : "#1c2433");
}

export type HistogramOf = "matched" | "max_attention";

/** The token a histogram counts for a match: the matched one, or its max-attention (outward). */
export function histogramToken(m: SearchMatch, of: HistogramOf): CorpusToken | null {
  if (of === "matched") return m.tokens[m.position] ?? null;
  const out = m.max_attention?.out;
  return out === undefined || out === null ? null : (m.tokens[out] ?? null);
}

export interface Bar {
  label: string;
  count: number;
}

/** Label counts of a histogram over the matches. */
export function histogramCounts(matches: readonly SearchMatch[], of: HistogramOf, field: SummaryField): Counts {
  const counts: Counts = new Map();
  for (const m of matches) bump(counts, tokenLabel(histogramToken(m, of), field));
  return counts;
}

/**
 * A histogram's bars: labels by frequency; beyond `top` labels the rest are summed into one
 * OTHER bar (so that a long tail of rare labels stays readable).
 */
export function histogramBars(counts: Counts, top = 12): Bar[] {
  const labels = byFrequency(counts);
  const bars = labels.map((label) => ({ label, count: counts.get(label)! }));
  if (bars.length <= top) return bars;
  const kept = bars.slice(0, top - 1);
  const rest = bars.slice(top - 1).reduce((s, b) => s + b.count, 0);
  return [...kept, { label: OTHER, count: rest }];
}

/** Label counts over the colour summary's cells (all offsets). */
export function summaryCounts(rows: readonly (readonly (SummaryCell | null)[])[], field: SummaryField): Counts {
  const counts: Counts = new Map();
  for (const row of rows) for (const c of row) bump(counts, tokenLabel(c, field));
  return counts;
}

/**
 * The colours of one search result for a field, shared by the colour summary and both
 * histograms: assigned from the labels of all three (summary cells first, by frequency).
 */
export function resultColors(result: Pick<SearchResult, "matches" | "summary">, field: SummaryField): Map<string, string> {
  const counts = summaryCounts(result.summary?.rows ?? [], field);
  for (const of of ["matched", "max_attention"] as const) {
    for (const [label, n] of histogramCounts(result.matches, of, field)) if (!counts.has(label)) counts.set(label, n);
  }
  return assignColors(field, counts);
}

/** Filter inputs (POS, DEP, entity: "" = any; comma-separated alternatives) as the API's filters. */
export function searchFilters(f: { pos?: string; dep?: string; ent?: string }): Record<string, string> | null {
  const out: Record<string, string> = {};
  const put = (key: string, v: string | undefined) => {
    const s = (v ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)
      .join(",");
    if (s) out[key] = s;
  };
  put("pos", f.pos);
  put("dep", f.dep);
  put("ent_type", f.ent);
  return Object.keys(out).length ? out : null;
}

/** A token's metadata, one "name: value" line each, for its tooltip (special tokens: one line). */
export function tokenMeta(t: CorpusToken, tokens?: readonly CorpusToken[]): [string, string][] {
  if (t.special) return [["", "special token"]];
  const rows: [string, string][] = [];
  const add = (k: string, v: string | null | undefined) => {
    if (v !== null && v !== undefined && v !== "") rows.push([k, v]);
  };
  add("POS", t.pos && t.tag ? `${t.pos} (${t.tag})` : (t.pos ?? t.tag));
  let dep = t.dep ?? null;
  const head = t.head_token !== null && t.head_token !== undefined && tokens ? tokens[t.head_token] : null;
  if (dep && head && t.dep !== "ROOT") dep += ` \u2192 ${head.text}`;
  add("DEP", dep);
  add("Lemma", t.lemma);
  add("Entity", t.ent_type ? `${t.ent_type}${t.ent_iob ? ` (${t.ent_iob})` : ""}` : t.pos ? "\u2014" : null);
  const flags = [t.is_stop ? "stop word" : "", t.is_punct ? "punctuation" : ""].filter(Boolean).join(", ");
  add("Flags", flags);
  if (!rows.length) rows.push(["", "no annotation"]);
  return rows;
}
