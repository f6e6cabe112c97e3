// The notebook widget's corpus search: buttons that ask the kernel to search the pinned token's
// neighbours, a table of the matches in context, and the app's figures (colour summary and
// histograms) when the result carries them.

import type { CorpusToken, SearchBy, SearchMatch, SearchResult } from "../../api/types";
import { displayToken } from "../../attention/view";
import { SearchFigures } from "../../corpus/figures";
import { LAYER_NOTE, layerName, type SearchLayer } from "../../corpus/search";
import { h } from "../../dom";

/** The kernel's `search_result` trait (exbert.search's SearchResult.to_dict()), as far as read. */
export interface WidgetSearchResult {
  by: string;
  /** The layer searched: 0-based as the view's (and the histogram's) layer, or "embeddings". */
  layer?: SearchLayer;
  matches: (Pick<SearchMatch, "rank" | "score" | "text" | "position"> & { tokens: Partial<CorpusToken>[] })[];
  query?: { token: number; text: string; layer?: SearchLayer };
}

const cut = (s: string, n: number, left: boolean) =>
  s.length <= n ? s : left ? "\u2026" + s.slice(-(n - 1)) : s.slice(0, n - 1) + "\u2026";

export class WidgetSearchPanel {
  readonly el: HTMLDivElement;
  private readonly info: HTMLSpanElement;
  private readonly buttons: HTMLButtonElement[];
  private readonly results: HTMLDivElement;
  private readonly figuresEl: HTMLDivElement;
  private readonly figures: SearchFigures;
  private pinned: number | null = null;

  constructor(onSearch: (token: number, by: SearchBy) => void) {
    this.info = h("span", { class: "corpus-info" });
    const button = (by: SearchBy, title: string) => {
      const b = h("button", { type: "button", "data-testid": `corpus-search-${by}`, title }, `Search by ${by}`);
      b.addEventListener("click", () => {
        if (this.pinned === null) return;
        this.results.replaceChildren("Searching\u2026");
        onSearch(this.pinned, by);
      });
      return b;
    };
    this.buttons = [
      button("embedding", "Corpus tokens whose output of this layer is nearest to the pinned token's"),
      button("context", "Corpus tokens whose per-head contexts (selected heads) at this layer are nearest"),
    ];
    this.results = h("div", { class: "corpus-results", "data-testid": "corpus-results" });
    // The app's colour summary and histograms, below the table.
    const switchIn = h("div");
    const summaryIn = h("div", { class: "cp-card cp-summary" });
    const matchedIn = h("div", { class: "cp-card" });
    const maxIn = h("div", { class: "cp-card" });
    const grid = h("div", { class: "corpus-figures-grid" }, summaryIn, matchedIn, maxIn);
    this.figuresEl = h("div", { class: "corpus-figures", hidden: true }, switchIn, grid);
    this.el = h(
      "div",
      { class: "corpus-panel", "data-testid": "corpus-panel" },
      h("div", { class: "corpus-bar" }, this.info, ...this.buttons),
      this.results,
      this.figuresEl,
    );
    this.figures = new SearchFigures({ switchIn, summaryIn, matchedIn, maxIn });
  }

  /** The corpus ("" hides the panel) and the pinned token (index and text). */
  update(corpus: string, pinned: number | null, tokenText: string | null): void {
    this.pinned = pinned;
    this.el.hidden = !corpus;
    for (const b of this.buttons) b.disabled = pinned === null;
    this.info.textContent =
      pinned !== null
        ? `Corpus \u201c${corpus}\u201d \u00b7 token #${pinned} \u201c${tokenText ?? ""}\u201d`
        : `Corpus \u201c${corpus}\u201d \u00b7 click a token to pin it, then search its neighbours`;
  }

  showResult(r: WidgetSearchResult | null): void {
    if (!r) {
      this.results.replaceChildren();
      this.figuresEl.hidden = true;
      this.figures.clear();
      return;
    }
    const q = r.query;
    // One layer numbering: the caption names the layer the result was searched at, as the
    // max-attention histogram does.
    const layer = r.layer ?? q?.layer;
    const caption = h(
      "div",
      { class: "corpus-caption", "data-testid": "corpus-caption", title: LAYER_NOTE },
      `${r.matches.length} nearest by ${r.by}` +
        (q ? ` to \u201c${displayToken(q.text, 30)}\u201d (#${q.token})` : "") +
        (layer !== undefined ? ` at ${layerName(layer)}` : ""),
    );
    const table = h("table");
    for (const m of r.matches) {
      const tok = m.tokens[m.position];
      const start = tok?.start ?? 0;
      const end = tok?.end ?? 0;
      const cell = (cls: string, text: string) => h("td", { class: cls }, text);
      table.append(
        h(
          "tr",
          { "data-testid": `corpus-match-${m.rank}` },
          cell("c-rank", String(m.rank + 1)),
          cell("c-score", m.score.toFixed(3)),
          cell("c-left", cut(m.text.slice(0, start), 48, true)),
          cell("c-match", m.text.slice(start, end)),
          cell("c-right", cut(m.text.slice(end), 48, false)),
          cell("c-tag", [tok?.pos, tok?.dep].filter(Boolean).join(" \u00b7 ")),
        ),
      );
    }
    this.results.replaceChildren(caption, table);
    const full = r as unknown as SearchResult;
    const hasFigures = Boolean(full.summary?.rows && r.matches.length && r.matches.every((m) => Array.isArray(m.tokens)));
    this.figuresEl.hidden = !hasFigures;
    if (hasFigures) this.figures.show(full);
    else this.figures.clear();
  }
}
