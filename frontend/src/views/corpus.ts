// The corpus panel: corpus picker, search buttons and filters for the selected token, then the
// results (sentences), the colour summary, the two histograms and head discovery. A view: it
// knows nothing of the server or the URL; its host (src/corpusController.ts) feeds it and hears
// about the user's actions.

import {
  FIELD_NAMES,
  histogramBars,
  histogramCounts,
  resultColors,
  SPECIAL,
  SUMMARY_FIELDS,
  type CorpusInfo,
  type SearchBy,
  type SearchResult,
  type SummaryField,
} from "../corpus";
import type { SearchFilterState } from "../state";
import { HeadRankingView } from "./headRanking";
import { HistogramView } from "./histogram";
import { InfoTooltip } from "./infoTooltip";
import { ResultsView } from "./results";
import { SummaryView } from "./summary";

export interface CorpusPanelEvents {
  onCorpus?(name: string): void;
  onSearch?(by: SearchBy): void;
  onField?(field: SummaryField): void;
  onFilters?(filters: SearchFilterState): void;
  onRelation?(relation: string): void;
  /** A head-ranking cell: the attention view's layer and the head. */
  onHead?(layer: number, head: number): void;
}

const UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"];
const DEPS = [
  "ROOT", "acl", "acomp", "advcl", "advmod", "agent", "amod", "appos", "attr", "aux", "auxpass", "case", "cc", "ccomp",
  "compound", "conj", "csubj", "dative", "dep", "det", "dobj", "expl", "intj", "mark", "meta", "neg", "nmod",
  "npadvmod", "nsubj", "nsubjpass", "nummod", "oprd", "parataxis", "pcomp", "pobj", "poss", "preconj", "predet",
  "prep", "prt", "punct", "quantmod", "relcl", "xcomp",
];
const ENTS = [
  "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME",
  "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
];

let uid = 0;

export type StatusKind = "info" | "hint" | "busy" | "error";

export class CorpusPanel {
  readonly el: HTMLElement;
  readonly heads: HeadRankingView;
  private readonly doc: Document;
  private readonly select: HTMLSelectElement;
  private readonly info: HTMLSpanElement;
  private readonly filterInputs: Record<keyof SearchFilterState, HTMLInputElement>;
  private readonly byEmbedding: HTMLButtonElement;
  private readonly byContext: HTMLButtonElement;
  private readonly query: HTMLDivElement;
  private readonly queryRow: HTMLDivElement;
  private readonly pick: HTMLLabelElement;
  private readonly filters: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly resultArea: HTMLDivElement;
  private readonly caption: HTMLDivElement;
  private readonly captionText: HTMLSpanElement;
  private readonly results: ResultsView;
  private readonly figures: SearchFigures;
  private result: SearchResult | null = null;

  constructor(container: HTMLElement, private readonly events: CorpusPanelEvents = {}) {
    const doc = container.ownerDocument;
    this.doc = doc;
    const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = "") => {
      const e = doc.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    };
    const id = ++uid;
    this.el = el("section", "corpus-section");
    this.el.dataset.testid = "corpus-section";
    this.el.setAttribute("aria-label", "Corpus");

    // Bar: title, picker, info, filters, buttons.
    const bar = el("div", "cp-bar");
    const title = el("span", "cp-title", "Corpus");
    const pick = el("label", "ctl");
    this.select = el("select");
    this.select.dataset.testid = "corpus-select";
    this.select.setAttribute("aria-label", "Corpus");
    this.select.addEventListener("change", () => this.events.onCorpus?.(this.select.value));
    pick.append(this.select);
    this.info = el("span", "cp-info");
    this.info.dataset.testid = "corpus-info";

    const filters = el("div", "cp-filters");
    filters.append(el("span", "ctl-name", "Filter"));
    const mk = (key: keyof SearchFilterState, placeholder: string, values: string[], title: string) => {
      const input = el("input");
      input.type = "text";
      input.placeholder = placeholder;
      input.title = title;
      input.spellcheck = false;
      input.autocomplete = "off";
      input.dataset.testid = `filter-${key}`;
      input.setAttribute("aria-label", `Filter: ${placeholder}`);
      const list = el("datalist");
      list.id = `exbert-${key}-values-${id}`;
      list.append(...values.map((v) => Object.assign(doc.createElement("option"), { value: v })));
      input.setAttribute("list", list.id);
      input.addEventListener("change", () => this.events.onFilters?.(this.getFilters()));
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") this.events.onFilters?.(this.getFilters());
      });
      filters.append(input, list);
      return input;
    };
    this.filterInputs = {
      pos: mk("pos", "POS", UPOS, "Only matches with this part of speech (comma-separated alternatives), e.g. NOUN or VERB,AUX"),
      dep: mk("dep", "DEP", DEPS, "Only matches with this dependency label, e.g. nsubj"),
      ent: mk("ent", "Entity", ENTS, "Only matches inside this entity type, e.g. PERSON"),
    };

    const buttons = el("div", "ctl-group cp-buttons");
    this.byEmbedding = el("button", "primary", "Search by embedding");
    this.byEmbedding.type = "button";
    this.byEmbedding.dataset.testid = "search-embedding-button";
    this.byEmbedding.title = "Corpus tokens whose hidden state at this layer is nearest (cosine) to the selected token's";
    this.byEmbedding.addEventListener("click", () => this.events.onSearch?.("embedding"));
    this.byContext = el("button", "primary alt", "Search by context");
    this.byContext.type = "button";
    this.byContext.dataset.testid = "search-context-button";
    this.byContext.title = "Corpus tokens whose per-head contexts at this layer, for the selected heads, are nearest";
    this.byContext.addEventListener("click", () => this.events.onSearch?.("context"));
    buttons.append(this.byEmbedding, this.byContext);
    bar.append(title, pick, this.info, filters);
    this.pick = pick;
    this.filters = filters;

    const queryRow = el("div", "cp-query-row");
    this.query = el("div", "cp-query");
    this.query.dataset.testid = "corpus-query";
    queryRow.append(this.query, buttons);
    this.queryRow = queryRow;
    this.note = el("div", "cp-note");
    this.note.dataset.testid = "corpus-note";
    this.note.hidden = true;
    this.status = el("div", "cp-status");
    this.status.setAttribute("aria-live", "polite");
    this.status.hidden = true;

    // Results area: caption with the colour switch; results | summary; histograms.
    this.body = el("div", "cp-body");
    this.resultArea = el("div", "cp-result-area");
    this.resultArea.hidden = true;
    this.caption = el("div", "cp-caption");
    this.captionText = el("span", "cp-caption-text");
    this.captionText.dataset.testid = "search-caption";
    const switchIn = el("div", "cp-switch");
    this.caption.append(this.captionText, switchIn);
    const tooltip = new InfoTooltip(this.el, "token-meta-tooltip");
    const grid = el("div", "cp-grid");
    const left = el("div", "cp-card cp-results");
    const leftHead = el("div", "cp-sec-head");
    leftHead.append(el("span", "cp-sec-title", "Matches"), el("span", "cp-sec-note", "hover a token for its annotation \u00b7 "));
    const key = el("span", "cp-key");
    key.append(el("span", "ctok matched", "match"), " ", el("span", "ctok maxatt", "its max attention"));
    leftHead.lastElementChild!.append(key);
    const listWrap = el("div", "cp-list-wrap");
    left.append(leftHead, listWrap);
    this.results = new ResultsView(listWrap, tooltip);
    const right = el("div", "cp-card cp-summary");
    grid.append(left, right);
    const hists = el("div", "cp-hists");
    const h1 = el("div", "cp-card");
    const h2 = el("div", "cp-card");
    hists.append(h1, h2);
    this.figures = new SearchFigures(
      { switchIn, summaryIn: right, matchedIn: h1, maxIn: h2 },
      { onField: (f) => this.events.onField?.(f) },
      tooltip,
    );
    this.resultArea.append(this.caption, grid, hists);

    const headsCard = el("div", "cp-card cp-heads");
    this.heads = new HeadRankingView(headsCard, {
      onSelect: (l, h) => this.events.onHead?.(l, h),
      onRelation: (r) => this.events.onRelation?.(r),
    });
    this.body.append(this.resultArea, headsCard);
    this.el.append(bar, queryRow, this.note, this.status, this.body);
    container.append(this.el);
    this.setCorpora([], "", "Loading the corpus list\u2026");
  }

  /** The corpora of the selected model; `note` explains an empty list (or null). */
  setCorpora(list: readonly CorpusInfo[], selected: string, note: string | null): void {
    const doc = this.doc;
    this.select.replaceChildren(
      ...(list.length
        ? list.map((c) => Object.assign(doc.createElement("option"), { value: c.name, textContent: c.name }))
        : [Object.assign(doc.createElement("option"), { value: "", textContent: "no corpus" })]),
    );
    this.select.disabled = list.length < 2;
    if (list.some((c) => c.name === selected)) this.select.value = selected;
    const info = list.find((c) => c.name === this.select.value) ?? null;
    this.info.textContent = info ? describeCorpus(info) : "";
    this.note.hidden = !note;
    // `...` in the note: commands, shown as code.
    this.note.replaceChildren(
      ...(note ?? "").split("`").map((part, k) =>
        k % 2 ? Object.assign(doc.createElement("code"), { textContent: part }) : doc.createTextNode(part),
      ),
    );
    this.pick.hidden = list.length === 0;
    this.filters.hidden = list.length === 0;
    this.el.classList.toggle("no-corpus", list.length === 0);
    this.body.hidden = list.length === 0;
    this.queryRow.hidden = list.length === 0;
    for (const i of Object.values(this.filterInputs)) i.disabled = list.length === 0;
  }

  /** Enable the search buttons (a corpus and an analysis are there). */
  setSearchable(enabled: boolean): void {
    this.byEmbedding.disabled = !enabled;
    this.byContext.disabled = !enabled;
  }

  setBusy(busy: boolean): void {
    this.byEmbedding.classList.toggle("busy", busy);
    this.byContext.classList.toggle("busy", busy);
  }

  /** The line under the bar: the selected token and the layer a search would use. */
  setQuery(parts: readonly (string | Node)[]): void {
    this.query.replaceChildren(...parts);
  }

  setStatus(kind: StatusKind | null, message = ""): void {
    if (!kind) {
      this.status.hidden = true;
      this.status.replaceChildren();
      delete this.status.dataset.testid;
      return;
    }
    this.status.hidden = false;
    this.status.className = `cp-status ${kind}`;
    this.status.dataset.testid = { info: "corpus-message", hint: "corpus-hint", busy: "corpus-loading", error: "corpus-error" }[kind];
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
    this.status.replaceChildren();
    if (kind === "busy") this.status.append(Object.assign(this.doc.createElement("span"), { className: "spinner small" }));
    if (kind === "error") this.status.append(Object.assign(this.doc.createElement("strong"), { textContent: "Error: " }));
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

  get summaryField(): SummaryField {
    return this.figures.field;
  }

  setField(f: SummaryField): void {
    this.figures.setField(f);
  }

  /** Show a search result; `caption` says what was searched (and any layer substitution). */
  showResult(result: SearchResult, caption: string): void {
    this.result = result;
    this.captionText.textContent = caption;
    this.resultArea.hidden = false;
    this.results.update(result.matches);
    this.figures.show(result);
  }

  clearResult(): void {
    this.result = null;
    this.resultArea.hidden = true;
    this.results.clear();
    this.figures.clear();
  }

  get hasResult(): boolean {
    return this.result !== null;
  }
}

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

export interface SearchFiguresParts {
  /** Where the POS / DEP / Entity switch goes. */
  switchIn: HTMLElement;
  summaryIn: HTMLElement;
  matchedIn: HTMLElement;
  maxIn: HTMLElement;
}

/**
 * The figures of one search result, coloured alike: the colour summary, the histograms of the
 * matched tokens and of their max-attention tokens, and the switch of their field. Used by the
 * corpus panel and by the notebook widget.
 */
export class SearchFigures {
  private readonly buttons = new Map<SummaryField, HTMLButtonElement>();
  private readonly summary: SummaryView;
  private readonly histMatched: HistogramView;
  private readonly histMax: HistogramView;
  private readonly switchEl: HTMLDivElement;
  private current: SummaryField = "pos";
  private result: SearchResult | null = null;

  constructor(parts: SearchFiguresParts, private readonly events: { onField?(f: SummaryField): void } = {}, tooltip?: InfoTooltip) {
    const doc = parts.switchIn.ownerDocument;
    const label = doc.createElement("span");
    label.className = "ctl-name";
    label.textContent = "Colour by";
    this.switchEl = doc.createElement("div");
    this.switchEl.className = "segmented";
    this.switchEl.setAttribute("role", "group");
    this.switchEl.setAttribute("aria-label", "Colour by");
    this.switchEl.dataset.testid = "summary-field";
    for (const f of SUMMARY_FIELDS) {
      const b = doc.createElement("button");
      b.type = "button";
      b.textContent = FIELD_NAMES[f];
      b.dataset.testid = `summary-field-${f}`;
      b.dataset.value = f;
      b.title = `Colour the summary and the histograms by ${FIELD_NAMES[f]}`;
      b.addEventListener("click", () => {
        if (this.current === f) return;
        this.setField(f);
        this.events.onField?.(f);
      });
      this.buttons.set(f, b);
      this.switchEl.append(b);
    }
    parts.switchIn.classList.add("cp-switch");
    parts.switchIn.append(label, this.switchEl);
    const tip = tooltip ?? new InfoTooltip(parts.summaryIn, "token-meta-tooltip");
    this.summary = new SummaryView(parts.summaryIn, {}, tip);
    this.histMatched = new HistogramView(parts.matchedIn, "histogram-matched", "Matched tokens");
    this.histMax = new HistogramView(parts.maxIn, "histogram-max-attention", "Their max-attention tokens");
    this.setField("pos");
    this.clear();
  }

  get field(): SummaryField {
    return this.current;
  }

  setField(f: SummaryField): void {
    this.current = f;
    for (const [k, b] of this.buttons) {
      b.classList.toggle("on", k === f);
      b.setAttribute("aria-pressed", String(k === f));
    }
    this.paint();
  }

  show(result: SearchResult): void {
    this.result = result;
    this.paint();
  }

  clear(): void {
    this.result = null;
    this.summary.clear();
    this.histMatched.clear();
    this.histMax.clear();
  }

  private paint(): void {
    const r = this.result;
    if (!r) return;
    const f = this.current;
    const matches = r.matches ?? [];
    const colors = resultColors({ matches, summary: r.summary ?? { window: 0, offsets: [], rows: [] } }, f);
    if (r.summary?.rows) this.summary.update({ summary: r.summary, matches, field: f, colors });
    else this.summary.clear();
    const n = matches.length;
    const name = FIELD_NAMES[f];
    this.histMatched.update({
      bars: histogramBars(histogramCounts(matches, "matched", f)),
      colors,
      total: n,
      note: `${name} of the ${n} matched token${n === 1 ? "" : "s"}`,
      empty: "no matches",
    });
    const withMax = matches.filter((m) => m.max_attention).length;
    const heads = r.attention_heads;
    const which = heads && heads.length && r.by === "context" ? `heads ${compactList(heads)}` : "all heads";
    const maxCounts = histogramCounts(matches, "max_attention", f);
    const special = maxCounts.get(SPECIAL) ?? 0;
    this.histMax.update({
      bars: histogramBars(maxCounts),
      colors,
      total: withMax,
      note: `${name} of the token each match attends to most (block ${r.layer}, ${which}${r.special_attention ? "" : ", special tokens skipped"})`,
      empty: r.max_attention_unavailable ?? "no attention stored for this layer",
      footnote:
        withMax && special / withMax >= 0.5
          ? `${special} of ${withMax} matches attend most to a special token ([CLS], [SEP], \u2026), where many heads park their attention.`
          : undefined,
    });
  }
}
