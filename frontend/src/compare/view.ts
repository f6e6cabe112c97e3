// The compare view (data-testid `compare-view`): input B beside the analysis on screen (A) at
// the view's layer and heads, and their difference. "Compare" opens it; B is another text, or
// A's text with other masked tokens ("Compare with masks" copies A, then a click on one of B's
// tokens masks or unmasks it). It shows A's and B's attention as heatmaps, B - A over the tokens
// that align (align.ts: by their texts), the predictions that changed, and the heads that changed
// most (a click selects the head in the viewer). It only draws the store: the host runs B's
// analysis when `compare` asks for one (hosts/app/analysis.ts `CompareRunner`). Long (lazily
// analysed) inputs are not compared.
//
// Test hooks: `compare-button`, `compare-view` (data-ready, data-layer, data-tokens-a,
// data-tokens-b, data-aligned, data-max-diff, data-changed), `compare-text-input`,
// `compare-text-b-input`, `compare-run-button`, `compare-masks-button`, `compare-message`,
// `compare-tokens-b` (`compare-token-b-<i>`, class `masked`), `compare-map-a|b|diff` (canvases,
// data-ready, data-size, data-max), plus those of panels.ts.

import { displayToken } from "../attention/view";
import { h } from "../dom";
import { selectHeadCell, type Analysis, type State, type Store } from "../store";
import { alignTokens, type Alignment } from "./align";
import { attentionDiff, headChanges, predictionChanges, shownMatrix, shownPairs } from "./diff";
import { Heatmap } from "./heatmap";
import { HeadChanges, PredictionChanges } from "./panels";
import { compareAnalysed, compareInputs, compareWithMasks, toggleCompareMask, type CompareState } from "./state";

export interface CompareEvents {
  /** B has not loaded layer `layer` yet. */
  needLayer(layer: number): void;
  /** The user asked for B's analysis (again, e.g. after an error). */
  retry(): void;
}

/** A change of these redraws the view. */
const DRAWN = ["compare", "analysis", "doc", "model", "layer", "heads", "weights", "hideSpecial", "hideFirst"] as const;

const HINT = "Compare A with a second input B: another text, or the same text with other masked tokens.";
const LONG = "Compare is not offered for long inputs (analysed lazily, shown in the document view): analyse a shorter text to compare.";

const label = (t: { text: string; masked: boolean }) => (t.masked ? `\u25a0${displayToken(t.text, 10)}` : displayToken(t.text, 10));

export class CompareView {
  readonly el: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly view: HTMLElement;
  private readonly text: HTMLTextAreaElement;
  private readonly textB: HTMLInputElement;
  private readonly message: HTMLElement;
  private readonly tokens: HTMLElement;
  private readonly maps = {
    a: new Heatmap("compare-map-a", "A"),
    b: new Heatmap("compare-map-b", "B"),
    diff: new Heatmap("compare-map-diff", "B \u2212 A"),
  };
  private readonly predictions = new PredictionChanges();
  private readonly heads: HeadChanges;
  private readonly results: HTMLElement;
  private readonly hint = h("span", { class: "cmp-hint", "data-testid": "compare-hint" }, HINT);
  private busy = false;
  private error: string | null = null;
  /** The inputs B had when `error` came (inputsKey). */
  private errorFor = "";
  /** The inputs last copied into the fields (the fields are not overwritten while typed in). */
  private shownInputs = "";
  private aligned: { a: Analysis; b: Analysis; al: Alignment } | null = null;
  private headCache: { a: Analysis; b: Analysis; key: string; values: Float32Array } | null = null;

  constructor(
    root: HTMLElement,
    private readonly store: Store<State>,
    private readonly events: CompareEvents,
  ) {
    this.button = h("button", { type: "button", "data-testid": "compare-button", class: "cmp-toggle" }, "Compare\u2026");
    this.button.addEventListener("click", () => this.toggle());
    this.text = h("textarea", { class: "sentence", rows: 1, "data-testid": "compare-text-input", placeholder: "Input B: another sentence to compare with A", "aria-label": "Input B", spellcheck: "false" });
    this.text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    this.textB = h("input", { type: "text", class: "sentence-b", "data-testid": "compare-text-b-input", placeholder: "B's second sentence (pair)", "aria-label": "Input B, second sentence", spellcheck: "false" });
    const run = h("button", { type: "submit", class: "primary", "data-testid": "compare-run-button" }, "Compare");
    const masks = h("button", { type: "button", "data-testid": "compare-masks-button", title: "B = A's text: then click B's tokens to mask them" }, "Compare with masks");
    masks.addEventListener("click", () => this.withMasks());
    const form = h("form", { class: "inputs cmp-inputs", autocomplete: "off" }, this.text, this.textB, run, masks);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.message = h("div", { class: "cmp-message", "data-testid": "compare-message", role: "status" });
    this.tokens = h("div", { class: "cmp-tokens", "data-testid": "compare-tokens-b" });
    this.tokens.addEventListener("click", (ev) => {
      const t = (ev.target as Element).closest("[data-index]") as HTMLElement | null;
      const c = this.store.state.compare;
      if (t && c && t.classList.contains("maskable")) this.store.update({ compare: toggleCompareMask(c, Number(t.dataset.index)) });
    });
    this.heads = new HeadChanges((layer, head) => this.store.update(selectHeadCell(layer, head)));
    const legend = h("div", { class: "cmp-legend" }, "B \u2212 A over the tokens of A and B that align (by their texts): ", h("span", { class: "cmp-red" }, "red"), " B attends more, ", h("span", { class: "cmp-blue" }, "blue"), " A attends more. Hover a cell for its tokens and value.");
    this.results = h(
      "div",
      { class: "cmp-results" },
      h("div", { class: "cmp-maps" }, this.maps.a.el, this.maps.b.el, this.maps.diff.el),
      legend,
      h("div", { class: "cmp-lower" }, this.predictions.el, this.heads.el),
    );
    this.view = h("div", { class: "cmp-view", "data-testid": "compare-view", hidden: true }, form, this.message, this.tokens, this.results);
    this.el = h("section", { class: "compare-section" }, h("div", { class: "cmp-bar" }, this.button, this.hint), this.view);
    root.append(this.el);
    store.subscribe((s, prev) => {
      if (DRAWN.some((k) => s[k] !== prev[k])) this.render();
    });
    this.render();
  }

  /** B's analysis started or ended (host). */
  setBusy(on: boolean): void {
    this.busy = on;
    this.render();
  }

  /** B's analysis failed (a message), or null. The message belongs to the inputs B had then:
   * other inputs (another B, Back/Forward, a closed and reopened view) do not show it. */
  setError(message: string | null): void {
    this.error = message;
    this.errorFor = inputsKey(this.store.state.compare);
    this.render();
  }

  private toggle(): void {
    this.error = null;
    const s = this.store.state;
    this.store.update({ compare: s.compare ? null : compareInputs("") });
    if (this.store.state.compare) this.text.focus();
  }

  private submit(): void {
    const c = this.store.state.compare;
    const text = this.text.value;
    const textB = this.textB.value;
    const same = c !== null && c.text === text && c.textB === textB;
    this.error = null;
    this.store.update({ compare: same ? c : compareInputs(text, textB) });
    this.events.retry();
  }

  private withMasks(): void {
    this.error = null;
    this.store.update({ compare: compareWithMasks(this.store.state) });
    this.events.retry();
  }

  /** Redraw from the store. */
  render(): void {
    const s = this.store.state;
    const c = s.compare;
    this.button.textContent = c ? "Close compare" : "Compare\u2026";
    this.button.classList.toggle("on", c !== null);
    this.button.disabled = s.doc !== null;
    this.hint.textContent = s.doc !== null ? LONG : HINT;
    this.view.hidden = c === null || s.doc !== null;
    this.view.dataset.ready = "false";
    if (!c || s.doc !== null) return;
    this.syncFields(c);
    const a = s.analysis;
    const b = compareAnalysed(c, s.model) ? c.analysis : null;
    this.showTokens(s, c, b);
    this.results.hidden = !(a && b);
    if (this.error && this.errorFor === inputsKey(c)) return this.say(`B: ${this.error}`, "error");
    if (!c.text.trim()) return this.say("Type input B and press Compare, or \u201cCompare with masks\u201d to mask tokens of A's text.", "note");
    if (!a) return this.say("Analyse input A above first.", "note");
    if (!b) return this.say(this.busy ? "Analysing B\u2026" : "B is not analysed yet.", "note");
    this.draw(s, a, b);
  }

  private say(text: string, kind: "note" | "error" | "ok"): void {
    this.message.textContent = text;
    this.message.dataset.kind = kind;
  }

  private syncFields(c: CompareState): void {
    const key = JSON.stringify([c.text, c.textB]);
    if (key === this.shownInputs) return;
    this.shownInputs = key;
    this.text.value = c.text;
    this.textB.value = c.textB;
  }

  /** B's tokens (A's while B with A's text runs), maskable with a click on a bidirectional model. */
  private showTokens(s: State, c: CompareState, b: Analysis | null): void {
    const a = s.analysis;
    const tokens = b?.header.tokens ?? (a && a.header.text === c.text && (a.header.text_b ?? "") === c.textB ? a.header.tokens : null);
    const canMask = (b ?? a)?.maskToken != null;
    if (!tokens || !canMask) {
      this.tokens.replaceChildren();
      this.tokens.hidden = true;
      return;
    }
    this.tokens.hidden = false;
    this.tokens.replaceChildren(
      h("span", { class: "cmp-tokens-label" }, "B (click a token to mask it):"),
      ...tokens.map((t, i) =>
        h(
          "span",
          { class: `cmp-tok${c.mask.includes(i) ? " masked" : ""}${t.special ? "" : " maskable"}`, "data-testid": `compare-token-b-${i}`, "data-index": i },
          displayToken(t.text),
        ),
      ),
    );
  }

  private draw(s: State, a: Analysis, b: Analysis): void {
    const layer = s.layer;
    if (!b.attention.has(layer)) {
      this.events.needLayer(layer);
      return this.say(`Loading layer ${layer} of B\u2026`, "note");
    }
    const A = shownMatrix(a, s);
    const B = shownMatrix(b, s);
    if (!A || !B) return this.say(`Loading layer ${layer} of A\u2026`, "note");
    if (this.aligned?.a !== a || this.aligned?.b !== b) {
      this.aligned = { a, b, al: alignTokens(a.header.tokens.map((t) => t.text), b.header.tokens.map((t) => t.text)) };
    }
    const { al } = this.aligned;
    const pairs = shownPairs(al.pairs, a, b, s);
    const diff = attentionDiff(A, a.header.tokens.length, B, b.header.tokens.length, pairs);
    const max = Math.max(maxOf(A), maxOf(B));
    const heads = s.heads === null ? "all heads" : `head${s.heads.length > 1 ? "s" : ""} ${s.heads.join(", ")}`;
    this.maps.a.setTitle(`A \u00b7 layer ${layer}, ${heads}`);
    this.maps.b.setTitle(`B \u00b7 layer ${layer}, ${heads}`);
    this.maps.diff.setTitle(`B \u2212 A \u00b7 ${pairs.length} aligned tokens`);
    this.maps.a.draw({ values: A, labels: a.header.tokens.map(label), scale: "sequential", max });
    this.maps.b.draw({ values: B, labels: b.header.tokens.map(label), scale: "sequential", max });
    this.maps.diff.draw({ values: diff.values, labels: pairs.map((p) => label(b.header.tokens[p.b])), scale: "diverging", max: diff.maxAbs });
    const changes = predictionChanges(a, b, al.pairs);
    const unavailable = a.header.predictions && b.header.predictions ? null : (a.header.predictions_unavailable ?? b.header.predictions_unavailable ?? "the model has no output head");
    this.predictions.show(changes, unavailable);
    // (layers arrive in place: the count of missing ones tells when to score them again)
    const key = `${a.attention.missingLayers().length}/${b.attention.missingLayers().length}`;
    let hc = this.headCache;
    if (!hc || hc.a !== a || hc.b !== b || hc.key !== key) {
      hc = this.headCache = { a, b, key, values: headChanges(a.attention, b.attention, al.pairs) };
    }
    this.heads.show(hc.values, Math.min(a.header.n_layers, b.header.n_layers), Math.min(a.header.n_heads, b.header.n_heads), s);
    const v = this.view.dataset;
    Object.assign(v, {
      layer: String(layer),
      tokensA: String(a.header.tokens.length),
      tokensB: String(b.header.tokens.length),
      aligned: String(al.pairs.length),
      maxDiff: diff.maxAbs.toFixed(4),
      changed: String(changes.length),
    });
    const unaligned = a.header.tokens.length + b.header.tokens.length - 2 * al.pairs.length;
    this.say(`${al.pairs.length} tokens align${unaligned ? ` (${unaligned} only in A or B)` : ""}; largest |B \u2212 A| ${diff.maxAbs.toFixed(3)}.`, "ok");
    v.ready = "true";
  }
}

function maxOf(m: ArrayLike<number>): number {
  let out = 0;
  for (let k = 0; k < m.length; k++) if (m[k] > out) out = m[k];
  return out;
}

/** B's inputs as one comparable string ("" when not comparing). */
function inputsKey(c: CompareState | null): string {
  return c ? JSON.stringify([c.text, c.textB, c.mask]) : "";
}
