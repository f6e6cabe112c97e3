// The app's corpus features: loads the corpora (GET /api/corpora) and the head ranking
// (GET /api/corpora/{name}/heads), runs searches (POST /api/search) for the pinned token of the
// analysis on screen, and feeds the corpus panel (panel.ts). It follows the store (model,
// analysis, pinned token, layer and heads) and keeps its search state there.

import { messageOf } from "../api/client";
import type { CorpusInfo, HeadRanking, SearchBy, SearchRequest } from "../api/types";
import { displayToken } from "../attention/view";
import { h } from "../dom";
import { shapeOf, type SearchState, type State, type Store } from "../store";
import { fetchCorpora, fetchHeadRanking } from "./api";
import { CorpusPanel } from "./panel";
import { DEFAULT_K, DEFAULT_WINDOW } from "../api/limits";
import { runSearch, type Search } from "./run";
import {
  LAYER_NOTE,
  compactList,
  corporaForModel,
  layerName,
  searchFilters,
  searchLayer,
  storedLayers,
  type LayerChoice,
} from "./search";

export class CorpusController {
  readonly panel: CorpusPanel;
  private all: CorpusInfo[] | null = null;
  private listError: string | null = null;
  /** The search of the URL, re-run once the corpus list and the analysis are there. */
  private restore: Search | null = null;
  private readonly restoreCorpus: string;
  private searchAbort: AbortController | null = null;
  private searchSeq = 0;
  private rankings = new Map<string, HeadRanking>();
  private rankingAbort: AbortController | null = null;
  private last: Search | null = null;
  /** special_attention of the result on screen. */
  private shownSpecial = false;

  constructor(
    container: HTMLElement,
    private readonly store: Store<State>,
    /** Whether the server serves `model` (a shared link may name one it does not). */
    private readonly isServed: (model: string) => boolean = () => true,
  ) {
    const initial = store.state.search;
    this.restoreCorpus = initial.corpus;
    if (initial.by && initial.token !== null && initial.layer !== null) {
      this.restore = { by: initial.by, token: initial.token, layer: initial.layer, heads: initial.heads, choice: null };
    }
    this.panel = new CorpusPanel(container, {
      onCorpus: (name) => this.selectCorpus(name),
      onSearch: (by) => void this.searchSelected(by),
      onField: (field) => this.set({ field }),
      onFilters: (filters) => {
        if (JSON.stringify(filters) === JSON.stringify(this.search.filters)) return;
        this.set({ filters });
        // A shown result follows the filters: the same search again.
        if (this.last && this.panel.hasResult) void this.run({ ...this.last });
      },
      onRelation: (relation) => this.set({ relation }),
      onHead: (layer, head) => this.selectHead(layer, head),
    });
    this.panel.setField(initial.field);
    this.panel.setFilters(initial.filters);
    this.panel.setSearchable(false);
    store.subscribe((s, prev) => this.onState(s, prev));
    this.refreshQuery();
  }

  private get search(): SearchState {
    return this.store.state.search;
  }

  private set(p: Partial<SearchState>): void {
    this.store.update({ search: { ...this.search, ...p } });
  }

  private onState(s: State, prev: State): void {
    if (s.model !== prev.model) this.modelChanged();
    else if (s.analysis !== prev.analysis) this.analysisChanged();
    // A shown result follows the special toggle: its max attention skips special tokens
    // exactly when the view hides them.
    if (s.hideSpecial !== prev.hideSpecial && this.last && this.shownSpecial !== !s.hideSpecial) void this.run(this.last);
    if (s.search.field !== prev.search.field) this.panel.setField(s.search.field);
    if (s.search.filters !== prev.search.filters) this.panel.setFilters(s.search.filters);
    const shown = ["model", "analysis", "pinned", "layer", "heads", "shape"] as const;
    if (shown.some((k) => s[k] !== prev[k]) || s.search.corpus !== prev.search.corpus) this.refreshQuery();
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
    this.refreshQuery();
  }

  private corpora(): CorpusInfo[] {
    return corporaForModel(this.all ?? [], this.store.state.model);
  }

  private corpus(): CorpusInfo | null {
    return this.corpora().find((c) => c.name === this.search.corpus) ?? null;
  }

  /** The model changed (or the list arrived): pick its corpus, drop the result. */
  private modelChanged(): void {
    if (this.all === null) return;
    const list = this.corpora();
    const model = this.store.state.model;
    const chosen = list.find((c) => c.name === this.search.corpus) ?? list[0] ?? null;
    let note: string | null = null;
    if (this.listError) note = `The corpus list could not be loaded: ${this.listError}`;
    else if (model && !this.isServed(model)) note = `Pick a served model above to search its corpora.`;
    else if (!list.length) {
      note =
        (this.all.length
          ? `No corpus on this server was built for ${model || "this model"} (it has: ${this.all.map((c) => `${c.name} for ${c.model?.name}`).join(", ")}). `
          : `No corpus on this server. `) +
        `Build one with \`exbert corpus build TEXT --model ${model || "MODEL"} --out DIR\` and start the server with \`exbert serve --corpus DIR\`.`;
    }
    this.panel.setCorpora(list, chosen?.name ?? "", note);
    const name = chosen?.name ?? "";
    if (name !== this.search.corpus) this.set({ corpus: name });
    if (!this.restore) this.dropResult();
    this.loadRanking();
  }

  private selectCorpus(name: string): void {
    if (name === this.search.corpus) return;
    this.set({ corpus: name });
    this.modelChanged();
  }

  /** A new analysis is on screen (or none): a shown result no longer belongs to it. */
  private analysisChanged(): void {
    if (this.restore) this.tryRestore();
    else this.dropResult();
  }

  private dropResult(): void {
    this.searchAbort?.abort();
    this.panel.clearResult();
    this.panel.setStatus(null);
    this.panel.setBusy(false);
    if (this.last || this.search.by) {
      this.last = null;
      this.set({ by: null, token: null, layer: null, heads: null });
    }
  }

  /** Show layer `layer` (the view's numbering) with only head `head` selected. */
  private selectHead(layer: number, head: number): void {
    const { layers, heads } = shapeOf(this.store.state);
    if (layer < 0 || layer >= layers || head < 0 || head >= heads) return;
    this.store.update({ layer, heads: [head], weights: null });
  }

  /** Re-run the search of the URL once the corpus list and the analysis are both there. */
  private tryRestore(): void {
    const r = this.restore;
    const a = this.store.state.analysis?.header;
    if (!r || this.all === null || !a) return;
    this.restore = null;
    const c = this.corpus();
    if (!c || (this.restoreCorpus && c.name !== this.restoreCorpus) || r.token >= a.tokens.length) {
      this.dropResult();
      return;
    }
    this.store.update({ pinned: { side: "left", index: r.token } });
    void this.run(r);
  }

  private choice(by: SearchBy): LayerChoice | null {
    const c = this.corpus();
    return c ? searchLayer(this.store.state.layer, storedLayers(c, by)) : null;
  }

  /** The heads of a context search: the view's selection (null = all). */
  private contextHeads(): number[] | null {
    const heads = this.store.state.heads;
    return heads && heads.length < shapeOf(this.store.state).heads ? [...heads] : null;
  }

  private async searchSelected(by: SearchBy): Promise<void> {
    const pinned = this.store.state.pinned;
    if (!this.corpus()) return;
    if (!this.store.state.analysis) {
      this.panel.setStatus("hint", "Analyse a sentence first, then click one of its tokens.");
      return;
    }
    if (pinned === null) {
      this.panel.setStatus("hint", "Click a token in the attention view first (it turns orange), then search for it.");
      return;
    }
    const choice = this.choice(by);
    if (!choice || choice.layer === null) {
      this.panel.setStatus("error", `This corpus stores no layer for search by ${by}.`);
      return;
    }
    await this.run({ by, token: pinned.index, layer: choice.layer, heads: by === "context" ? this.contextHeads() : null, choice });
  }

  private async run(s: Search): Promise<void> {
    const st = this.store.state;
    const a = st.analysis?.header;
    const c = this.corpus();
    if (!a || !c) return;
    this.searchAbort?.abort();
    const ctl = new AbortController();
    this.searchAbort = ctl;
    const seq = ++this.searchSeq;
    const req: SearchRequest = {
      model: st.model,
      corpus: c.name,
      text: a.text,
      text_b: a.text_b,
      mask: a.mask ?? [],
      token: s.token,
      layer: s.layer,
      by: s.by,
      heads: s.by === "context" ? s.heads : null,
      k: DEFAULT_K,
      filters: searchFilters(this.search.filters),
      exact: true,
      window: DEFAULT_WINDOW,
      special_attention: !st.hideSpecial,
    };
    const tokenText = displayToken(a.tokens[s.token]?.text ?? "", 24);
    const done = await runSearch(this.panel, req, s, tokenText, ctl.signal, () => seq === this.searchSeq);
    if (!done) return;
    this.last = s;
    this.shownSpecial = req.special_attention;
    // The store keeps the layer as searched (0-based or "embeddings"), the API's numbering.
    this.set({ by: s.by, token: s.token, layer: s.layer, heads: req.heads ?? null });
  }

  private loadRanking(): void {
    const c = this.corpus();
    this.rankingAbort?.abort();
    const view = this.panel.heads;
    if (!c) {
      view.showMessage("No corpus.");
      return;
    }
    const show = (ranking: HeadRanking) => {
      view.update(ranking, this.search.relation);
      view.setSelection({ layer: this.store.state.layer, heads: this.store.state.heads });
    };
    const cached = this.rankings.get(c.name);
    if (cached) return show(cached);
    const ctl = new AbortController();
    this.rankingAbort = ctl;
    view.showMessage("Loading the head ranking\u2026", "busy");
    fetchHeadRanking(c.name, ctl.signal).then(
      (ranking) => {
        if (ctl.signal.aborted) return;
        this.rankings.set(c.name, ranking);
        show(ranking);
      },
      (err) => {
        if ((err as Error)?.name === "AbortError" || ctl.signal.aborted) return;
        view.showMessage(`The head ranking could not be loaded: ${messageOf(err)}`, "error");
      },
    );
  }

  /** The line under the bar: what a search would use. */
  private refreshQuery(): void {
    const p = this.panel;
    const s = this.store.state;
    p.heads.setSelection({ layer: s.layer, heads: s.heads });
    const a = s.analysis?.header ?? null;
    const c = this.corpus();
    p.setSearchable(c !== null && a !== null);
    if (!c) return p.setQuery([]);
    if (!a) {
      return p.setQuery(["Analyse a sentence, click one of its tokens, then search this corpus for the tokens nearest to it."]);
    }
    const muted = (text: string) => h("span", { class: "muted" }, text);
    const pinned = s.pinned?.index ?? null;
    if (pinned === null || pinned >= a.tokens.length) {
      return p.setQuery([muted("Click a token in the attention view to select it for search.")]);
    }
    const chip = h("span", { class: "cp-token", "data-testid": "corpus-query-token" }, displayToken(a.tokens[pinned].text, 24));
    const subst = (by: SearchBy) => {
      const ch = this.choice(by);
      if (!ch || ch.exact) return "";
      return ch.layer === null ? ` \u00b7 ${by}: no stored layer` : ` \u00b7 ${by}: nearest stored ${layerName(ch.layer)}`;
    };
    const heads = this.contextHeads();
    p.setQuery([
      "Selected ",
      chip,
      ` #${pinned} \u00b7 `,
      h("span", { class: "cp-layer", "data-testid": "corpus-query-layer", title: LAYER_NOTE }, layerName(s.layer)),
      subst("embedding"),
      subst("context"),
      muted(` \u00b7 context search uses ${heads ? `head${heads.length === 1 ? "" : "s"} ${compactList(heads)}` : "all heads"}`),
    ]);
  }
}
