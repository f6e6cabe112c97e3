// The widget's lenses asked of the kernel (hosts/widget/kernelLenses.ts): nothing is asked until a
// part is needed, each part once per analysis (a new frame of the same analysis asks nothing), the
// answers feed the LensSource (JSON, and the rollout's frame as a buffer), and an answer for an
// analysis the view no longer shows is ignored.
import { describe, expect, it } from "vitest";
import { AttentionLayers, decodeFrame } from "../../src/attention/frame";
import { KernelLensParts, kernelLensSource, SUPERSEDED, type LensAnswer, type LensPartName } from "../../src/hosts/widget/kernelLenses";
import type { HeadScoresData } from "../../src/lenses/source";
import type { Analysis } from "../../src/store";
import { randomFrame } from "../fixtures/frame";
import { arrayFrame } from "../long/arrays";

const TEXTS = ["the", "cat", "sat"];
const L = 2;
const T = TEXTS.length;

function analysis(mask: number[] = []): Analysis {
  const frame = decodeFrame(randomFrame(TEXTS, [], L, 2, { causal: true, seed: 3 }));
  return { header: { ...frame.header, mask }, attention: AttentionLayers.of(frame), maskToken: null };
}

function keyOf(a: Analysis): LensAnswer["key"] {
  return { text: a.header.text, text_b: a.header.text_b ?? null, mask: a.header.mask ?? [], n_tokens: a.header.tokens.length };
}

const scores: HeadScoresData = { names: ["self"], layers: L, heads: 2, scores: { self: [[0.5, null], [1, 0]] } };

function kernel() {
  const sent: { type: "lens"; id: string; part: LensPartName }[] = [];
  const { source, parts } = kernelLensSource((m) => sent.push(m));
  const answer = (i: number, key: LensAnswer["key"], result: unknown, buffers?: ArrayBufferView[]) =>
    parts.receive({ type: "lens", id: sent[i].id, part: sent[i].part, key, result }, buffers);
  return { sent, source, parts, answer };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("the widget's kernel lenses", () => {
  it("asks for a part only when needed, once per analysis", async () => {
    const { sent, source, answer } = kernel();
    const a = analysis();
    expect(sent).toEqual([]);
    const first = source.headScores(a);
    const again = source.headScores(analysis()); // another frame of the same analysis
    await tick();
    expect(sent.map((m) => [m.type, m.part])).toEqual([["lens", "head_scores"]]);
    expect(answer(0, keyOf(a), { data: scores })).toBe(true);
    expect(await first).toEqual(scores);
    expect(await again).toEqual(scores);
    expect(await source.headScores(a)).toEqual(scores);
    expect(sent.length).toBe(1);
    // the kernel's error is the rejection's message
    const lens = source.logitLens(a);
    await tick();
    expect(sent[1].part).toBe("logit_lens");
    answer(1, keyOf(a), { error: "minilm-l6 has no output head" });
    await expect(lens).rejects.toThrow("no output head");
  });

  it("reads the rollout from the answer's buffer", async () => {
    const { sent, source, answer } = kernel();
    const a = analysis();
    const values = Array.from({ length: L * T * T }, (_, k) => (k % 4) / 8);
    const asked = source.rollout(a, { mode: "rollout", layer: 1, heads: null, weights: null });
    await tick();
    expect(sent.map((m) => m.part)).toEqual(["rollout"]);
    answer(0, keyOf(a), { layers: [0, 1], residual: 0.5 }, [new DataView(arrayFrame([L, T, T], values, { mode: "rollout", layers: [0, 1] }))]);
    const r = await asked;
    expect([r.mode, r.layers, r.T]).toEqual(["rollout", [0, 1], T]);
    expect(Array.from(r.data)).toEqual(values);
    // a selection of heads is rolled out here, from the same answer (no new question)
    const sel = await source.rollout(a, { mode: "rollout", layer: 1, heads: [1], weights: null });
    expect(sel.layers).toEqual([0, 1]);
    expect(sent.length).toBe(1);
    // flow: the kernel says why not
    const flow = source.rollout(a, { mode: "flow", layer: 1, heads: null, weights: null });
    await tick();
    answer(1, keyOf(a), { error: "attention flow is not carried in this view" });
    await expect(flow).rejects.toThrow("not carried");
  });

  it("ignores an answer for another analysis and asks again for the new one", async () => {
    const { sent, source, answer } = kernel();
    const a = analysis();
    const b = analysis([1]);
    const old = source.headScores(a);
    await tick();
    // the kernel moved on to b (a mask) before answering: its answer is for b
    answer(0, keyOf(b), { data: scores });
    await expect(old).rejects.toThrow(SUPERSEDED);
    const now = source.headScores(b);
    await tick();
    expect(sent.map((m) => m.part)).toEqual(["head_scores", "head_scores"]);
    answer(1, keyOf(b), { data: scores });
    expect(await now).toEqual(scores);
  });

  it("leaves other messages and other views' answers alone", () => {
    const parts = new KernelLensParts(() => undefined);
    expect(parts.receive({ type: "search" })).toBe(false);
    expect(parts.receive({ type: "lens", id: "someone-else-1", part: "rollout", key: null, result: {} })).toBe(false);
    expect(parts.receive(null)).toBe(false);
  });
});
