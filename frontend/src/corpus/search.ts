// What a corpus search uses (no DOM): the corpora of a model, the stored layer nearest to the
// view's layer, the filters as the API wants them, and how corpora and head lists are written.

import type { CorpusInfo, SearchBy, SearchRequest } from "../api/types";

/**
 * A layer as every part of exbert numbers it (docs/API.md): transformers' 0-based layer i (its
 * attention is `attentions[i]`, the attention view's layer i), or "embeddings" (the embedding
 * output, which has no attention).
 */
export type SearchLayer = SearchRequest["layer"];

/** The numbering in one sentence, for notes and tooltips. */
export const LAYER_NOTE =
  "Layers are 0-based transformer layers as in transformers (layer i = attentions[i]), the same numbers as the attention view and the CLI; “embeddings” is the embedding output.";

/** "layer 3" or "embeddings". */
export function layerName(layer: SearchLayer): string {
  return layer === "embeddings" ? "embeddings" : `layer ${layer}`;
}

/** Position of a layer on one axis: the embeddings come just before layer 0. */
function depth(layer: SearchLayer): number {
  return layer === "embeddings" ? -1 : layer;
}

/** The corpora built for a model (by name; the server checks the rest). */
export function corporaForModel(corpora: readonly CorpusInfo[], model: string): CorpusInfo[] {
  return corpora.filter((c) => c.model?.name === model);
}

export interface LayerChoice {
  /** The attention view's layer (0-based), the layer the search wants. */
  wanted: number;
  /** The stored layer to search: `wanted` when stored, else the nearest stored; null: none. */
  layer: SearchLayer | null;
  /** Whether `layer` is `wanted`. */
  exact: boolean;
}

/**
 * The layer to search from the attention view's layer `viewLayer`: the same layer (one
 * numbering, docs/API.md), or the nearest layer the corpus stores (the embeddings count as
 * the layer before 0; ties: the lower one).
 */
export function searchLayer(viewLayer: number, stored: readonly SearchLayer[]): LayerChoice {
  let best: SearchLayer | null = null;
  for (const l of stored) {
    if (best === null) best = l;
    else {
      const d = Math.abs(depth(l) - viewLayer);
      const bd = Math.abs(depth(best) - viewLayer);
      if (d < bd || (d === bd && depth(l) < depth(best))) best = l;
    }
  }
  return { wanted: viewLayer, layer: best, exact: best === viewLayer };
}

/** The layers a corpus stores for a kind of search. */
export function storedLayers(info: Pick<CorpusInfo, "layers" | "context_layers">, by: SearchBy): SearchLayer[] {
  return [...((by === "embedding" ? info.layers : info.context_layers) ?? [])];
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

/** A corpus in one line: sentences, tokens, spaCy pipeline, index kind. */
export function describeCorpus(c: CorpusInfo): string {
  const parts: string[] = [];
  const n = c.counts;
  if (n?.sentences !== undefined) parts.push(`${n.sentences.toLocaleString("en")} sentences`);
  if (n?.tokens !== undefined) parts.push(`${n.tokens.toLocaleString("en")} tokens`);
  if (c.spacy?.pipeline) parts.push(String(c.spacy.pipeline));
  if (c.approximate) parts.push("approximate index");
  return parts.join(" \u00b7 ");
}

/** "0-3, 7, 9-11" */
export function compactList(xs: readonly number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(j > i + 1 ? `${s[i]}\u2013${s[j]}` : j === i + 1 ? `${s[i]}, ${s[j]}` : `${s[i]}`);
    i = j + 1;
  }
  return out.join(", ");
}
