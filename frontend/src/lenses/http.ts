// The web app's LensSource: the server computes the lenses of the analysis it keeps by id
// (nothing re-runs the model except the induction probe, which analyses a new text).
//
//   GET  /api/analyses/{id}/lens?top_k=5          -> LogitLensData (422 NoOutputHead: encoders)
//   GET  /api/analyses/{id}/head-scores           -> HeadScoresData
//   GET  /api/analyses/{id}/rollout?mode=&layer=&heads=&weights=&residual= -> float16 frame
//        {mode, layers: [layer], shape [1, T, T]} (both modes: the layer asked for)
//   POST /api/induction-probe {model, length, seed} -> {text, n_tokens}; the app analyses `text`.
// Every GET takes the caller's AbortSignal (aborted when another analysis is shown) and is
// retried after a 503's Retry-After (the server's memory budget is busy), RETRIES times.

import { DEFAULT_LENS_TOP_K, DEFAULT_PROBE_LENGTH } from "../api/limits";
import { postJson, request } from "../api/client";
import { decodeArray, retryAfter, RETRIES } from "../long/api";
import type { Analysis } from "../store";
import { DEFAULT_RESIDUAL } from "./maths";
import type { HeadScoresData, LensSource, LogitLensData, RolloutData, RolloutRequest } from "./source";

export interface HttpLensOptions {
  /** The model the induction probe runs on (the one selected). */
  model(): string;
  /** Analyse `text` as the user's input (sets the text field and runs the analysis); without
   * it, the induction probe is not offered. */
  analyse?(text: string): Promise<void> | void;
  /** Probe length in tokens (default DEFAULT_PROBE_LENGTH, from view.py). */
  probeLength?: number;
}

function base(a: Analysis): string {
  if (!a.id) throw new Error("the server gave no analysis id: analyse the text again");
  return `/api/analyses/${encodeURIComponent(a.id)}`;
}

/** The query of a rollout request (heads and weights only when heads are selected). */
export function rolloutQuery(req: RolloutRequest): string {
  const residual = req.residual ?? DEFAULT_RESIDUAL;
  const q = new URLSearchParams({ mode: req.mode, layer: String(req.layer), residual: String(residual) });
  if (req.heads) {
    q.set("heads", req.heads.join(","));
    if (req.weights && req.weights.length === req.heads.length) q.set("weights", req.weights.join(","));
  }
  return q.toString();
}

/** A rollout frame's content: [len(layers), T, T] float32 with the layers from its header
 * (without them: one matrix is the layer asked for, several are layers 0..n-1). */
export function rolloutData(buf: ArrayBuffer, req: RolloutRequest): RolloutData {
  const arr = decodeArray(buf);
  const [n, T, T2] = arr.shape;
  if (arr.shape.length !== 3 || T !== T2) throw new Error(`rollout shape ${JSON.stringify(arr.shape)} is not [layers, T, T]`);
  const listed = arr.header.layers;
  const layers = Array.isArray(listed) ? listed.map(Number) : n === 1 ? [req.layer] : Array.from({ length: n }, (_, k) => k);
  if (layers.length !== n) throw new Error(`rollout lists ${layers.length} layers for ${n}`);
  return { mode: req.mode, layers, T, data: arr.data };
}

/** GET `path`; a 503 (busy) is retried after its Retry-After, RETRIES times, unless aborted. */
export async function getRetrying(path: string, signal?: AbortSignal, accept = "application/json"): Promise<Response> {
  for (let k = 0; ; k++) {
    try {
      return await request(path, { signal, headers: { Accept: accept } });
    } catch (err) {
      const wait = retryAfter(err);
      if (wait === null || k >= RETRIES || signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, wait * 1000));
      signal?.throwIfAborted();
    }
  }
}

export function httpLensSource(opts: HttpLensOptions): LensSource {
  let seed = 0;
  const source: LensSource = {
    async logitLens(a: Analysis, signal?: AbortSignal): Promise<LogitLensData> {
      const res = await getRetrying(`${base(a)}/lens?top_k=${DEFAULT_LENS_TOP_K}`, signal);
      return (await res.json()) as LogitLensData;
    },
    async headScores(a: Analysis, signal?: AbortSignal): Promise<HeadScoresData> {
      const res = await getRetrying(`${base(a)}/head-scores`, signal);
      return (await res.json()) as HeadScoresData;
    },
    async rollout(a: Analysis, req: RolloutRequest, signal?: AbortSignal): Promise<RolloutData> {
      const res = await getRetrying(`${base(a)}/rollout?${rolloutQuery(req)}`, signal, "application/x-exbert-analysis");
      return rolloutData(await res.arrayBuffer(), req);
    },
  };
  const analyse = opts.analyse;
  if (analyse) {
    source.inductionProbe = async () => {
      const body = { model: opts.model(), length: opts.probeLength ?? DEFAULT_PROBE_LENGTH, seed: seed++ };
      const res = await postJson("/api/induction-probe", body, "application/json");
      const got = (await res.json()) as { text: string; n_tokens?: number };
      await analyse(got.text);
    };
  }
  return source;
}
