// The server's JSON shapes under the names the app uses: aliases of the types generated from
// the server's OpenAPI schema (schema.d.ts, written by `npm run gen:api` from
// ../docs/openapi.json; never edit it by hand). Nothing here is written out by hand.

import type { components } from "./schema";

type Schemas = components["schemas"];

export type ModelInfo = Schemas["ModelInfo"];
export type ModelKind = ModelInfo["kind"];
export type ErrorBody = Schemas["ErrorOut"];

export type AnalyzeRequest = Schemas["AnalyzeIn"];
export type TokenInfo = Schemas["TokenOut"];
export type Prediction = Schemas["PredictionOut"];
/** The JSON header of an analysis (the EXB1 frame's header, or the JSON form). */
export type AnalysisHeader = Schemas["AnalysisOut"];

export type CorpusInfo = Schemas["CorpusInfoOut"];

export type SearchRequest = Schemas["SearchIn"];
export type SearchBy = SearchRequest["by"];

/** A token of a corpus sentence with its word's annotation (null fields: special tokens). */
export type CorpusToken = Schemas["SearchTokenOut"];
/** Where a match attends most (`out`) and what attends most to it (`in`): token positions. */
export type MaxAttention = Schemas["MaxAttentionOut"];
export type SearchMatch = Schemas["MatchOut"];
/** A cell of the colour summary: the token at `offset` from the match. */
export type SummaryCell = Schemas["SummaryCellOut"];
export type SearchSummary = Schemas["SummaryOut"];
export type SearchResult = Schemas["SearchOut"];

/** GET /api/corpora/{name}/heads: per relation, scores[k][h] for layer `layers[k]` (block
 * numbering; the attention view's layer is block - 1) and head h, a fraction 0..1. */
export type HeadRanking = Schemas["HeadRankingOut"];
export type HeadRelation = Schemas["RelationOut"];

/** GET /api/analyses/{id}/lens: the logit lens of a kept analysis (Python LogitLens.to_dict()):
 * top[l][i] the top-k at hidden state l (0 = embeddings, last = the model's output), column i. */
export type LogitLensData = Schemas["LogitLensOut"];
/** One prediction of a lens cell (token, prob, token_id). */
export type LensPrediction = Schemas["PredictionOut"];
/** GET /api/analyses/{id}/head-scores: scores[name][layer][head] in 0..1, null where the
 * detector's pattern applies to no token. */
export type HeadScoresData = Schemas["HeadScoresOut"];
/** POST /api/induction-probe: the body, and the text to analyse (random tokens twice). */
export type InductionProbeRequest = Schemas["InductionProbeIn"];
export type InductionProbeResult = Schemas["InductionProbeOut"];
