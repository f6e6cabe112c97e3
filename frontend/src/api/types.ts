// The server's JSON shapes under the names the app uses. They are the types generated from the
// server's OpenAPI schema (schema.d.ts, written by `npm run gen:api` from ../docs/openapi.json;
// never edit it by hand). Where the schema is looser than what the server sends (free-form
// objects), the alias adds the fields the app reads; shapes the schema does not describe at all
// are written out below.

import type { components } from "./schema";

type Schemas = components["schemas"];

export type ModelInfo = Schemas["ModelInfo"];
export type ModelKind = ModelInfo["kind"];
export type ErrorBody = Schemas["ErrorOut"];

export type AnalyzeRequest = Schemas["AnalyzeIn"];
export type TokenInfo = Schemas["TokenOut"];
export type Prediction = Schemas["PredictionOut"];
/** The JSON header of an analysis (the EXB1 frame's header, or the JSON form). */
export type AnalysisHeader = Schemas["AnalysisOut"] & { kind: ModelKind };

export type CorpusInfo = Schemas["CorpusInfoOut"] & {
  model: { name: string; kind?: string; layers?: number; heads?: number };
  counts?: { sentences?: number; tokens?: number; words?: number };
  spacy?: { pipeline?: string; lang?: string };
};

export type SearchRequest = Schemas["SearchIn"];
export type SearchBy = SearchRequest["by"];

/** A token of a corpus sentence with its word's annotation (null fields: special tokens). */
export type CorpusToken = Schemas["SearchTokenOut"] & {
  word?: number | null;
  lemma?: string | null;
  tag?: string | null;
  head?: number | null;
  head_token?: number | null;
  ent_iob?: string | null;
  is_stop?: boolean | null;
  is_punct?: boolean | null;
};

/** Where a match attends most (`out`) and what attends most to it (`in`): token positions. */
export interface MaxAttention {
  out: number;
  out_weight: number;
  in: number;
  in_weight: number;
}

export type SearchMatch = Schemas["MatchOut"] & {
  tokens: CorpusToken[];
  max_attention: MaxAttention | null;
};

/** A cell of the colour summary: the token at `offset` from the match. */
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
}

export type SearchResult = Schemas["SearchOut"] & {
  by: SearchBy;
  heads: number[] | null;
  matches: SearchMatch[];
  summary: SearchSummary;
  filters?: string[];
  attention_heads?: number[] | null;
  /** Whether max attention counted special tokens (by default they are skipped). */
  special_attention?: boolean;
  max_attention_unavailable?: string | null;
  seconds?: number;
};

// GET /api/corpora/{name}/heads (the schema leaves its answer undescribed).

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
