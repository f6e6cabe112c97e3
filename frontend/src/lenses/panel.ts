// The lens area under the attention view: tab buttons (`lens-tab-model`, `lens-tab-lens`,
// `lens-tab-heads`; store `lens.panel`, a click on the open one closes it) and the open panel:
// the model view, the logit lens or the head detectors. It draws the store and asks the
// LensSource for numbers once per analysis (cached by the analysis object: a layer or head change
// never asks again; a failure that may pass, e.g. 503 or a network error, is asked again when a
// panel is opened; the request of an analysis no longer shown is aborted).

import { h } from "../dom";
import { messageOf } from "../api/client";
import { selectHeadCell, type Analysis, type State, type Store } from "../store";
import { HeadScoresView } from "./headScores";
import { retryable } from "./maths";
import { LogitLensView } from "./logitLens";
import { ModelView } from "./modelView";
import type { HeadScoresData, LensSource, LogitLensData } from "./source";
import { LENS_PANELS, type LensPanel } from "./state";

const TAB_NAMES: Record<LensPanel, [string, string]> = {
  model: ["Model view", "Every layer \u00d7 head at once; click one to open it"],
  lens: ["Logit lens", "What each layer already predicts"],
  heads: ["Head detectors", "Previous-token, induction, duplicate-token, ... scores of every head"],
};

type Settled<T> = { ok: T } | { err: string };

interface Entry<T> {
  got?: Settled<T>;
  /** Whether a failure may succeed if asked again (forgotten by `retry`). */
  retry?: boolean;
  ctrl: AbortController;
}

/** A request per analysis, remembered with its outcome. A failure is remembered until `retry`
 * (the panel opened again, another analysis): then a retryable one (retryable()) is asked again. */
export class PerAnalysis<T> {
  private readonly map = new WeakMap<Analysis, Entry<T>>();
  /** Times `load` was called (for tests: once per analysis unless it failed). */
  calls = 0;

  /** `settled(a)` is called once each time a request for `a` settles (not when aborted). */
  constructor(
    private readonly load: (a: Analysis, signal: AbortSignal) => Promise<T>,
    private readonly settled: (a: Analysis) => void,
  ) {}

  /** The outcome for `a` if known; otherwise starts the request (once) and returns null. */
  get(a: Analysis): Settled<T> | null {
    const known = this.map.get(a);
    if (known) return known.got ?? null;
    this.calls++;
    const e: Entry<T> = { ctrl: new AbortController() };
    this.map.set(a, e);
    const signal = e.ctrl.signal;
    this.load(a, signal).then(
      (ok) => {
        if (signal.aborted) return;
        e.got = { ok };
        this.settled(a);
      },
      (err: unknown) => {
        if (signal.aborted) return;
        e.got = { err: messageOf(err) };
        e.retry = retryable(err);
        this.settled(a);
      },
    );
    return null;
  }

  /** Forget a retryable failure for `a`: the next `get` asks again. */
  retry(a: Analysis): void {
    if (this.map.get(a)?.retry) this.map.delete(a);
  }

  /** Abort the request for `a` if it is still running (another analysis is shown). */
  cancel(a: Analysis): void {
    const e = this.map.get(a);
    if (e && !e.got) {
      e.ctrl.abort();
      this.map.delete(a);
    }
  }
}

export interface LensAreaEvents {
  /** Layers missing from the analysis (the model view needs all). */
  needLayers(layers: number[]): Promise<void> | void;
}

export class LensArea {
  readonly el: HTMLElement;
  private readonly tabs: Map<LensPanel, HTMLButtonElement>;
  private readonly body: HTMLDivElement;
  private modelView: ModelView | null = null;
  private lensView: LogitLensView | null = null;
  private headsView: HeadScoresView | null = null;
  private readonly lens: PerAnalysis<LogitLensData>;
  private readonly scores: PerAnalysis<HeadScoresData>;

  constructor(
    private readonly store: Store<State>,
    private readonly source: LensSource,
    private readonly events: LensAreaEvents,
  ) {
    const settled = (a: Analysis) => void (this.store.state.analysis === a && this.render());
    this.lens = new PerAnalysis((a, signal) => source.logitLens(a, signal), settled);
    this.scores = new PerAnalysis((a, signal) => source.headScores(a, signal), settled);
    this.tabs = new Map(
      LENS_PANELS.map((p) => {
        const [name, title] = TAB_NAMES[p];
        const b = h("button", { type: "button", class: "lens-tab", "data-testid": `lens-tab-${p}`, title }, name);
        b.addEventListener("click", () => {
          const s = this.store.state;
          this.store.update({ lens: { ...s.lens, panel: s.lens.panel === p ? null : p } });
        });
        return [p, b] as const;
      }),
    );
    this.body = h("div", { class: "lens-body" });
    this.el = h(
      "section",
      { class: "lens-area", "data-testid": "lens-area" },
      h("div", { class: "lens-tabs" }, h("span", { class: "lens-title" }, "Lenses"), h("div", { class: "segmented" }, ...this.tabs.values())),
      this.body,
    );
    store.subscribe((s, prev) => {
      const l = s.lens;
      const p = prev.lens;
      if (prev.analysis && s.analysis !== prev.analysis) {
        this.lens.cancel(prev.analysis);
        this.scores.cancel(prev.analysis);
      }
      if (s.analysis && (l.panel !== p.panel || s.analysis !== prev.analysis)) {
        // (a panel opened again asks again what failed and may work now)
        this.lens.retry(s.analysis);
        this.scores.retry(s.analysis);
        this.modelView?.retry();
      }
      if (
        s.analysis !== prev.analysis ||
        l.panel !== p.panel ||
        l.detector !== p.detector ||
        s.layer !== prev.layer ||
        s.heads !== prev.heads
      ) {
        this.render();
      }
    });
    this.render();
  }

  /** Draw the open panel from the store (also after the host added layers to the analysis). */
  render(): void {
    const s = this.store.state;
    const panel = s.lens.panel;
    for (const [p, b] of this.tabs) {
      b.classList.toggle("on", p === panel);
      b.setAttribute("aria-pressed", String(p === panel));
    }
    this.el.dataset.panel = panel ?? "";
    if (!panel) {
      this.body.replaceChildren();
      this.body.hidden = true;
      return;
    }
    this.body.hidden = false;
    const view = panel === "model" ? this.showModel(s) : panel === "lens" ? this.showLens(s) : this.showHeads(s);
    if (this.body.firstChild !== view) this.body.replaceChildren(view);
  }

  private showModel(s: State): HTMLElement {
    this.modelView ??= new ModelView({
      select: (layer, head) => this.store.update(selectHeadCell(layer, head)),
      needLayers: (ls) => this.events.needLayers(ls),
    });
    const v = this.modelView;
    // (painted once attached, so that the grid fits the panel's width)
    if (!v.el.isConnected) this.body.replaceChildren(v.el);
    v.update(s.analysis, s.layer, s.heads);
    return v.el;
  }

  private showLens(s: State): HTMLElement {
    const v = (this.lensView ??= new LogitLensView());
    const a = s.analysis;
    if (!a) {
      v.message("Analyse a text to see what each layer predicts.");
      return v.el;
    }
    const got = this.lens.get(a);
    if (!got) v.loading();
    else if ("err" in got) v.message(got.err);
    else v.show(got.ok, a.header.tokens, a.header.kind);
    return v.el;
  }

  private showHeads(s: State): HTMLElement {
    const v = (this.headsView ??= new HeadScoresView({
      select: (layer, head) => this.store.update(selectHeadCell(layer, head)),
      detector: (name) => this.store.update({ lens: { ...this.store.state.lens, detector: name } }),
      probe: this.source.inductionProbe ? () => this.source.inductionProbe!() : undefined,
    }));
    const a = s.analysis;
    if (!a) {
      v.message("Analyse a text (or run the induction probe) to score the heads.");
      return v.el;
    }
    const got = this.scores.get(a);
    if (!got) v.loading();
    else if ("err" in got) v.message(got.err);
    else v.show(got.ok, s.lens.detector, s.layer, s.heads);
    return v.el;
  }

  /** The number of times the logit lens and the head scores were asked for (tests). */
  get requests(): { lens: number; scores: number } {
    return { lens: this.lens.calls, scores: this.scores.calls };
  }
}
