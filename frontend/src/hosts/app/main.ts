// The web app (served by `exbert serve` at /): model picker, sentence inputs and errors around
// the viewer and the corpus panel, all on one store. The URL is read into the store at start and
// written from it after every change, one history entry per view change (url.ts, history.ts);
// Back/Forward apply the entry's URL to the store, re-analysing only when the model or the
// inputs differ from the analysis on screen. A link naming a model the server does not serve is
// an error on the page (with the served models to switch to); nothing is analysed and the URL
// stays as given until the user picks a model. Analyses go through analysis.ts. A long text
// (the server analyses it lazily) is shown in the document view (src/long/) instead of the
// all-tokens viewer; a progress bar with the token count and elapsed time shows while it runs.

import "../../style.css";
import { ApiError, fetchModels, messageOf } from "../../api/client";
import type { ModelInfo } from "../../api/types";
import { Viewer } from "../../attention/viewer";
import { CompareView } from "../../compare/view";
import { CorpusController } from "../../corpus/controller";
import { h } from "../../dom";
import { httpLensSource } from "../../lenses/http";
import { Progress } from "../../long/progress";
import { LongView } from "../../long/view";
import { createStore, fitView, newInputsLong, showAnalysis, viewOf, type State } from "../../store";
import { pageRendered } from "../page";
import { AnalysisRunner, CompareRunner, type AnalysisInput } from "./analysis";
import { UrlHistory } from "./history";
import { decodeEntry, fitEntry, readUrl, type UrlState } from "./url";

class App {
  private readonly store = createStore(readUrl(location.search));
  private models: ModelInfo[] = [];
  private readonly modelSelect: HTMLSelectElement;
  private readonly modelInfo: HTMLSpanElement;
  private readonly input: HTMLTextAreaElement;
  private readonly inputB: HTMLInputElement;
  private readonly button: HTMLButtonElement;
  private readonly error: HTMLDivElement;
  private readonly viewer: Viewer;
  private readonly viewerRoot: HTMLElement;
  private readonly corpusRoot: HTMLElement;
  private readonly longRoot: HTMLElement;
  private readonly progress = new Progress();
  /** The document view, made for the first long text. */
  private long: LongView | null = null;
  private readonly corpus: CorpusController;
  private readonly runner: AnalysisRunner;
  private readonly history: UrlHistory;
  /** The model a link asked for that the server does not serve; null when none. */
  private unknownModel: string | null = null;

  constructor(root: HTMLElement) {
    const store = this.store;
    this.modelSelect = h(
      "select",
      { "data-testid": "model-select", "aria-label": "Model", disabled: true },
      h("option", { value: "" }, "loading models\u2026"),
    );
    this.modelInfo = h("span", { class: "model-info", "data-testid": "model-info" });
    const header = h(
      "header",
      { class: "app-header" },
      h("div", { class: "brand" }, h("span", { class: "logo" }, "exbert"), h("span", { class: "tagline" }, "explore transformer attention")),
      h("div", { class: "model-pick" }, h("label", {}, "Model ", this.modelSelect), this.modelInfo),
    );
    const sentence = (cls: string, testid: string, placeholder: string, label: string) =>
      h("input", { type: "text", class: cls, "data-testid": testid, placeholder, "aria-label": label, spellcheck: "false" });
    // A textarea: a pasted book chapter keeps its line breaks (no maxlength; the server's limit
    // is MAX_TEXT_CHARS). Enter analyses, Shift+Enter starts a new line.
    this.input = h("textarea", {
      class: "sentence",
      "data-testid": "sentence-input",
      placeholder: "Type a sentence (or paste a whole document), e.g. The cat sat on the mat because it was tired.",
      "aria-label": "Sentence",
      spellcheck: "false",
      rows: 1,
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    this.inputB = sentence("sentence-b", "sentence-b-input", "Optional second sentence (pair)", "Second sentence");
    this.button = h("button", { type: "submit", class: "primary", "data-testid": "analyze-button" }, "Analyze");
    const form = h("form", { class: "inputs", autocomplete: "off" }, this.input, this.inputB, this.button);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.analyseFromInputs();
    });
    this.error = h("div", { class: "error", "data-testid": "error-message", role: "alert", hidden: true });
    const viewerRoot = h("main", { class: "viewer-root" });
    const corpusRoot = h("div", { class: "corpus-root" });
    this.viewerRoot = viewerRoot;
    this.corpusRoot = corpusRoot;
    this.longRoot = h("div", { class: "long-root", hidden: true });
    root.append(header, form, this.progress.el, this.error, viewerRoot, this.longRoot, corpusRoot);

    this.viewer = new Viewer(viewerRoot, store, {
      onToggleMask: (i) => this.toggleMask(i),
      onNeedLayer: (l) => void this.runner.fetchLayers([l]),
      onNeedLayers: (ls) => this.runner.fetchLayers(ls),
      onRendered: pageRendered,
      lenses: httpLensSource({ model: () => this.store.state.model, analyse: (text) => this.analyseText(text) }),
    });
    this.corpus = new CorpusController(corpusRoot, store, (name) => !this.models.length || this.models.some((m) => m.name === name));
    this.runner = new AnalysisRunner(store, this.viewer, {
      busy: (tokens) => {
        const on = tokens !== null;
        if (on) document.body.dataset.ready = "false";
        this.button.disabled = on;
        this.button.classList.toggle("busy", on);
        if (on) this.progress.start(tokens);
        else this.progress.stop();
      },
      error: (err) => this.showError(err),
      layersLoaded: () => compareView.render(),
    });
    // The compare view (input B beside A, under the viewer) and B's analyses.
    const compareRoot = h("div", { class: "compare-root" });
    viewerRoot.after(compareRoot);
    const compareRunner = new CompareRunner(store, () => this.model(), {
      busy: (on) => compareView.setBusy(on),
      error: (err) => compareView.setError(err === null ? null : messageOf(err)),
      changed: () => compareView.render(),
    });
    const compareView = new CompareView(compareRoot, store, {
      needLayer: (l) => void compareRunner.fetchLayers([l]),
      retry: () => compareRunner.retry(),
    });
    this.history = new UrlHistory(store);
    window.addEventListener("popstate", () => this.onPopState());
    store.subscribe((s, prev) => {
      if (s.model !== prev.model || s.analysis !== prev.analysis || s.doc !== prev.doc) this.showModelInfo(s);
      if (s.doc !== prev.doc) this.showLong(s);
    });
    this.input.value = store.state.text;
    this.inputB.value = store.state.textB;
    this.modelSelect.addEventListener("change", () => this.onModelChange());
    document.addEventListener("keydown", (ev) => (this.long && this.store.state.doc ? this.long.handleKey(ev) : this.viewer.handleKey(ev)));
    void this.start();
  }

  /** The document view for a long text, the all-tokens viewer (and the corpus panel) otherwise. */
  private showLong(s: State): void {
    const on = s.doc !== null;
    if (on && !this.long) this.long = new LongView(this.longRoot, this.store, { error: (err) => this.showError(err) });
    this.longRoot.hidden = !on;
    this.viewerRoot.hidden = on;
    this.corpusRoot.hidden = on;
  }

  private model(): ModelInfo | undefined {
    return this.models.find((m) => m.name === this.store.state.model);
  }

  /** The change that selects model `m`: its name and shape, the view fitted to it. */
  private selectModel(m: ModelInfo, s: Partial<State> = {}): Partial<State> {
    const view = fitView(viewOf({ ...this.store.state, ...s }), m.layers, m.heads);
    return { ...s, ...view, model: m.name, shape: { layers: m.layers, heads: m.heads } };
  }

  private async start(): Promise<void> {
    try {
      this.models = await fetchModels();
    } catch (err) {
      this.showError(err);
      this.modelSelect.replaceChildren(h("option", { value: "" }, "no models"));
      this.viewer.showMessage("The model list could not be loaded from the server.");
      void this.corpus.load();
      return;
    }
    if (this.models.length === 0) {
      this.showError(new ApiError("the server offers no models", "NoModels", 0));
      this.viewer.showMessage("The server offers no models.");
      void this.corpus.load();
      return;
    }
    this.modelSelect.replaceChildren(...this.models.map((m) => h("option", { value: m.name }, `${m.name} (${m.kind})`)));
    this.modelSelect.disabled = false;
    const wanted = this.store.state.model;
    const m = wanted ? this.model() : this.models[0];
    if (!m) {
      this.showUnknownModel(wanted);
      void this.corpus.load();
      return;
    }
    this.modelSelect.value = m.name;
    this.store.update(this.selectModel(m));
    this.history.start("replace");
    this.showModelInfo(this.store.state);
    void this.corpus.load();
    const { text, textB, mask } = this.store.state;
    if (text.trim()) void this.run({ text, textB, mask });
  }

  private onModelChange(): void {
    const m = this.models.find((x) => x.name === this.modelSelect.value);
    if (m) this.switchModel(m);
  }

  /**
   * The user picked model `m`. After a link with an unknown model, the link's view is kept (fitted
   * to `m`) and the URL is written again from here on (a new history entry).
   */
  private switchModel(m: ModelInfo): void {
    const fromUnknown = this.unknownModel !== null;
    this.clearUnknownModel();
    this.modelSelect.value = m.name;
    const reset = fromUnknown ? {} : { heads: null, weights: null };
    this.store.update(this.selectModel(m, { ...reset, mask: [], analysis: null, pinned: null, doc: null }));
    if (fromUnknown) this.history.start("auto");
    if (this.input.value.trim()) void this.analyseFromInputs();
    else this.viewer.showMessage("Type a sentence above and press Analyze.");
  }

  /** The model of a link is not served: say so, offer the served ones, analyse nothing. */
  private showUnknownModel(name: string): void {
    this.unknownModel = name;
    this.history.stop();
    this.runner.cancel();
    this.store.update(showAnalysis(this.store.state, null));
    this.modelSelect.querySelector("option.unknown-model")?.remove();
    this.modelSelect.prepend(h("option", { value: "", class: "unknown-model", disabled: true }, `${name} (not served)`));
    this.modelSelect.value = "";
    this.modelInfo.textContent = "";
    const links = this.models.flatMap((m, k) => {
      const query = new URLSearchParams(location.search);
      query.set("model", m.name);
      const a = h("a", { href: `?${query}`, class: "switch-model", "data-testid": `switch-model-${m.name}` }, m.name);
      a.addEventListener("click", (ev) => {
        if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
        ev.preventDefault();
        this.switchModel(m);
      });
      return k ? [", ", a] : [a];
    });
    this.error.replaceChildren(
      h("strong", {}, "Error: "),
      `this server does not serve model '${name}'; it serves: `,
      ...links,
      ". Pick one of them (or another model above) to analyse this link with it.",
    );
    this.error.dataset.type = "UnknownModel";
    this.error.hidden = false;
    this.viewer.showMessage(`The model '${name}' of this link is not served here: pick a served model above.`);
  }

  private clearUnknownModel(): void {
    if (this.unknownModel === null) return;
    this.unknownModel = null;
    this.modelSelect.querySelector("option.unknown-model")?.remove();
    this.showError(null);
  }

  /**
   * Back/Forward: apply the entry's URL (and the texts its state keeps when they were too long
   * for the URL). Only a different model or different inputs (text, pair, mask) than the analysis
   * on screen re-analyse; a view change is drawn from the analysis, the document view fitted to
   * the document on screen. A document of other inputs is dropped while they are analysed (its
   * view must not be drawn with the new entry's window and token).
   */
  private onPopState(): void {
    if (!this.models.length) return;
    this.history.popped();
    const u: UrlState = decodeEntry(location.search, history.state);
    this.input.value = u.text;
    this.inputB.value = u.textB;
    const m = u.model ? this.models.find((x) => x.name === u.model) : this.models[0];
    if (!m) {
      this.store.update({ ...u, doc: null }); // no document view of another model's link
      this.showUnknownModel(u.model);
      return;
    }
    this.clearUnknownModel();
    this.modelSelect.value = m.name;
    const s = this.store.state;
    const hd = s.analysis?.header ?? s.doc?.header;
    const same =
      hd !== undefined &&
      hd.model === m.name &&
      hd.text === u.text &&
      (hd.text_b ?? "") === u.textB &&
      hd.mask.join(",") === u.mask.join(",");
    if (same) {
      this.runner.cancel();
      this.store.update(this.selectModel(m, { ...fitEntry(u, s.doc), model: m.name }));
      this.viewer.setLoading(null);
    } else {
      const patch = this.selectModel(m, { ...u, model: m.name });
      this.store.update(s.model === m.name ? { ...patch, doc: null } : { ...patch, analysis: null, pinned: null, doc: null });
      if (u.text.trim()) void this.run({ text: u.text, textB: u.textB, mask: u.mask });
      else {
        this.runner.cancel();
        this.store.update(showAnalysis(this.store.state, null));
        this.viewer.showMessage("Type a sentence above and press Analyze.");
      }
    }
    this.history.start("replace");
    this.showModelInfo(this.store.state);
  }

  private showModelInfo(s: State): void {
    const m = this.model();
    if (!m) return;
    const hd = s.analysis?.header ?? s.doc?.header;
    this.modelInfo.textContent = hd
      ? `${m.kind} \u00b7 ${hd.n_layers} layers \u00d7 ${hd.n_heads} heads \u00b7 ${hd.tokens.length} tokens`
      : `${m.kind} \u00b7 ${m.layers} layers \u00d7 ${m.heads} heads`;
    this.modelInfo.title = m.notes ?? ""; // what exbert changed (e.g. a head it fitted)
  }

  /** Show an error above the view; null hides it. */
  private showError(err: unknown): void {
    if (err === null) {
      this.error.hidden = true;
      this.error.replaceChildren();
      delete this.error.dataset.type;
      return;
    }
    this.error.replaceChildren(h("strong", {}, "Error: "), messageOf(err));
    if (err instanceof ApiError) this.error.dataset.type = err.type;
    this.error.hidden = false;
  }

  private async analyseFromInputs(): Promise<void> {
    const text = this.input.value;
    const textB = this.inputB.value;
    if (!text.trim()) {
      this.showError(new ApiError("the text is empty: type a sentence to analyse", "EmptyText", 0));
      return;
    }
    const s = this.store.state;
    const sameText = (s.analysis !== null || s.doc !== null) && text === s.text && textB === s.textB;
    if (!sameText) this.store.update({ long: newInputsLong(s) });
    await this.run({ text, textB, mask: sameText ? s.mask : [] });
  }

  /** Analyse `text` as if typed (the induction probe's text). */
  private analyseText(text: string): Promise<void> {
    this.input.value = text;
    this.inputB.value = "";
    return this.analyseFromInputs();
  }

  private toggleMask(i: number): void {
    const hd = this.store.state.analysis?.header;
    if (!hd) return;
    const mask = new Set(this.store.state.mask);
    if (mask.has(i)) mask.delete(i);
    else mask.add(i);
    void this.run({ text: hd.text, textB: hd.text_b ?? "", mask: [...mask].sort((a, b) => a - b) });
  }

  private async run(p: AnalysisInput): Promise<void> {
    const m = this.model();
    if (m) await this.runner.run(m, p);
  }
}

const root = document.getElementById("app");
if (root) new App(root);
