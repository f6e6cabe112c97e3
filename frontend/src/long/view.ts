// The document view of a long input (an analysis whose attention is lazy: src/store.ts `doc`):
// the overview heatmap with its brush (overview.ts), the per-head statistics (stats.ts), the
// brushed window in the curved-line viewer (window.ts) and the reading view (reader.ts). It draws
// the app's store and fetches small arrays by the analysis id (api.ts), cached per request: a
// layer or head change never re-runs the model. Errors go to the host's error message.
//
// window.__exbertLong holds the last timings in ms (measured by hand, docs in frontend/README.md):
// overview (analysis shown -> overview painted), brush (release -> window drawn), brushRect (the
// brush's own repaint), layerOverview / layerWindow / layerReader (layer change -> painted).

import { h } from "../dom";
import { selectedHeads, selectedWeights } from "../attention/selection";
import { fitLong, selectHeadCell, shapeOf, type LongDoc, type State, type Store } from "../store";
import { AnalysisRoutes, type Arr } from "./api";
import { Lru } from "./cache";
import { mixBlocks } from "./maths";
import { Overview } from "./overview";
import { Reader } from "./reader";
import { HeadStats } from "./stats";
import { WindowPane } from "./window";

/** Blocks per side of the overview (fewer when the document has fewer tokens). */
export const OVERVIEW_BINS = 256;

export interface LongViewEvents {
  /** A request failed (null: a later one succeeded after a failure). */
  error(err: unknown): void;
}

type Times = Record<string, number>;

export class LongView {
  readonly el: HTMLElement;
  private readonly overview: Overview;
  private readonly stats: HeadStats;
  private readonly win: WindowPane;
  private readonly reader: Reader;
  private routes: AnalysisRoutes | null = null;
  private readonly blocks = new Lru<Arr>(64);
  private readonly rows = new Lru<Arr>(128);
  private failed = false;
  /** Request sequence per part: a late answer for an older view is dropped. */
  private readonly seq = { overview: 0, rows: 0, stats: 0 };
  /** Aborts the requests of the document shown (a new document, or none, aborts them). */
  private abort: AbortController | null = null;
  readonly times: Times = {};
  private marks: Times = {};

  constructor(
    root: HTMLElement,
    private readonly store: Store<State>,
    private readonly events: LongViewEvents,
  ) {
    this.overview = new Overview({ brush: (w) => this.brushed(w) });
    this.stats = new HeadStats({
      select: (layer, head) => store.update(selectHeadCell(layer, head)),
      stat: (name) => store.update({ long: { ...store.state.long, stat: name } }),
    });
    // Before the window's viewer subscribes: a cached overview is painted before the window's
    // (slower) curved lines are drawn.
    store.subscribe((s, prev) => this.onState(s, prev));
    this.win = new WindowPane(store, {
      error: (err) => this.fail(err),
      rendered: () => this.windowDrawn(),
    });
    this.reader = new Reader({
      select: (token) => store.update({ long: { ...store.state.long, token } }),
      direction: (direction) => store.update({ long: { ...store.state.long, direction } }),
    });
    this.el = h(
      "div",
      { class: "long-view", "data-testid": "long-view" },
      h("div", { class: "long-top" }, this.overview.el, this.stats.el),
      this.win.el,
      this.reader.el,
    );
    root.append(this.el);
    (window as unknown as { __exbertLong: Times }).__exbertLong = this.times;
    if (store.state.doc) this.docChanged(store.state);
  }

  handleKey(ev: KeyboardEvent): boolean {
    return this.win.handleKey(ev);
  }

  private onState(s: State, prev: State): void {
    if (s.doc !== prev.doc) {
      this.docChanged(s);
      return;
    }
    if (!s.doc) return;
    const layer = s.layer !== prev.layer;
    const heads = s.heads !== prev.heads || s.weights !== prev.weights;
    if (layer) {
      const t = performance.now();
      this.marks = { ...this.marks, layerOverview: t, layerWindow: t, layerReader: t };
    }
    if (layer || heads) void this.paintOverview(s);
    if (layer || heads || s.long.stat !== prev.long.stat) this.updateStats(s);
    if (s.long.start !== prev.long.start || s.long.stop !== prev.long.stop) this.showWindow(s);
    if (layer || heads || s.long.token !== prev.long.token || s.long.direction !== prev.long.direction) {
      void this.colourReader(s, s.long.token !== prev.long.token);
    }
  }

  /**
   * A new document (or none): the old one's requests are aborted and every part's sequence is
   * bumped, so that no late answer or error of the old document is drawn or reported (its errors
   * neither set nor clear the host's error message), and the old statistics grid is cleared.
   */
  private docChanged(s: State): void {
    this.abort?.abort();
    this.abort = null;
    this.seq.overview++;
    this.seq.rows++;
    this.seq.stats++;
    this.failed = false;
    this.blocks.clear();
    this.rows.clear();
    this.stats.reset();
    this.win.reset();
    const d = s.doc;
    this.el.hidden = !d;
    if (!d) {
      this.routes = null;
      return;
    }
    this.abort = new AbortController();
    this.routes = new AnalysisRoutes(d.id);
    this.marks = { overview: performance.now() };
    this.reader.setDocument(d.header);
    this.reader.setDirection(s.long.direction);
    // The server answers one request at a time: the overview and the window first, then the
    // statistics (a pass over every layer and head of the document).
    const overview = this.paintOverview(s);
    this.showWindow(s);
    void this.colourReader(s, true);
    void overview.finally(() => this.store.state.doc === d && this.loadStats(d));
  }

  /** The signal of the document shown (aborted when it changes). */
  private signal(): AbortSignal | undefined {
    return this.abort?.signal;
  }

  private ok(): void {
    if (this.failed) this.events.error(null);
    this.failed = false;
  }

  private fail(err: unknown): void {
    if ((err as Error)?.name === "AbortError") return;
    this.failed = true;
    this.events.error(err);
  }

  private done(key: string): void {
    const t = this.marks[key];
    if (t === undefined) return;
    this.times[key] = Math.round((performance.now() - t) * 10) / 10;
    delete this.marks[key];
  }

  private heads(s: State): { heads: number[]; weights: number[] } {
    const n = shapeOf(s).heads;
    return { heads: selectedHeads(s, n), weights: selectedWeights(s, n) };
  }

  private async paintOverview(s: State): Promise<void> {
    const routes = this.routes;
    const d = s.doc;
    if (!routes || !d) return;
    const seq = ++this.seq.overview;
    const T = d.header.tokens.length;
    const B = Math.min(OVERVIEW_BINS, T);
    const n = d.header.n_heads;
    const all = Array.from({ length: n }, (_, k) => k);
    this.overview.setLayerLabel(s.layer);
    const l = fitLong(s.long, T);
    this.overview.setWindow({ start: l.start, stop: l.stop }, T);
    const key = `${s.layer}:${B}`;
    if (!this.blocks.has(key)) this.overview.unpaint();
    try {
      const arr = this.blocks.peek(key) ?? (await this.blocks.get(key, () => routes.blocks(s.layer, B, all, this.signal())));
      if (seq !== this.seq.overview) return;
      const bins = arr.shape[1];
      const { heads, weights } = this.heads(this.store.state);
      const m = mixBlocks(arr.data, bins, heads, weights);
      const label = `Layer ${s.layer} \u00b7 ${heads.length === n ? "all heads" : `head${heads.length > 1 ? "s" : ""} ${heads.join(", ")}`}`;
      this.overview.paint(m, bins, T, label);
      this.overview.canvas.dataset.layer = String(s.layer);
      this.ok();
      this.done("overview");
      this.done("layerOverview");
    } catch (err) {
      if (seq === this.seq.overview) this.fail(err);
    }
  }

  private async loadStats(d: LongDoc): Promise<void> {
    const routes = this.routes;
    if (!routes) return;
    const seq = ++this.seq.stats;
    this.stats.loading();
    try {
      const arr = await routes.stats(this.signal());
      if (seq !== this.seq.stats) return;
      const names = Array.isArray(arr.header.names) ? (arr.header.names as string[]) : [];
      const [, L, H] = arr.shape;
      this.stats.setData({ names, values: arr.data, layers: L ?? d.header.n_layers, heads: H ?? d.header.n_heads });
      this.updateStats(this.store.state);
      this.ok();
    } catch (err) {
      if (seq === this.seq.stats) this.fail(err);
    }
  }

  private updateStats(s: State): void {
    this.stats.update(s.long.stat, s.layer, this.heads(s).heads);
  }

  private showWindow(s: State): void {
    const d = s.doc;
    if (!d || !this.routes) return;
    // The host fits the state to the document (showDocument, Back/Forward); a state that is not
    // (a hand-made store change) still never asks for tokens past the end.
    const T = d.header.tokens.length;
    const l = fitLong(s.long, T);
    const w = { start: l.start, stop: l.stop };
    this.overview.setWindow(w, T);
    this.reader.setWindow(w);
    this.win.show(d, this.routes, w.start, w.stop, this.signal());
  }

  private brushed(w: { start: number; stop: number }): void {
    this.times.brushRect = Math.round(this.overview.lastBrushMs * 100) / 100;
    const l = this.store.state.long;
    if (l.start === w.start && l.stop === w.stop) return;
    this.marks.brush = performance.now();
    this.store.update({ long: { ...l, ...w } });
  }

  private windowDrawn(): void {
    this.done("brush");
    this.done("layerWindow");
  }

  private async colourReader(s: State, reveal: boolean): Promise<void> {
    const routes = this.routes;
    const d = s.doc;
    const token = d ? fitLong(s.long, d.header.tokens.length).token : s.long.token;
    this.reader.setSelected(token, reveal);
    this.reader.setDirection(s.long.direction);
    const seq = ++this.seq.rows;
    if (!routes || !d || token === null) {
      this.done("layerReader");
      return;
    }
    const { heads, weights } = this.heads(s);
    const q = { layer: s.layer, heads, weights, rows: [token], direction: s.long.direction };
    const key = JSON.stringify(q);
    if (!this.rows.has(key)) this.reader.loading("Loading the attention of the token\u2026");
    try {
      const arr = this.rows.peek(key) ?? (await this.rows.get(key, () => routes.rows(q, this.signal())));
      if (seq !== this.seq.rows) return;
      const what = s.long.direction === "out" ? "gives to each token" : "receives from each token";
      this.reader.colour(arr.data, `Token ${token} \u201c${d.header.tokens[token]?.text ?? ""}\u201d: the attention it ${what}, layer ${s.layer}`);
      this.ok();
      this.done("layerReader");
    } catch (err) {
      if (seq === this.seq.rows) this.fail(err);
    }
  }
}
