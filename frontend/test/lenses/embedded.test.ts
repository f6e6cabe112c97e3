// The LensSource of the HTML export and the widget (lenses computed in Python, in parts): answers
// from the payload, the payload's errors as rejections, a payload for another analysis refused,
// and the in-browser rollout of a selection of heads. (The widget's parts, asked of the kernel:
// test/hosts/widgetLenses.test.ts.)
import { describe, expect, it } from "vitest";
import { AttentionLayers, decodeFrame } from "../../src/attention/frame";
import { combineHeads } from "../../src/attention/math";
import { embeddedLensSource, isFor, rolloutOf, type EmbeddedLensPayload } from "../../src/lenses/embedded";
import type { HeadScoresData, LogitLensData } from "../../src/lenses/source";
import type { Analysis } from "../../src/store";
import { randomFrame } from "../fixtures/frame";
import { arrayFrame } from "../long/arrays";

const TEXTS = ["the", "cat", "sat", "on"];
const L = 3;
const H = 2;
const T = TEXTS.length;

function analysis(seed = 1): Analysis {
  const frame = decodeFrame(randomFrame(TEXTS, [], L, H, { causal: true, seed }));
  return { header: frame.header, attention: AttentionLayers.of(frame), maskToken: null };
}

const lens = { model: "test", lens: "logit", top_k: 1, positions: [0, 1, 2, 3], top: [], target_ids: [], target_tokens: [], target_prob: [], target_rank: [] } as LogitLensData;
const scores: HeadScoresData = { names: ["self"], layers: L, heads: H, scores: { self: [[null, 0.5]] } };

function payload(a: Analysis, extra: Partial<EmbeddedLensPayload["info"]> = {}): EmbeddedLensPayload {
  const values = Array.from({ length: L * T * T }, (_, k) => (k % 5) / 8);
  return {
    info: {
      key: { text: a.header.text, text_b: null, mask: [], n_tokens: T },
      logit_lens: { data: lens },
      head_scores: { data: scores },
      rollout: { layers: [0, 1, 2], residual: 0.5 },
      flow: { error: "attention flow was left out of this view" },
      ...extra,
    },
    rollout: new DataView(arrayFrame([L, T, T], values, { mode: "rollout", layers: [0, 1, 2] })),
    flow: null,
  };
}

function matmul(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) for (let j = 0; j < T; j++) out[i * T + j] += a[i * T + k] * b[k * T + j];
  return out;
}

describe("embedded lenses", () => {
  it("answers from the payload and rejects with its messages", async () => {
    const a = analysis();
    const src = embeddedLensSource(payload(a, { logit_lens: { error: "minilm has no output head" } }));
    await expect(src.logitLens(a)).rejects.toThrow("no output head");
    expect(await src.headScores(a)).toEqual(scores);
    const r = await src.rollout(a, { mode: "rollout", layer: 1, heads: null, weights: null });
    expect(r.layers).toEqual([0, 1, 2]);
    expect(r.data[1]).toBeCloseTo(1 / 8, 3);
    await expect(src.rollout(a, { mode: "flow", layer: 1, heads: null, weights: null })).rejects.toThrow("left out");
    await expect(src.rollout(a, { mode: "flow", layer: 1, heads: [0], weights: null })).rejects.toThrow("left out");
    // a payload that carries flow: all heads from it, a selection refused
    const withFlow = payload(a, { flow: { layers: [0, 1, 2], residual: 0.5 } });
    withFlow.flow = arrayFrame([L, T, T], Array.from({ length: L * T * T }, () => 0.25), { mode: "flow", layers: [0, 1, 2] });
    const f = await embeddedLensSource(withFlow).rollout(a, { mode: "flow", layer: 2, heads: null, weights: null });
    expect([f.mode, f.layers, f.data[5]]).toEqual(["flow", [0, 1, 2], 0.25]);
    await expect(embeddedLensSource(withFlow).rollout(a, { mode: "flow", layer: 1, heads: [0], weights: null })).rejects.toThrow("all heads");
  });

  it("refuses a payload for another analysis", async () => {
    const a = analysis();
    const other = { ...a, header: { ...a.header, mask: [1] } };
    expect(isFor(payload(a).info, a)).toBe(true);
    expect(isFor(payload(a).info, other)).toBe(false);
    await expect(embeddedLensSource(payload(a)).logitLens(other)).rejects.toThrow("another analysis");
    await expect(embeddedLensSource(payload(a)).rollout(other, { mode: "rollout", layer: 0, heads: null, weights: null })).rejects.toThrow("another analysis");
    await expect(embeddedLensSource(null).logitLens(a)).rejects.toThrow("no lenses");
  });

  it("rolls out a selection of heads from the analysis' attention", async () => {
    const a = analysis(7);
    const src = embeddedLensSource(payload(a));
    const r = await src.rollout(a, { mode: "rollout", layer: 2, heads: [1, 0], weights: [3, 1] });
    expect(r.layers).toEqual([0, 1, 2]);
    // by hand: A'_l = (I + mix_l) / 2 (rows already sum to 1), R_l = A'_l R_{l-1}
    let want: Float32Array | null = null;
    for (let l = 0; l < L; l++) {
      const mix = combineHeads([a.attention.head(l, 1), a.attention.head(l, 0)], [3, 1], T);
      const step = mix.map((v, k) => 0.5 * v + (k % (T + 1) === 0 ? 0.5 : 0));
      want = want ? matmul(step, want) : step;
      const got = r.data.subarray(l * T * T, (l + 1) * T * T);
      for (let k = 0; k < T * T; k++) expect(got[k]).toBeCloseTo(want[k], 5);
    }
    // rows sum to 1, causal zeros stay
    for (let i = 0; i < T; i++) {
      const row = r.data.subarray(2 * T * T + i * T, 2 * T * T + (i + 1) * T);
      expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      for (let j = i + 1; j < T; j++) expect(row[j]).toBe(0);
    }
  });

  it("keeps the identity through heads that attend to themselves", () => {
    const eye = new Float32Array(T * T).map((_, k) => (k % (T + 1) === 0 ? 1 : 0));
    const r = rolloutOf(() => eye, 2, T, [0, 1], [0.5, 0.5], 0.3);
    expect(Array.from(r.subarray(T * T))).toEqual(Array.from(eye));
  });
});
