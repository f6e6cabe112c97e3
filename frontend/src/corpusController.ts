// The web app's corpus features: loads the corpora (GET /api/corpora) and the head ranking
// (GET /api/corpora/{name}/heads), runs searches (POST /api/search) for the selected token of
// the analysis on screen, and feeds the corpus panel (src/views/corpus.ts). The app (main.ts)
// is its host: it tells it about the model, the analysis, the pinned token and the view state,
// and stores its SearchState in the URL.

import { ApiError, fetchCorpora, fetchHeadRanking, searchCorpus } from "./api";
import {
  corporaForModel,
  searchFilters,
  searchLayer,
  storedLayers,
  type CorpusInfo,
  type HeadRanking,
  type LayerChoice,
  type SearchBy,
  type SearchRequest,
} from "./corpus";
import type { AnalysisHeader } from "./payload";
import type { SearchState } from "./state";
import type { ViewState } from "./viewer";
import { displayToken } from "./views/attention";
import { compactList, CorpusPanel } from "./views/corpus";

export interface CorpusHost {
  /** The selected model's name. */
  model(): string;
  /** The analysis on screen, or null. */
  analysis(): AnalysisHeader | null;
  view(): ViewState;
  /** Number of heads of the model (for "all heads"). */
  nHeads(): number;
  /** Pin a token of the analysis in the attention view (restoring a search from the URL). */
  pin(index: number): void;
  /** Show layer `layer` (the view's numbering) with only head `head` selected. */
  selectHead(layer: number, head: number): void;
  /** The search state changed (write it to the URL). */
  stateChanged(state: SearchState): void;
}

/** Matches per search. */
export const SEARCH_K = 50;
/** Offsets of the colour summary: -WINDOW..+WINDOW. */
export const SUMMARY_WINDOW = 2;

interface Search {
  by: SearchBy;
  token: number;
  layer: number;
  heads: number[] | null;
  choice: LayerChoice | null;
}

export class CorpusController {
  readonly panel: CorpusPanel;
  private state: SearchState;
  private all: CorpusInfo[] | null = null;
  private listError: string | null = null;
  private pinned: number | null = null;
  private restore: Search | null = null;
  private readonly restoreCorpus: string;
  private searchAbort: AbortController | null = null;
  private searchSeq = 0;
  private rankings = new Map<string, HeadRanking>();
  private rankingAbort: AbortController | null = null;
  private last: Search | null = null;
  /** special_attention of the result on screen. */
  private shownSpecial = false;

  constructor(container: HTMLElement, private readonly host: CorpusHost, initial: SearchState) {
    this.state = { ...initial, filters: { ...initial.filters } };
    this.restoreCorpus = initial.corpus;
    if (initial.by && initial.token !== null && initial.layer !== null) {
      this.restore = { by: initial.by, token: initial.token, layer: initial.layer, heads: initial.heads, choice: null };
    }
    this.panel = new CorpusPanel(container, {
      onCorpus: (name) => this.selectCorpus(name),
      onSearch: (by) => void this.searchSelected(by),
      onField: (field) => this.update({ field }),
      onFilters: (filters) => {
        if (JSON.stringify(filters) === JSON.stringify(this.state.filters)) return;
        this.update({ filters });
        // A shown result follows the filters: the same search again.
        if (this.last && this.panel.hasResult) void this.run({ ...this.last });
      },
      onRelation: (relation) => this.update({ relation }),
      onHead: (layer, head) => this.host.selectHead(layer, head),
    });
    this.panel.setField(this.state.field);
    this.panel.setFilters(this.state.filters);
    this.panel.setSearchable(false);
    this.refreshQuery();
  }

  getState(): SearchState {
    return { ...this.state, filters: { ...this.state.filters } };
  }

  /** Fetch the corpus list (once, at start). */
  async load(): Promise<void> {
    try {
      this.all = await fetchCorpora();
      this.listError = null;
    } catch (err) {
      this.all = [];
      this.listError = messageOf(err);
    }
    this.modelChanged();
    this.tryRestore();
  }

  private corpora(): CorpusInfo[] {
    return corporaForModel(this.all ?? [], this.host.model());
  }

  private corpus(): CorpusInfo | null {
    return this.corpora().find((c) => c.name === this.state.corpus) ?? null;
  }

  /** The model changed (or the list arrived): pick its corpus, drop the result. */
  modelChanged(): void {
    if (this.all === null) return;
    const list = this.corpora();
    const model = this.host.model();
    const chosen = list.find((c) => c.name === this.state.corpus) ?? list[0] ?? null;
    let note: string | null = null;
    if (this.listError) note = `The corpus list could not be loaded: ${this.listError}`;
    else if (!list.length) {
      note =
        (this.all.length
          ? `No corpus on this server was built for ${model || "this model"} (it has: ${this.all.map((c) => `${c.name} for ${c.model?.name}`).join(", ")}). `
          : `No corpus on this server. `) +
        `Build one with \`exbert corpus build TEXT --model ${model || "MODEL"} --out DIR\` and start the server with \`exbert serve --corpus DIR\`.`;
    }
    this.panel.setCorpora(list, chosen?.name ?? "", note);
    const name = chosen?.name ?? "";
    if (name !== this.state.corpus) this.update({ corpus: name });
    if (!this.restore) {
      this.searchAbort?.abort();
      this.panel.clearResult();
      this.panel.setStatus(null);
      this.panel.setBusy(false);
      if (this.last || this.state.by) this.clearSearch();
    }
    this.loadRanking();
    this.refreshQuery();
  }

  private selectCorpus(name: string): void {
    if (name === this.state.corpus) return;
    this.update({ corpus: name });
    this.modelChanged();
  }

  /** A new analysis is on screen (or none): a shown result no longer belongs to it. */
  analysisChanged(): void {
    if (this.restore) {
      this.tryRestore();
    } else {
      this.searchAbort?.abort();
      this.panel.clearResult();
      this.panel.setStatus(null);
      this.panel.setBusy(false);
      if (this.last || this.state.by) this.clearSearch();
    }
    this.refreshQuery();
  }

  pinChanged(index: number | null): void {
    this.pinned = index;
    this.refreshQuery();
  }

  /** The view's layer, heads or special toggle changed. A shown result follows the special
   * toggle: its max attention skips special tokens exactly when the view hides them. */
  viewChanged(): void {
    this.refreshQuery();
    if (this.last && this.shownSpecial !== this.specialAttention()) {
      void this.run(this.last);
    }
  }

  private specialAttention(): boolean {
    return !this.host.view().hideSpecial;
  }

  private update(p: Partial<SearchState>): void {
    this.state = { ...this.state, ...p };
    this.host.stateChanged(this.getState());
  }

  private clearSearch(): void {
    this.last = null;
    this.update({ by: null, token: null, layer: null, heads: null });
  }

  /** Re-run the search of the URL once the corpus list and the analysis are both there. */
  private tryRestore(): void {
    const r = this.restore;
    const a = this.host.analysis();
    if (!r || this.all === null || !a) return;
    this.restore = null;
    const c = this.corpus();
    if (!c || (this.restoreCorpus && c.name !== this.restoreCorpus) || r.token >= a.tokens.length) {
      this.clearSearch();
      this.refreshQuery();
      return;
    }
    this.host.pin(r.token);
    void this.run(r);
  }

  private choice(by: SearchBy): LayerChoice | null {
    const c = this.corpus();
    if (!c) return null;
    return searchLayer(this.host.view().layer, storedLayers(c, by));
  }

  /** The heads of a context search: the view's selection (null = all). */
  private contextHeads(): number[] | null {
    const heads = this.host.view().heads;
    return heads && heads.length < this.host.nHeads() ? [...heads] : null;
  }

  private async searchSelected(by: SearchBy): Promise<void> {
    const a = this.host.analysis();
    if (!this.corpus()) return;
    if (!a) {
      this.panel.setStatus("hint", "Analyse a sentence first, then click one of its tokens.");
      return;
    }
    if (this.pinned === null) {
      this.panel.setStatus("hint", "Click a token in the attention view first (it turns orange), then search for it.");
      return;
    }
    const choice = this.choice(by);
    if (!choice || choice.layer === null) {
      this.panel.setStatus("error", `This corpus stores no layer for search by ${by}.`);
      return;
    }
    await this.run({ by, token: this.pinned, layer: choice.layer, heads: by === "context" ? this.contextHeads() : null, choice });
  }

  private async run(s: Search): Promise<void> {
    const a = this.host.analysis();
    const c = this.corpus();
    if (!a || !c) return;
    this.searchAbort?.abort();
    const ctl = new AbortController();
    this.searchAbort = ctl;
    const seq = ++this.searchSeq;
    const req: SearchRequest = {
      model: this.host.model(),
      corpus: c.name,
      text: a.text,
      text_b: a.text_b,
      mask: a.mask ?? [],
      token: s.token,
      layer: s.layer,
      by: s.by,
      heads: s.by === "context" ? s.heads : null,
      k: SEARCH_K,
      filters: searchFilters(this.state.filters),
      window: SUMMARY_WINDOW,
      special_attention: this.specialAttention(),
    };
    const tokenText = displayToken(a.tokens[s.token]?.text ?? "", 24);
    this.panel.setBusy(true);
    this.panel.setStatus("busy", `Searching \u201c${tokenText}\u201d by ${s.by} at block ${s.layer}\u2026`);
    try {
      const result = await searchCorpus(req, ctl.signal);
      if (seq !== this.searchSeq) return;
      this.last = s;
      this.shownSpecial = req.special_attention;
      this.update({ by: s.by, token: s.token, layer: s.layer, heads: req.heads });
      const viewLayer = s.layer - 1;
      const parts = [
        `${result.matches.length} nearest token${result.matches.length === 1 ? "" : "s"} by ${s.by} to \u201c${tokenText}\u201d (#${s.token})`,
        `block ${result.layer}${viewLayer >= 0 ? ` = layer ${viewLayer}` : " (embedding output)"}`,
      ];
      if (s.by === "context") parts.push(req.heads ? `heads ${compactList(req.heads)}` : "all heads");
      if (result.filters?.length) parts.push(`filter ${result.filters.join(", ")}`);
      if (result.seconds !== undefined) parts.push(`${Math.max(1, Math.round(result.seconds * 1000))} ms`);
      this.panel.showResult(result, parts.join(" \u00b7 "));
      const ch = s.choice;
      if (ch && !ch.exact && ch.layer !== null) {
        this.panel.setStatus(
          "info",
          `Layer ${ch.viewLayer} of the view is block ${ch.wanted}, which this corpus does not store for search by ${s.by}; searched the nearest stored block, ${ch.layer}.`,
        );
      } else if (!result.matches.length) {
        this.panel.setStatus("info", "No matches" + (req.filters ? " with these filters." : "."));
      } else {
        this.panel.setStatus(null);
      }
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.searchSeq) return;
      this.panel.setStatus("error", messageOf(err));
    } finally {
      if (seq === this.searchSeq) this.panel.setBusy(false);
    }
  }

  private loadRanking(): void {
    const c = this.corpus();
    this.rankingAbort?.abort();
    if (!c) {
      this.panel.heads.showMessage("No corpus.");
      return;
    }
    const cached = this.rankings.get(c.name);
    if (cached) {
      this.panel.heads.update(cached, this.state.relation);
      this.panel.heads.setSelection(this.selection());
      return;
    }
    const ctl = new AbortController();
    this.rankingAbort = ctl;
    this.panel.heads.showMessage("Loading the head ranking\u2026", "busy");
    fetchHeadRanking(c.name, ctl.signal).then(
      (ranking) => {
        if (ctl.signal.aborted) return;
        this.rankings.set(c.name, ranking);
        this.panel.heads.update(ranking, this.state.relation);
        this.panel.heads.setSelection(this.selection());
      },
      (err) => {
        if ((err as Error)?.name === "AbortError" || ctl.signal.aborted) return;
        this.panel.heads.showMessage(`The head ranking could not be loaded: ${messageOf(err)}`, "error");
      },
    );
  }

  private selection(): { layer: number; heads: number[] | null } {
    const v = this.host.view();
    return { layer: v.layer, heads: v.heads };
  }

  /** The line under the bar: what a search would use. */
  private refreshQuery(): void {
    const p = this.panel;
    p.heads.setSelection(this.selection());
    const a = this.host.analysis();
    const c = this.corpus();
    p.setSearchable(c !== null && a !== null);
    if (!c) {
      p.setQuery([]);
      return;
    }
    if (!a) {
      p.setQuery(["Analyse a sentence, click one of its tokens, then search this corpus for the tokens nearest to it."]);
      return;
    }
    if (this.pinned === null || this.pinned >= a.tokens.length) {
      p.setQuery([muted("Click a token in the attention view to select it for search.")]);
      return;
    }
    const doc = p.el.ownerDocument;
    const chip = doc.createElement("span");
    chip.className = "cp-token";
    chip.dataset.testid = "corpus-query-token";
    chip.textContent = displayToken(a.tokens[this.pinned].text, 24);
    const v = this.host.view();
    const emb = this.choice("embedding");
    const ctx = this.choice("context");
    const parts: (string | Node)[] = ["Selected ", chip, ` #${this.pinned} \u00b7 layer ${v.layer} = block ${v.layer + 1}`];
    const subst = (name: string, ch: LayerChoice | null) =>
      ch && !ch.exact ? (ch.layer === null ? ` \u00b7 ${name}: no stored layer` : ` \u00b7 ${name}: nearest stored block ${ch.layer}`) : "";
    parts.push(subst("embedding", emb), subst("context", ctx));
    const heads = this.contextHeads();
    parts.push(muted(` \u00b7 context search uses ${heads ? `head${heads.length === 1 ? "" : "s"} ${compactList(heads)}` : "all heads"}`));
    p.setQuery(parts);
  }
}

function muted(text: string): HTMLSpanElement {
  const s = globalThis.document.createElement("span");
  s.className = "muted";
  s.textContent = text;
  return s;
}

function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err ?? "unknown error");
}
