// The web app's analyses: POST /api/analyze (attention "auto") for a text of the selected model.
// The server answers with the analysis id and its mode:
// - "full": the attention of all layers in one binary frame unless `layers x heads x T x T x 2`
//   bytes would exceed ALL_LAYERS_BYTES; then the current layer, and the other layers on demand
//   from GET /api/analyses/{id}/attention?layers=... (never a second POST: that re-ran the model).
// - "lazy" (a long text): no attention in the frame; the store's `doc` gets the header and id, and
//   the document view (src/long/) fetches what it shows by the id.
// The result goes into the store. The compare view's input B (store `compare`) is analysed the
// same way by a `CompareRunner` (B only: A is never re-run).

import { ApiError, postJson } from "../../api/client";
import { ALL_LAYERS_BYTES, DEFAULT_TOP_K } from "../../api/limits";
import type { AnalyzeRequest, ModelInfo } from "../../api/types";
import { AttentionLayers } from "../../attention/frame";
import { payloadBytes } from "../../attention/math";
import type { Viewer } from "../../attention/viewer";
import { compareAnalysed, type CompareState } from "../../compare/state";
import { AnalysisRoutes, decodeAnalyzed, type Analyzed } from "../../long/api";
import { estimateTokens } from "../../long/progress";
import { showAnalysis, showDocument, type Analysis, type State, type Store } from "../../store";

export interface AnalysisInput {
  text: string;
  textB: string;
  mask: number[];
}

/**
 * POST /api/analyze for inputs `p` with model `m` (attention "auto"): all layers at once unless
 * the payload would be too large, then only `layer` (the others by id, `loadLayers`).
 */
export async function postAnalysis(m: ModelInfo, p: AnalysisInput, layer: number, signal?: AbortSignal): Promise<Analyzed> {
  // Rough (generous) token count before the server has tokenised: one per two UTF-8 bytes.
  // If the guess is low the frame is merely larger than planned; if the real payload turns
  // out small, the other layers follow in one request (`restInOneGo`).
  const utf8 = new TextEncoder().encode(p.text + p.textB).length;
  const estT = Math.min(m.max_tokens || 512, Math.ceil(utf8 / 2) + 4);
  const perLayer = payloadBytes(m.layers, m.heads, estT) > ALL_LAYERS_BYTES;
  const req: AnalyzeRequest = {
    model: m.name,
    text: p.text,
    text_b: p.textB ? p.textB : null,
    mask: p.mask,
    top_k: DEFAULT_TOP_K,
    layers: perLayer ? [layer] : null,
    attention: "auto",
  };
  const res = await postJson("/api/analyze", req, "application/x-exbert-analysis", signal);
  return decodeAnalyzed(await res.arrayBuffer(), res.status);
}

/** The analysis of a full answer of model `m`. */
export function analysisOf(m: ModelInfo, got: Extract<Analyzed, { mode: "full" }>): Analysis {
  const attention = AttentionLayers.of(got.frame);
  return { header: got.frame.header, attention, maskToken: m.mask_token, ...(got.id ? { id: got.id } : {}) };
}

/** The layers of `a` still to fetch when all of them fit in one payload (else none: per layer). */
export function restInOneGo(a: Analysis): number[] {
  const hd = a.header;
  return payloadBytes(hd.n_layers, hd.n_heads, hd.tokens.length) <= ALL_LAYERS_BYTES ? a.attention.missingLayers() : [];
}

/** Fetch some layers of analysis `a` by its id (GET /api/analyses/{id}/attention) and add them. */
export async function loadLayers(a: Analysis, layers: number[], signal?: AbortSignal): Promise<void> {
  if (!a.id) throw new Error("the server gave no analysis id: analyse the text again to see other layers");
  const frame = await new AnalysisRoutes(a.id).attention(layers, signal);
  a.attention.add(frame.attention);
}

export interface RunnerUi {
  /** A request for a new analysis started (with the estimated token count) or ended (null). */
  busy(tokens: number | null): void;
  /** A request failed; null: the last one succeeded. */
  error(err: unknown): void;
  /** More layers of the analysis on screen arrived (added to it in place). */
  layersLoaded?(layers: number[]): void;
}

export class AnalysisRunner {
  private controller: AbortController | null = null;
  private seq = 0;
  private running = false;
  private readonly pendingLayers = new Set<number>();

  constructor(
    private readonly store: Store<State>,
    private readonly viewer: Viewer,
    private readonly ui: RunnerUi,
  ) {}

  /** Analyse a text with model `m`; all layers at once unless the payload would be too large. */
  async run(m: ModelInfo, p: AnalysisInput): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const seq = ++this.seq;
    this.pendingLayers.clear();
    this.store.update({ text: p.text, textB: p.textB, mask: p.mask });
    this.running = true;
    this.ui.busy(estimateTokens(p.text + p.textB));
    this.viewer.setLoading(p.mask.length ? "Analysing with masked tokens\u2026" : "Analysing\u2026");
    try {
      const got = await postAnalysis(m, p, this.store.state.layer, controller.signal);
      if (seq !== this.seq) return;
      this.ui.error(null);
      if (got.mode === "lazy") {
        const hd = got.header;
        this.store.update({ mask: hd.mask, ...showDocument(this.store.state, { id: got.id, header: hd, maskToken: m.mask_token }) });
        this.viewer.showMessage("This text is long: the document view below shows it.");
        return;
      }
      const a = analysisOf(m, got);
      this.store.update({ mask: a.header.mask, ...showAnalysis(this.store.state, a) });
      const missing = restInOneGo(a);
      if (missing.length) void this.fetchLayers(missing);
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.ui.error(err);
      if (this.store.state.analysis) this.viewer.setLoading(null);
      else this.viewer.showMessage("Nothing to show: the analysis failed (see the error above).");
    } finally {
      if (seq === this.seq) {
        this.running = false;
        this.ui.busy(null);
      }
    }
  }

  /** Drop the analysis in flight (if any): its answer will not be shown. */
  cancel(): void {
    if (!this.running) return;
    this.controller?.abort();
    this.controller = new AbortController();
    this.seq++;
    this.pendingLayers.clear();
    this.running = false;
    this.ui.busy(null);
  }

  /** Fetch some layers of the analysis on screen (by its id) and add them to it. */
  async fetchLayers(layers: number[]): Promise<void> {
    const a = this.store.state.analysis;
    if (!a) return;
    const want = layers.filter((l) => !a.attention.has(l) && !this.pendingLayers.has(l));
    if (!want.length) return;
    const seq = this.seq;
    if (!a.id) {
      this.ui.error(new Error("the server gave no analysis id: analyse the text again to see other layers"));
      return;
    }
    want.forEach((l) => this.pendingLayers.add(l));
    try {
      await loadLayers(a, want, this.controller?.signal);
      if (seq !== this.seq) return;
      this.ui.layersLoaded?.(want);
      if (want.includes(this.store.state.layer)) this.viewer.render();
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.ui.error(err);
      this.viewer.showMessage(`Layer ${want.join(", ")} could not be loaded (see the error above).`);
    } finally {
      if (seq === this.seq) want.forEach((l) => this.pendingLayers.delete(l));
    }
  }
}

export interface CompareUi {
  /** B's analysis started (true) or ended. */
  busy(on: boolean): void;
  /** B's analysis failed; null: it succeeded. */
  error(err: unknown): void;
  /** More layers of B arrived (in place): redraw. */
  changed(): void;
}

/** B analyses kept for Back/Forward (a history entry restores B without a new POST). */
const KEPT_COMPARES = 4;

const compareKey = (model: string, c: CompareState) => JSON.stringify([model, c.text, c.textB, c.mask]);

/**
 * The compare view's input B (store `compare`): when it asks for an analysis (its inputs or the
 * model changed), POST /api/analyze for B only (A is never re-run), then B's other layers by
 * its id like A's. Follows the store; B's failures are not retried until `retry`.
 */
export class CompareRunner {
  private controller: AbortController | null = null;
  private seq = 0;
  private inflight = "";
  private failed = "";
  private readonly kept = new Map<string, Analysis>();
  private readonly pendingLayers = new Set<number>();

  constructor(
    private readonly store: Store<State>,
    private readonly model: () => ModelInfo | undefined,
    private readonly ui: CompareUi,
  ) {
    store.subscribe((s) => this.follow(s));
  }

  /** Analyse B again even if its last try failed. */
  retry(): void {
    this.failed = "";
    this.follow(this.store.state);
  }

  private follow(s: State): void {
    const c = s.compare;
    const m = this.model();
    if (!c || s.doc !== null || !c.text.trim() || !m || m.name !== s.model) {
      if (!c || !c.text.trim()) this.cancel();
      return;
    }
    if (compareAnalysed(c, m.name)) return;
    const key = compareKey(m.name, c);
    if (key === this.inflight || key === this.failed) return;
    const kept = this.kept.get(key);
    if (kept) {
      this.store.update({ compare: { ...c, analysis: kept } });
      return;
    }
    if (c.analysis) this.store.update({ compare: { ...c, analysis: null } });
    void this.run(m, c, key);
  }

  private cancel(): void {
    if (!this.inflight) return;
    this.controller?.abort();
    this.seq++;
    this.inflight = "";
    this.pendingLayers.clear();
    this.ui.busy(false);
  }

  private async run(m: ModelInfo, c: CompareState, key: string): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const seq = ++this.seq;
    this.inflight = key;
    this.pendingLayers.clear();
    this.ui.busy(true);
    try {
      const got = await postAnalysis(m, c, this.store.state.layer, controller.signal);
      if (seq !== this.seq) return;
      if (got.mode === "lazy") {
        this.failed = key;
        this.ui.error(new ApiError("input B is long (the server analyses it lazily): compare is not offered for long inputs", "CompareTooLong", 0));
        return;
      }
      this.ui.error(null);
      const b = analysisOf(m, got);
      this.kept.delete(key);
      this.kept.set(key, b);
      if (this.kept.size > KEPT_COMPARES) this.kept.delete(this.kept.keys().next().value as string);
      const cur = this.store.state.compare;
      if (cur && compareKey(this.store.state.model, cur) === key) this.store.update({ compare: { ...cur, analysis: b } });
      const missing = restInOneGo(b);
      if (missing.length) void this.fetchLayers(missing);
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.failed = key;
      this.ui.error(err);
    } finally {
      if (seq === this.seq) {
        this.inflight = "";
        this.ui.busy(false);
      }
    }
  }

  /** Fetch some layers of B (by its id) and add them to it. */
  async fetchLayers(layers: number[]): Promise<void> {
    const b = this.store.state.compare?.analysis;
    if (!b) return;
    const want = layers.filter((l) => !b.attention.has(l) && !this.pendingLayers.has(l));
    if (!want.length) return;
    const seq = this.seq;
    want.forEach((l) => this.pendingLayers.add(l));
    try {
      await loadLayers(b, want, this.controller?.signal);
      if (seq === this.seq) this.ui.changed();
    } catch (err) {
      if ((err as Error)?.name === "AbortError" || seq !== this.seq) return;
      this.ui.error(err);
    } finally {
      if (seq === this.seq) want.forEach((l) => this.pendingLayers.delete(l));
    }
  }
}
