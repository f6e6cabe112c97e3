// What a corpus search uses (no DOM): the corpora of a model, the stored layer nearest to the
// view's layer, the filters as the API wants them, and how corpora and head lists are written.

import type { CorpusInfo, SearchBy } from "../api/types";

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
