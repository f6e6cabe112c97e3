// One corpus search (POST /api/search) shown in the corpus panel: busy state, the caption that
// says what was searched, the status line (layer substitution, no matches, errors).

import { messageOf } from "../api/client";
import type { SearchBy, SearchRequest } from "../api/types";
import { searchCorpus } from "./api";
import type { CorpusPanel } from "./panel";
import { compactList, layerName, type LayerChoice, type SearchLayer } from "./search";

/** A search: the token, the stored layer (0-based or "embeddings"), the heads of a context search. */
export interface Search {
  by: SearchBy;
  token: number;
  layer: SearchLayer;
  heads: number[] | null;
  /** How `layer` was chosen from the view's layer (null: restored from the URL). */
  choice: LayerChoice | null;
}

/**
 * Run `req` and show its result in `panel`. `current()` says whether this search is still the
 * latest one (a newer one replaces it). Returns whether its result is shown.
 */
export async function runSearch(
  panel: CorpusPanel,
  req: SearchRequest,
  s: Search,
  tokenText: string,
  signal: AbortSignal,
  current: () => boolean,
): Promise<boolean> {
  panel.setBusy(true);
  panel.setStatus("busy", `Searching \u201c${tokenText}\u201d by ${s.by} at ${layerName(s.layer)}\u2026`);
  try {
    const result = await searchCorpus(req, signal);
    if (!current()) return false;
    const n = result.matches.length;
    const parts = [
      `${n} nearest token${n === 1 ? "" : "s"} by ${s.by} to \u201c${tokenText}\u201d (#${s.token})`,
      result.layer === "embeddings" ? "embeddings (the embedding output)" : layerName(result.layer),
    ];
    if (s.by === "context") parts.push(req.heads ? `heads ${compactList(req.heads)}` : "all heads");
    if (result.filters?.length) parts.push(`filter ${result.filters.join(", ")}`);
    if (result.seconds !== undefined) parts.push(`${Math.max(1, Math.round(result.seconds * 1000))} ms`);
    panel.showResult(result, parts.join(" \u00b7 "));
    const ch = s.choice;
    if (ch && !ch.exact && ch.layer !== null) {
      panel.setStatus(
        "info",
        `This corpus does not store layer ${ch.wanted} (the view's layer) for search by ${s.by}; searched the nearest stored layer, ${ch.layer === "embeddings" ? "the embeddings" : ch.layer}.`,
      );
    } else if (!n) {
      panel.setStatus("info", "No matches" + (req.filters ? " with these filters." : "."));
    } else {
      panel.setStatus(null);
    }
    return true;
  } catch (err) {
    if ((err as Error)?.name !== "AbortError" && current()) panel.setStatus("error", messageOf(err));
    return false;
  } finally {
    if (current()) panel.setBusy(false);
  }
}
