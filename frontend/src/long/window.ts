// The brushed window of a long document in the existing curved-line viewer (data-testid
// `long-window`). The viewer draws a `Store<State>` whose analysis is the window: the document's
// tokens start..stop-1 and, per layer, the [heads, W, W] attention of /window (all heads, so that
// a head change needs no request; the viewer mixes them as in the all-tokens view). That store is
// a projection of the app's one store: the view fields (layer, heads, weights, threshold, the
// drawing switches) are copied both ways, so the viewer's toolbar and head boxes change the whole
// document view; only the window's own analysis and pinned token live in it.

import { h } from "../dom";
import { AttentionLayers, AttentionTensor } from "../attention/frame";
import { Viewer } from "../attention/viewer";
import { createStore, type Analysis, type LongDoc, type State, type Store } from "../store";
import type { AnalysisRoutes } from "./api";

/** The view fields shared with the app's store (copied in both directions). */
const SHARED = ["layer", "heads", "weights", "hideSpecial", "threshold", "colorByHead", "hideFirst"] as const;
/** Copied from the app's store only. */
const FOLLOWED = [...SHARED, "model", "shape"] as const;

/** The window's analysis: the document header cut to tokens start..stop-1, no layer loaded yet. */
export function windowAnalysis(doc: LongDoc, start: number, stop: number): Analysis {
  const hd = doc.header;
  const W = stop - start;
  const header = {
    ...hd,
    tokens: hd.tokens.slice(start, stop),
    predictions: hd.predictions ? hd.predictions.slice(start, stop) : null,
    mask: hd.mask.filter((i) => i >= start && i < stop).map((i) => i - start),
    attention: { ...hd.attention, shape: [hd.n_layers, hd.n_heads, W, W], layers: [], offset: 0 },
  };
  return { header, attention: new AttentionLayers(hd.n_layers, hd.n_heads, W), maskToken: doc.maskToken };
}

export interface WindowEvents {
  error(err: unknown): void;
  /** A window layer was drawn (ms of the viewer's repaint). */
  rendered(ms: number): void;
}

export class WindowPane {
  readonly el: HTMLElement;
  readonly store: Store<State>;
  readonly viewer: Viewer;
  private routes: AnalysisRoutes | null = null;
  private doc: LongDoc | null = null;
  /** Window analyses by "start:stop" (their fetched layers stay with them). */
  private readonly windows = new Map<string, Analysis>();
  private readonly pending = new Set<string>();
  /** Bumped per document: a late answer or error of an older document is dropped. */
  private seq = 0;
  private signal: AbortSignal | undefined;
  private readonly starts = new WeakMap<Analysis, number>();
  private readonly caption: HTMLElement;

  constructor(
    main: Store<State>,
    private readonly events: WindowEvents,
  ) {
    this.caption = h("div", { class: "long-caption", "data-testid": "long-window-caption" });
    const root = h("div", { class: "long-window-viewer" });
    this.el = h("section", { class: "long-window", "data-testid": "long-window" }, this.caption, root);
    this.store = createStore(pick(main.state, FOLLOWED));
    // The copy to the app's store is heard before the viewer: a layer step in the viewer's
    // toolbar repaints the (cheap) overview before the window's curved lines.
    this.store.subscribe((s) => {
      const patch = pick(s, SHARED);
      if (SHARED.some((k) => patch[k] !== main.state[k])) main.update(patch);
    });
    this.viewer = new Viewer(root, this.store, {
      onNeedLayer: (l) => void this.fetchLayer(l),
      onRendered: (ms) => {
        this.el.dataset.ready = "true";
        this.events.rendered(ms);
      },
      maskHint: "Masking is not offered in the document view.",
    });
    main.subscribe((s) => this.store.update(pick(s, FOLLOWED)));
  }

  /** The document is gone (or another one comes): forget it; its late answers are dropped. */
  reset(): void {
    this.seq++;
    this.doc = null;
    this.routes = null;
    this.signal = undefined;
    this.windows.clear();
    this.pending.clear();
  }

  /** Show window start..stop-1 of `doc` (read by `routes`; its requests aborted by `signal`). */
  show(doc: LongDoc, routes: AnalysisRoutes, start: number, stop: number, signal?: AbortSignal): void {
    if (doc !== this.doc) {
      this.reset();
      this.doc = doc;
      this.routes = routes;
      this.signal = signal;
    }
    const key = `${start}:${stop}`;
    let a = this.windows.get(key);
    if (!a) {
      a = windowAnalysis(doc, start, stop);
      this.starts.set(a, start);
      this.windows.set(key, a);
      while (this.windows.size > 8) this.windows.delete(this.windows.keys().next().value as string);
    }
    this.caption.textContent = `Tokens ${start}\u2013${stop - 1} of ${doc.header.tokens.length} (drag on the overview to choose another window, at most 512 tokens)`;
    this.el.dataset.start = String(start);
    this.el.dataset.stop = String(stop);
    if (this.store.state.analysis !== a) {
      this.el.dataset.ready = "false";
      this.store.update({ analysis: a, pinned: null });
    }
  }

  private async fetchLayer(layer: number): Promise<void> {
    const a = this.store.state.analysis;
    const routes = this.routes;
    if (!a || !routes || a.attention.has(layer)) return;
    const T = a.attention.T;
    const start = this.starts.get(a) ?? 0;
    const key = `${start}:${start + T}:${layer}`;
    if (this.pending.has(key)) return;
    this.pending.add(key);
    const seq = this.seq;
    try {
      const heads = Array.from({ length: a.attention.nHeads }, (_, k) => k);
      const arr = await routes.window(layer, start, start + T, heads, this.signal);
      if (seq !== this.seq || a.attention.has(layer)) return;
      a.attention.add(new AttentionTensor(arr.raw, [1, ...arr.shape], [layer]));
      if (this.store.state.analysis === a && this.store.state.layer === layer) this.viewer.render();
    } catch (err) {
      if (seq !== this.seq || (err as Error)?.name === "AbortError") return;
      this.events.error(err);
      if (this.store.state.analysis === a) this.viewer.showMessage(`The window of layer ${layer} could not be loaded (see the error above).`);
    } finally {
      if (seq === this.seq) this.pending.delete(key);
    }
  }

  handleKey(ev: KeyboardEvent): boolean {
    return this.viewer.handleKey(ev);
  }
}

function pick<K extends keyof State>(s: State, keys: readonly K[]): Pick<State, K> {
  const out = {} as Pick<State, K>;
  for (const k of keys) out[k] = s[k];
  return out;
}
