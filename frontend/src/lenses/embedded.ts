// The LensSource of the hosts without a server (the HTML export, the notebook widget): the lenses
// are computed in Python (src/exbert/export/lenses.py, src/exbert/notebook/lenses.py) in parts:
//
//   key: {text, text_b, mask, n_tokens}                    (which analysis they are for)
//   logit_lens: {data: LogitLensData} | {error}
//   head_scores: {data: HeadScoresData} | {error}
//   rollout: {layers, residual} | {error}  + a float16 array frame [len(layers), T, T] (all heads)
//   flow: {layers, residual} | {error}     + the same for attention flow
//
// The HTML export carries them all with the analysis (`info` JSON and the frames: a fixed
// payload, embeddedLensSource); the widget asks its kernel for one part when the view first needs
// it (hosts/widget/kernelLenses.ts). Both answer through `LensParts`. The exports and the widget
// leave flow out (max-flow is too slow to compute for each one): its `error` says so, and is what
// the view shows in flow mode.
//
// Rollout of a selection of heads (or weights) is computed here from the analysis' own attention
// (a chain of T x T products, the same maths as exbert.rollout) when every layer is in the frame
// and the work is small (MAX_JS_ROLLOUT_WORK); attention flow of a selection needs a server.

import type { Analysis } from "../store";
import { combineHeads, equalWeights } from "../attention/math";
import { rolloutData } from "./http";
import type { HeadScoresData, LensSource, LogitLensData, RolloutData, RolloutRequest } from "./source";

export type Part<T> = { data: T } | { error: string };
export type Arrays = { layers: number[]; residual: number } | { error: string };
type Bytes = ArrayBuffer | ArrayBufferView;

export interface EmbeddedLensInfo {
  key: { text: string; text_b: string | null; mask: number[]; n_tokens: number };
  logit_lens: Part<LogitLensData>;
  head_scores: Part<HeadScoresData>;
  rollout: Arrays;
  flow: Arrays;
}

export interface EmbeddedLensPayload {
  info: EmbeddedLensInfo;
  rollout: Bytes | null;
  flow: Bytes | null;
}

/** The all-heads rollout or flow of an analysis: what was computed and its array frame. */
export interface LensArrays {
  meta: Arrays;
  bytes: Bytes | null;
}

/** Where EmbeddedLenses gets the parts of analysis `a` (rejecting when it has none for `a`). */
export interface LensParts {
  logitLens(a: Analysis): Promise<Part<LogitLensData>>;
  headScores(a: Analysis): Promise<Part<HeadScoresData>>;
  arrays(a: Analysis, mode: "rollout" | "flow"): Promise<LensArrays>;
}

/** Most multiply-adds (layers x T^3) of a rollout of selected heads computed in the browser. */
export const MAX_JS_ROLLOUT_WORK = 1e9;

/** A copy of `v`'s bytes as an ArrayBuffer of its own (what decodeArray reads). */
export function toArrayBuffer(v: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (v instanceof ArrayBuffer) return v;
  const out = new Uint8Array(v.byteLength);
  out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return out.buffer;
}

/** Whether `info` was computed for analysis `a` (same text, pair, mask and tokens). */
export function isFor(info: Pick<EmbeddedLensInfo, "key">, a: Analysis): boolean {
  const h = a.header;
  const k = info.key;
  return (
    k.text === h.text &&
    (k.text_b ?? null) === (h.text_b ?? null) &&
    k.n_tokens === h.tokens.length &&
    (k.mask ?? []).join(",") === (h.mask ?? []).join(",")
  );
}

/**
 * Rollout of one mix of heads: per layer A = the weighted mix (rows renormalised), then
 * A' = residual I + (1 - residual) A with rows renormalised (a row with no mass: the identity),
 * rolled out as R_0 = A'_0, R_l = A'_l R_{l-1} (exbert.analysis.rollout).
 * `head(l, h)` gives head h of layer l as a row-major T x T matrix. Returns [layers, T, T].
 */
export function rolloutOf(
  head: (layer: number, h: number) => ArrayLike<number>,
  nLayers: number,
  T: number,
  heads: readonly number[],
  weights: readonly number[],
  residual: number,
): Float32Array {
  const n = T * T;
  const out = new Float32Array(nLayers * n);
  let prev: Float32Array | null = null;
  for (let l = 0; l < nLayers; l++) {
    const a = combineHeads(
      heads.map((h) => head(l, h)),
      weights,
      T,
    );
    for (let i = 0; i < T; i++) {
      const o = i * T;
      let s = 0;
      for (let j = 0; j < T; j++) {
        const v = (1 - residual) * a[o + j] + (i === j ? residual : 0);
        a[o + j] = v;
        s += v;
      }
      if (s > 0) for (let j = 0; j < T; j++) a[o + j] /= s;
      else a[o + i] = 1; // a row with no mass keeps the identity (as exbert.rollout)
    }
    const r = out.subarray(l * n, (l + 1) * n);
    if (!prev) r.set(a);
    else {
      for (let i = 0; i < T; i++) {
        const o = i * T;
        for (let k = 0; k < T; k++) {
          const w = a[o + k];
          if (w === 0) continue;
          const pk = k * T;
          for (let j = 0; j < T; j++) r[o + j] += w * prev[pk + j];
        }
      }
    }
    prev = r;
  }
  return out;
}

export class EmbeddedLenses implements LensSource {
  /** Set by a host that can analyse a probe (the widget's kernel); absent: not offered. */
  inductionProbe?: () => Promise<void>;

  constructor(private readonly parts: LensParts) {}

  async logitLens(a: Analysis): Promise<LogitLensData> {
    const part = await this.parts.logitLens(a);
    if ("error" in part) throw new Error(part.error);
    return part.data;
  }

  async headScores(a: Analysis): Promise<HeadScoresData> {
    const part = await this.parts.headScores(a);
    if ("error" in part) throw new Error(part.error);
    return part.data;
  }

  async rollout(a: Analysis, req: RolloutRequest): Promise<RolloutData> {
    const nHeads = a.header.n_heads;
    const all = req.heads === null || (req.heads.length === nHeads && req.weights === null);
    const { meta, bytes } = await this.parts.arrays(a, req.mode);
    if (req.mode === "flow" && "error" in meta) throw new Error(meta.error);
    if (all) {
      if ("error" in meta) throw new Error(meta.error);
      if (!bytes) throw new Error(`this view carries no attention ${req.mode}`);
      return rolloutData(toArrayBuffer(bytes), req);
    }
    if (req.mode === "flow") {
      throw new Error("this view carries the attention flow of all heads only: select all heads (or use `exbert serve`)");
    }
    return this.rolloutOfHeads(a, req.heads ?? [], req.weights, "residual" in meta ? meta.residual : 0.5);
  }

  private rolloutOfHeads(a: Analysis, heads: number[], weights: number[] | null, residual: number): RolloutData {
    const { nLayers, T } = a.attention;
    const missing = a.attention.missingLayers();
    if (missing.length) {
      throw new Error("the rollout of a selection of heads needs every layer, and this view holds only some: select all heads");
    }
    if (nLayers * T * T * T > MAX_JS_ROLLOUT_WORK) {
      throw new Error(`the rollout of a selection of heads of ${T} tokens is too long to compute here: select all heads`);
    }
    const w = weights && weights.length === heads.length ? weights : equalWeights(heads.length);
    const data = rolloutOf((l, h) => a.attention.head(l, h), nLayers, T, heads, w, residual);
    return { mode: "rollout", layers: Array.from({ length: nLayers }, (_, k) => k), T, data };
  }
}

/** The parts of a fixed payload (the HTML export): a question about another analysis is refused. */
export function payloadParts(payload: EmbeddedLensPayload | null): LensParts {
  const infoFor = async (a: Analysis): Promise<EmbeddedLensPayload> => {
    if (!payload) throw new Error("this view carries no lenses");
    if (!isFor(payload.info, a)) throw new Error("the lenses carried are for another analysis");
    return payload;
  };
  return {
    logitLens: async (a) => (await infoFor(a)).info.logit_lens,
    headScores: async (a) => (await infoFor(a)).info.head_scores,
    arrays: async (a, mode) => {
      const p = await infoFor(a);
      return mode === "flow" ? { meta: p.info.flow, bytes: p.flow } : { meta: p.info.rollout, bytes: p.rollout };
    },
  };
}

/** A LensSource over a fixed `payload` (the HTML export). */
export function embeddedLensSource(payload: EmbeddedLensPayload | null): EmbeddedLenses {
  return new EmbeddedLenses(payloadParts(payload));
}
