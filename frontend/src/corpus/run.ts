// One corpus search (POST /api/search) shown in the corpus panel: busy state, the caption that
// says what was searched, the status line (layer substitution, no matches, errors).

import { messageOf } from "../api/client";
import type { SearchBy, SearchRequest } from "../api/types";
import { searchCorpus } from "./api";
import type { CorpusPanel } from "./panel";
import { compactList, type LayerChoice } from "./search";

/** A search: the token, the stored layer (block numbering), the heads of a context search. */
export interface Search {
  by: SearchBy;
  token: number;
  layer: number;
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
  panel.setStatus("busy", `Searching \u201c${tokenText}\u201d by ${s.by} at block ${s.layer}\u2026`);
  try {
    const result = await searchCorpus(req, signal);
    if (!current()) return false;
    const viewLayer = s.layer - 1;
    const n = result.matches.length;
    const parts = [
      `${n} nearest token${n === 1 ? "" : "s"} by ${s.by} to \u201c${tokenText}\u201d (#${s.token})`,
      `block ${result.layer}${viewLayer >= 0 ? ` = layer ${viewLayer}` : " (embedding output)"}`,
    ];
    if (s.by === "context") parts.push(req.heads ? `heads ${compactList(req.heads)}` : "all heads");
    if (result.filters?.length) parts.push(`filter ${result.filters.join(", ")}`);
    if (result.seconds !== undefined) parts.push(`${Math.max(1, Math.round(result.seconds * 1000))} ms`);
    panel.showResult(result, parts.join(" \u00b7 "));
    const ch = s.choice;
    if (ch && !ch.exact && ch.layer !== null) {
      panel.setStatus(
        "info",
        `Layer ${ch.viewLayer} of the view is block ${ch.wanted}, which this corpus does not store for search by ${s.by}; searched the nearest stored block, ${ch.layer}.`,
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
