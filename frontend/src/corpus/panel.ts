// The app's corpus panel: corpus picker, filters and search buttons for the selected token, then
// the results (sentences), the figures (colour summary, histograms) and head discovery. A view:
// it knows nothing of the server, the store or the URL; the corpus controller (controller.ts)
// feeds it and hears about the user's actions.

import type { CorpusInfo, SearchBy, SearchResult } from "../api/types";
import { h } from "../dom";
import type { SearchFilterState } from "../store";
import { SearchFigures } from "./figures";
import { HeadRankingView } from "./headRanking";
import { InfoTooltip } from "./infoTooltip";
import { filterOptions, type SummaryField } from "./labels";
import { ResultsView } from "./results";
import { describeCorpus } from "./search";

export interface CorpusPanelEvents {
  onCorpus?(name: string): void;
  onSearch?(by: SearchBy): void;
  onField?(field: SummaryField): void;
  onFilters?(filters: SearchFilterState): void;
  onRelation?(relation: string): void;
  /** A head-ranking cell: the attention view's layer and the head. */
  onHead?(layer: number, head: number): void;
}

let uid = 0;

export type StatusKind = "info" | "hint" | "busy" | "error";

const STATUS_TESTID: Record<StatusKind, string> = {
  info: "corpus-message",
  hint: "corpus-hint",
  busy: "corpus-loading",
  error: "corpus-error",
};

export class CorpusPanel {
  readonly el: HTMLElement;
  readonly heads: HeadRankingView;
  private readonly select: HTMLSelectElement;
  private readonly info: HTMLSpanElement;
  private readonly filterInputs: Record<keyof SearchFilterState, HTMLInputElement>;
  /** The suggestions of each filter input: the selected corpus's own labels. */
  private readonly filterLists: Record<keyof SearchFilterState, HTMLDataListElement>;
  private readonly searchButtons: HTMLButtonElement[];
  private readonly query: HTMLDivElement;
  private readonly queryRow: HTMLDivElement;
  private readonly pick: HTMLLabelElement;
  private readonly filters: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly resultArea: HTMLDivElement;
  private readonly captionText: HTMLSpanElement;
  private readonly results: ResultsView;
  private readonly figures: SearchFigures;
  private result: SearchResult | null = null;
  /** A search error replaced the result on screen (the filters still re-run the search). */
  private failed = false;

  constructor(container: HTMLElement, private readonly events: CorpusPanelEvents = {}) {
    const id = ++uid;
    this.el = h("section", { class: "corpus-section", "data-testid": "corpus-section", "aria-label": "Corpus" });

    // Bar: title, picker, info, filters.
    this.select = h("select", { "data-testid": "corpus-select", "aria-label": "Corpus" });
    this.select.addEventListener("change", () => this.events.onCorpus?.(this.select.value));
    this.pick = h("label", { class: "ctl" }, this.select);
    this.info = h("span", { class: "cp-info", "data-testid": "corpus-info" });
    this.filters = h("div", { class: "cp-filters" }, h("span", { class: "ctl-name" }, "Filter"));
    const lists: Partial<Record<keyof SearchFilterState, HTMLDataListElement>> = {};
    const filterInput = (key: keyof SearchFilterState, placeholder: string, title: string) => {
      const list = h("datalist", { id: `exbert-${key}-values-${id}`, "data-testid": `filter-${key}-values` });
      lists[key] = list;
      const input = h("input", {
        type: "text",
        placeholder,
        title,
        spellcheck: "false",
        autocomplete: "off",
        "data-testid": `filter-${key}`,
        "aria-label": `Filter: ${placeholder}`,
        list: list.id,
      });
      input.addEventListener("change", () => this.events.onFilters?.(this.getFilters()));
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") this.events.onFilters?.(this.getFilters());
      });
      this.filters.append(input, list);
      return input;
    };
    this.filterInputs = {
      pos: filterInput("pos", "POS", "Only matches with this part of speech (any case; comma-separated alternatives), e.g. NOUN or verb,aux"),
      dep: filterInput("dep", "DEP", "Only matches with this dependency label (the corpus's own labels), e.g. nsubj"),
      ent: filterInput("ent", "Entity", "Only matches inside this entity type, e.g. PERSON"),
    };
    this.filterLists = lists as Record<keyof SearchFilterState, HTMLDataListElement>;
    const bar = h("div", { class: "cp-bar" }, h("span", { class: "cp-title" }, "Corpus"), this.pick, this.info, this.filters);

    // The selected token and the search buttons.
    const searchButton = (by: SearchBy, cls: string, title: string) => {
      const b = h("button", { type: "button", class: cls, "data-testid": `search-${by}-button`, title }, `Search by ${by}`);
      b.addEventListener("click", () => this.events.onSearch?.(by));
      return b;
    };
    this.searchButtons = [
      searchButton("embedding", "primary", "Corpus tokens whose hidden state at this layer is nearest (cosine) to the selected token's"),
      searchButton("context", "primary alt", "Corpus tokens whose per-head contexts at this layer, for the selected heads, are nearest"),
    ];
    this.query = h("div", { class: "cp-query", "data-testid": "corpus-query" });
    this.queryRow = h("div", { class: "cp-query-row" }, this.query, h("div", { class: "ctl-group cp-buttons" }, ...this.searchButtons));
    this.note = h("div", { class: "cp-note", "data-testid": "corpus-note", hidden: true });
    this.status = h("div", { class: "cp-status", "aria-live": "polite", hidden: true });

    // Results area: caption with the colour switch; results | summary; histograms.
    this.captionText = h("span", { class: "cp-caption-text", "data-testid": "search-caption" });
    const switchIn = h("div", { class: "cp-switch" });
    const tooltip = new InfoTooltip(this.el, "token-meta-tooltip");
    const listWrap = h("div", { class: "cp-list-wrap" });
    const key = h(
      "span",
      { class: "cp-key" },
      h("span", { class: "ctok matched" }, "match"),
      " ",
      h("span", { class: "ctok maxatt" }, "its max attention"),
    );
    const leftHead = h(
      "div",
      { class: "cp-sec-head" },
      h("span", { class: "cp-sec-title" }, "Matches"),
      h("span", { class: "cp-sec-note" }, "hover a token for its annotation \u00b7 ", key),
    );
    const left = h("div", { class: "cp-card cp-results" }, leftHead, listWrap);
    this.results = new ResultsView(listWrap, tooltip);
    const right = h("div", { class: "cp-card cp-summary" });
    const [h1, h2] = [h("div", { class: "cp-card" }), h("div", { class: "cp-card" })];
    this.figures = new SearchFigures(
      { switchIn, summaryIn: right, matchedIn: h1, maxIn: h2 },
      { onField: (f) => this.events.onField?.(f) },
      tooltip,
    );
    this.resultArea = h(
      "div",
      { class: "cp-result-area", hidden: true },
      h("div", { class: "cp-caption" }, this.captionText, switchIn),
      h("div", { class: "cp-grid" }, left, right),
      h("div", { class: "cp-hists" }, h1, h2),
    );

    const headsCard = h("div", { class: "cp-card cp-heads" });
    this.heads = new HeadRankingView(headsCard, {
      onSelect: (l, hd) => this.events.onHead?.(l, hd),
      onRelation: (r) => this.events.onRelation?.(r),
    });
    this.body = h("div", { class: "cp-body" }, this.resultArea, headsCard);
    this.el.append(bar, this.queryRow, this.note, this.status, this.body);
    container.append(this.el);
    this.setCorpora([], "", "Loading the corpus list\u2026");
  }

  /** The corpora of the selected model; `note` explains an empty list (or null). */
  setCorpora(list: readonly CorpusInfo[], selected: string, note: string | null): void {
    this.select.replaceChildren(
      ...(list.length ? list.map((c) => h("option", { value: c.name }, c.name)) : [h("option", { value: "" }, "no corpus")]),
    );
    this.select.disabled = list.length < 2;
    if (list.some((c) => c.name === selected)) this.select.value = selected;
    const info = list.find((c) => c.name === this.select.value) ?? null;
    this.info.textContent = info ? describeCorpus(info) : "";
    this.setLabels(info);
    this.note.hidden = !note;
    // `...` in the note: commands, shown as code.
    this.note.replaceChildren(...(note ?? "").split("`").map((part, k) => (k % 2 ? h("code", {}, part) : part)));
    const none = list.length === 0;
    this.pick.hidden = none;
    this.filters.hidden = none;
    this.el.classList.toggle("no-corpus", none);
    this.body.hidden = none;
    this.queryRow.hidden = none;
    for (const i of Object.values(this.filterInputs)) i.disabled = none;
  }

  /** Offer the corpus's own labels (from its spaCy pipeline) in the filter inputs. */
  private setLabels(info: CorpusInfo | null): void {
    const options = filterOptions(info?.labels);
    for (const key of Object.keys(this.filterLists) as (keyof SearchFilterState)[]) {
      const list = this.filterLists[key];
      list.replaceChildren(...options[key].map((v) => h("option", { value: v })));
      const input = this.filterInputs[key];
      input.dataset.labels = String(options[key].length);
    }
  }

  /** Enable the search buttons (a corpus and an analysis are there). */
  setSearchable(enabled: boolean): void {
    for (const b of this.searchButtons) b.disabled = !enabled;
  }

  setBusy(busy: boolean): void {
    for (const b of this.searchButtons) b.classList.toggle("busy", busy);
  }

  /** The line under the bar: the selected token and the layer a search would use. */
  setQuery(parts: readonly (string | Node)[]): void {
    this.query.replaceChildren(...parts);
  }

  /** The status line; an error replaces the result on screen (it no longer answers). */
  setStatus(kind: StatusKind | null, message = ""): void {
    if (kind === "error" && this.result) {
      this.clearResult();
      this.failed = true;
    }
    this.status.replaceChildren();
    this.status.hidden = !kind;
    if (!kind) {
      delete this.status.dataset.testid;
      return;
    }
    this.status.className = `cp-status ${kind}`;
    this.status.dataset.testid = STATUS_TESTID[kind];
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
    if (kind === "busy") this.status.append(h("span", { class: "spinner small" }));
    if (kind === "error") this.status.append(h("strong", {}, "Error: "));
    this.status.append(message);
  }

  getFilters(): SearchFilterState {
    return {
      pos: this.filterInputs.pos.value.trim(),
      dep: this.filterInputs.dep.value.trim(),
      ent: this.filterInputs.ent.value.trim(),
    };
  }

  setFilters(f: SearchFilterState): void {
    this.filterInputs.pos.value = f.pos;
    this.filterInputs.dep.value = f.dep;
    this.filterInputs.ent.value = f.ent;
  }

  setField(f: SummaryField): void {
    this.figures.setField(f);
  }

  /** Show a search result; `caption` says what was searched (and any layer substitution). */
  showResult(result: SearchResult, caption: string): void {
    this.result = result;
    this.failed = false;
    this.captionText.textContent = caption;
    this.resultArea.hidden = false;
    this.results.update(result.matches);
    this.figures.show(result);
  }

  clearResult(): void {
    this.result = null;
    this.failed = false;
    this.resultArea.hidden = true;
    this.results.clear();
    this.figures.clear();
  }

  /** A result is on screen, or the error of the search that replaced it: changed filters
   * run that search again. */
  get hasResult(): boolean {
    return this.result !== null || this.failed;
  }
}
