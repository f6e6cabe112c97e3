// The labels behind the corpus figures (no DOM): a token's POS / DEP / entity label, label
// counts of the colour summary and the histograms, a token's annotation for its tooltip.

import type { CorpusToken, SearchMatch, SummaryCell } from "../api/types";

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

/** A document's metadata (the .jsonl / Parquet fields besides the text), one row each. */
export type DocumentMeta = Record<string, string | number | boolean>;

/** Rows for a tooltip: "doc.name: value" per metadata field, in the document's order. */
export function documentMeta(doc: DocumentMeta | null | undefined): [string, string][] {
  if (!doc) return [];
  return Object.entries(doc).map(([k, v]) => {
    const text = String(v);
    return [`doc.${k}`, text.length > 120 ? `${text.slice(0, 119)}\u2026` : text];
  });
}

/** The filter inputs of the panel and the corpus label field each one offers. */
export const FILTER_LABELS = { pos: "pos", dep: "dep", ent: "ent_type" } as const;

/**
 * The labels a corpus offers for each filter input: those its own spaCy pipeline gave (the
 * corpus info's `labels`, e.g. French dependency labels for a French corpus), never a fixed
 * English list. Empty when the corpus (or the server) does not say.
 */
export function filterOptions(labels: Record<string, string[]> | null | undefined): Record<keyof typeof FILTER_LABELS, string[]> {
  const of = (field: string) => [...(labels?.[field] ?? [])].filter(Boolean);
  return { pos: of(FILTER_LABELS.pos), dep: of(FILTER_LABELS.dep), ent: of(FILTER_LABELS.ent) };
}
