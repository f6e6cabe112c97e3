// The attention modes of the main view (store `lens.attentionMode`): "raw" draws the layer's
// heads as always; "rollout" and "flow" draw one rolled-out T x T matrix for the current layer
// (one mixed "head"), asked of the LensSource per (analysis, mode, heads, weights, residual,
// layer). The server answers the layer asked for (it keeps the rollout chain, so a layer change
// is a small request); a source with the data at hand (lenses/embedded.ts) may answer every
// layer at once, and the cache then serves the other layers from that answer.
// The answers live in an LRU bounded in bytes (MODE_CACHE_BYTES; the last one used is always
// kept); a change of the weights alone (a slider being dragged) waits WEIGHTS_DEBOUNCE_MS before
// asking, so that each step does not start a server job. A failure is shown, not kept: the next
// mode switch or analysis asks again (and a retryable one, retryable(), after a change of
// request). Requests for an analysis no longer shown are aborted.

import { ALL_LAYERS_BYTES } from "../api/limits";
import { messageOf } from "../api/client";
import type { Analysis, State } from "../store";
import { flowAllowed, MAX_FLOW_TOKENS, retryable, rolloutBase, rolloutKey, rolloutLayer } from "./maths";
import type { LensSource, RolloutData, RolloutRequest } from "./source";

/** What the view draws instead of the raw heads: a matrix, a wait, or why not. */
export type ModeMatrix = { matrix: Float32Array } | { pending: string } | { error: string };

/** Bytes of rolled-out answers kept (a few T x T float32 arrays; well below ALL_LAYERS_BYTES). */
export const MODE_CACHE_BYTES = ALL_LAYERS_BYTES / 4;
/** A change of the weights alone waits this long for the next one before asking. */
export const WEIGHTS_DEBOUNCE_MS = 150;

/** The request of the state's mode, or null in raw mode. */
export function rolloutRequest(s: Pick<State, "lens" | "layer" | "heads" | "weights">): RolloutRequest | null {
  const mode = s.lens.attentionMode;
  if (mode === "raw") return null;
  return { mode, layer: s.layer, heads: s.heads, weights: s.heads ? s.weights : null };
}

interface Answer {
  /** The analysis' serial and rolloutBase of the request. */
  base: string;
  data: RolloutData;
}

/** Rolled-out answers, least recently used first, bounded in bytes. */
export class RolloutCache {
  private answers: Answer[] = [];

  constructor(readonly maxBytes = MODE_CACHE_BYTES) {}

  /** Layer `layer` of an answer for `base` (marks it used), or null. */
  get(base: string, layer: number): Float32Array | null {
    for (let k = this.answers.length - 1; k >= 0; k--) {
      const e = this.answers[k];
      if (e.base !== base) continue;
      const m = rolloutLayer(e.data, layer);
      if (!m) continue;
      this.answers.splice(k, 1);
      this.answers.push(e);
      return m;
    }
    return null;
  }

  put(base: string, data: RolloutData): void {
    this.answers.push({ base, data });
    while (this.answers.length > 1 && this.bytes > this.maxBytes) this.answers.shift();
  }

  get bytes(): number {
    return this.answers.reduce((n, e) => n + e.data.data.byteLength, 0);
  }

  get size(): number {
    return this.answers.length;
  }
}

export class AttentionModes {
  readonly cache = new RolloutCache();
  private readonly serials = new WeakMap<Analysis, number>();
  private nextSerial = 0;
  private readonly pending = new Map<string, Promise<void>>();
  private readonly errors = new Map<string, Error>();
  /** Errors to forget once shown (retryable ones: the next render that wants them asks again). */
  private readonly retryLater = new Set<string>();
  private analysis: Analysis | null = null;
  private controller = new AbortController();
  private mode = "";
  /** The last request asked for (its key without the weights, and the weights). */
  private last: { shape: string; weights: string } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Requests started (tests). */
  requests = 0;

  /** `loaded` is called when an answer arrives or a wait ends (the view redraws). */
  constructor(
    private readonly source: LensSource,
    private readonly loaded: () => void,
    private readonly debounceMs = WEIGHTS_DEBOUNCE_MS,
  ) {}

  private serial(a: Analysis): number {
    let n = this.serials.get(a);
    if (n === undefined) this.serials.set(a, (n = this.nextSerial++));
    return n;
  }

  /** The matrix to draw for state `s`, or null to draw the raw heads. */
  matrix(s: State): ModeMatrix | null {
    const a = s.analysis;
    if (a !== this.analysis) {
      // (another analysis: what was asked for the last one is no longer wanted)
      this.controller.abort();
      this.controller = new AbortController();
      this.pending.clear();
      this.errors.clear();
      this.analysis = a;
    }
    const req = rolloutRequest(s);
    if (req?.mode !== this.mode) {
      this.errors.clear(); // (a mode switch asks again)
      this.mode = req?.mode ?? "";
    }
    if (!a || !req) return null;
    const T = a.header.tokens.length;
    if (req.mode === "flow" && !flowAllowed(T)) {
      return { error: `Attention flow is offered up to ${MAX_FLOW_TOKENS} tokens (this input has ${T}): use rollout.` };
    }
    const base = `${this.serial(a)}|${rolloutBase(req)}`;
    const key = `${this.serial(a)}|${rolloutKey(req)}`;
    const label = req.mode === "flow" ? `attention flow of layer ${req.layer}` : `attention rollout to layer ${req.layer}`;
    const pending = { pending: `Computing the ${label}\u2026` };
    const m = this.cache.get(base, req.layer);
    if (m) return { matrix: m };
    const err = this.errors.get(key);
    if (err) return { error: `The ${label} could not be computed: ${err.message}` };
    if (this.pending.has(key)) return pending;
    const weights = String(req.weights);
    const shape = `${this.serial(a)}|${rolloutKey({ ...req, weights: null })}`;
    const weightsOnly = this.last !== null && this.last.shape === shape && this.last.weights !== weights;
    this.last = { shape, weights };
    if (weightsOnly && this.debounceMs > 0) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.loaded();
      }, this.debounceMs);
      return pending;
    }
    if (this.timer !== null) return pending; // (the slider is still moving)
    this.start(a, req, base, key);
    return pending;
  }

  private start(a: Analysis, req: RolloutRequest, base: string, key: string): void {
    this.requests++;
    const signal = this.controller.signal;
    const p = this.source.rollout(a, req, signal).then(
      (d) => {
        if (signal.aborted) return;
        this.cache.put(base, d);
        if (!rolloutLayer(d, req.layer)) this.errors.set(key, new Error(`the answer has no layer ${req.layer}`));
      },
      (err: unknown) => {
        if (signal.aborted) return;
        const e = err instanceof Error ? err : new Error(messageOf(err));
        // (a retryable failure is shown once, then asked again by the next render that wants it)
        this.errors.set(key, e);
        if (retryable(e)) this.retryLater.add(key);
      },
    );
    this.pending.set(key, p);
    void p.then(() => {
      if (signal.aborted || this.pending.get(key) !== p) return;
      this.pending.delete(key);
      this.loaded();
      // (shown: a retryable error is forgotten now, so that a later change back asks again)
      if (this.retryLater.delete(key)) this.errors.delete(key);
    });
  }
}
