// The colours of the corpus figures (no DOM): fixed per POS tag and entity type, the palette in
// order of frequency for other labels, shared by the colour summary and both histograms.

import type { SearchResult } from "../api/types";
import { byFrequency, histogramCounts, NONE, OTHER, SPECIAL, summaryCounts, type Counts, type SummaryField } from "./labels";

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
