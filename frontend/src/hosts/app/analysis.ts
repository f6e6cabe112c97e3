// The web app's analyses: POST /api/analyze (attention "auto") for a text of the selected model.
// The server answers with the analysis id and its mode:
// - "full": the attention of all layers in one binary frame unless `layers x heads x T x T x 2`
//   bytes would exceed ALL_LAYERS_BYTES; then the current layer, and the other layers on demand
//   from GET /api/analyses/{id}/attention?layers=... (never a second POST: that re-ran the model).
// - "lazy" (a long text): no attention in the frame; the store's `doc` gets the header and id, and
//   the document view (src/long/) fetches what it shows by the id.
// The result goes into the store.

import { postJson } from "../../api/client";
import { ALL_LAYERS_BYTES, DEFAULT_TOP_K } from "../../api/limits";
import type { AnalyzeRequest, ModelInfo } from "../../api/types";
import { AttentionLayers } from "../../attention/frame";
import { payloadBytes } from "../../attention/math";
import type { Viewer } from "../../attention/viewer";
import { AnalysisRoutes, decodeAnalyzed } from "../../long/api";
import { estimateTokens } from "../../long/progress";
import { showAnalysis, showDocument, type State, type Store } from "../../store";

export interface AnalysisInput {
  text: string;
  textB: string;
  mask: number[];
}

export interface RunnerUi {
  /** A request for a new analysis started (with the estimated token count) or ended (null). */
  busy(tokens: number | null): void;
  /** A request failed; null: the last one succeeded. */
  error(err: unknown): void;
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
    // Rough (generous) token count before the server has tokenised: one per two UTF-8 bytes.
    // If the guess is low the frame is merely larger than planned; if the real payload turns
    // out small, the other layers follow in one request (below).
    const utf8 = new TextEncoder().encode(p.text + p.textB).length;
    const estT = Math.min(m.max_tokens || 512, Math.ceil(utf8 / 2) + 4);
    const perLayer = payloadBytes(m.layers, m.heads, estT) > ALL_LAYERS_BYTES;
    const req: AnalyzeRequest = {
      model: m.name,
      text: p.text,
      text_b: p.textB ? p.textB : null,
      mask: p.mask,
      top_k: DEFAULT_TOP_K,
      layers: perLayer ? [this.store.state.layer] : null,
      attention: "auto",
    };
    this.running = true;
    this.ui.busy(estimateTokens(p.text + p.textB));
    this.viewer.setLoading(p.mask.length ? "Analysing with masked tokens\u2026" : "Analysing\u2026");
    try {
      const res = await postJson("/api/analyze", req, "application/x-exbert-analysis", controller.signal);
      const got = decodeAnalyzed(await res.arrayBuffer(), res.status);
      if (seq !== this.seq) return;
      this.ui.error(null);
      if (got.mode === "lazy") {
        const hd = got.header;
        this.store.update({ mask: hd.mask, ...showDocument(this.store.state, { id: got.id, header: hd, maskToken: m.mask_token }) });
        this.viewer.showMessage("This text is long: the document view below shows it.");
        return;
      }
      const hd = got.frame.header;
      const attention = AttentionLayers.of(got.frame);
      const a = { header: hd, attention, maskToken: m.mask_token, ...(got.id ? { id: got.id } : {}) };
      this.store.update({ mask: hd.mask, ...showAnalysis(this.store.state, a) });
      const missing = attention.missingLayers();
      if (missing.length && payloadBytes(hd.n_layers, hd.n_heads, hd.tokens.length) <= ALL_LAYERS_BYTES) {
        void this.fetchLayers(missing);
      }
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
      const frame = await new AnalysisRoutes(a.id).attention(want, this.controller?.signal);
      if (seq !== this.seq) return;
      a.attention.add(frame.attention);
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
