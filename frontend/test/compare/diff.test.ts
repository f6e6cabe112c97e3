import { describe, expect, it } from "vitest";
import { alignTokens } from "../../src/compare/align";
import { attentionDiff, headChanges, predictionChanges, rankHeads, shownMatrix, shownPairs } from "../../src/compare/diff";
import { defaultState } from "../../src/store";
import { analysis, causal, identity, pred } from "./build";

const view = { ...defaultState(), hideSpecial: false };
const align = (a: ReturnType<typeof analysis>, b: ReturnType<typeof analysis>) =>
  alignTokens(a.header.tokens.map((t) => t.text), b.header.tokens.map((t) => t.text));

describe("attention difference", () => {
  it("is zero for the same input and B - A over aligned pairs otherwise", () => {
    const a = analysis({ texts: ["the", "cat", "sat"], heads: [[identity(3)]] });
    const same = attentionDiff(shownMatrix(a, view)!, 3, shownMatrix(a, view)!, 3, align(a, a).pairs);
    expect(same.maxAbs).toBe(0);
    expect(same.values).toHaveLength(9);
    // B inserts "big": aligned the, cat, sat = B's 0, 2, 3. B is causal-uniform, A attends to itself.
    const b = analysis({ texts: ["the", "big", "cat", "sat"], heads: [[causal(4)]] });
    const pairs = align(a, b).pairs;
    const d = attentionDiff(shownMatrix(a, view)!, 3, shownMatrix(b, view)!, 4, pairs);
    expect(d.pairs).toEqual([{ a: 0, b: 0 }, { a: 1, b: 2 }, { a: 2, b: 3 }]);
    // row "cat": B[2] = 1/3 on the, big, cat; A[1] = 1 on cat
    expect(d.values[1 * 3 + 0]).toBeCloseTo(1 / 3, 3);
    expect(d.values[1 * 3 + 1]).toBeCloseTo(1 / 3 - 1, 3);
    expect(d.values[0]).toBeCloseTo(0, 3); // the -> the: 1 in both
    expect(d.maxAbs).toBeCloseTo(0.75, 3); // sat -> sat: 1/4 - 1
  });

  it("mixes heads with the view's weights and hides the tokens the view hides", () => {
    const a = analysis({ texts: ["[CLS]", "a", "b", "[SEP]"], special: [0, 3], heads: [[identity(4), causal(4)]] });
    const one = shownMatrix(a, { ...view, heads: [1], weights: null })!;
    expect(one[2 * 4 + 0]).toBeCloseTo(1 / 3, 3);
    const hidden = shownMatrix(a, { ...view, hideSpecial: true, heads: [1], weights: null })!;
    expect(hidden[2 * 4 + 0]).toBe(0);
    expect(hidden[2 * 4 + 1] + hidden[2 * 4 + 2]).toBeCloseTo(1, 5);
    const mix = shownMatrix(a, { ...view, heads: [0, 1], weights: [3, 1] })!;
    expect(mix[1 * 4 + 1]).toBeCloseTo(0.75 + 0.25 * 0.5, 3);
    expect(shownPairs(align(a, a).pairs, a, a, { ...view, hideSpecial: true })).toEqual([{ a: 1, b: 1 }, { a: 2, b: 2 }]);
    expect(shownMatrix(a, { ...view, layer: 3 })).toBeNull();
  });
});

describe("head changes", () => {
  it("scores each head by its mean |B - A| over aligned pairs and ranks them", () => {
    const T = 3;
    const same = identity(T);
    const other = causal(T);
    // layer 0: head 0 same, head 1 changed; layer 1: head 0 changed, head 1 same
    const a = analysis({ texts: ["x", "y", "z"], heads: [[same, same], [same, same]] });
    const b = analysis({ texts: ["x", "y", "z"], heads: [[same, other], [other, same]] });
    const v = headChanges(a.attention, b.attention, align(a, b).pairs);
    // |causal - identity| summed: row 0: 0; row 1: 0.5+0.5; row 2: 1/3+1/3+2/3 -> 7/3 over 9 cells
    const expected = (1 + 4 / 3) / 9;
    expect(v[0]).toBeCloseTo(0, 3);
    expect(v[1]).toBeCloseTo(expected, 3);
    expect(v[2]).toBeCloseTo(expected, 3);
    expect(v[3]).toBeCloseTo(0, 3);
    expect(rankHeads(v, 2, 3).map((c) => [c.layer, c.head])).toEqual([[0, 1], [1, 0], [0, 0]]);
  });

  it("leaves a layer not loaded by either input as NaN (not ranked), and everything when nothing aligns", () => {
    const a = analysis({ texts: ["x", "y"], heads: [[identity(2)], null] });
    const b = analysis({ texts: ["x", "y"], heads: [[causal(2)], [causal(2)]] });
    const v = headChanges(a.attention, b.attention, align(a, b).pairs);
    expect(Number.isNaN(v[1])).toBe(true);
    expect(rankHeads(v, 1, 10)).toHaveLength(1);
    const c = analysis({ texts: ["p", "q"], heads: [[causal(2)], [causal(2)]] });
    expect([...headChanges(a.attention, c.attention, align(a, c).pairs)].every(Number.isNaN)).toBe(true);
  });

  it("only aligned tokens count: an inserted token changes nothing by itself", () => {
    const a = analysis({ texts: ["x", "y"], heads: [[identity(2)]] });
    const b = analysis({ texts: ["x", "new", "y"], heads: [[identity(3)]] });
    expect(headChanges(a.attention, b.attention, align(a, b).pairs)[0]).toBe(0);
  });
});

describe("prediction changes", () => {
  const texts = ["the", "cat", "sat"];
  const heads = [[identity(3)]];
  const base = [[pred("a", 0.5), pred("b", 0.2)], [pred("dog", 0.6), pred("cat", 0.3)], [pred("on", 0.9)]];

  it("lists masked tokens first, then another top-1, then probability moves; nothing when unchanged", () => {
    const a = analysis({ texts, heads, predictions: base });
    expect(predictionChanges(a, a, align(a, a).pairs)).toEqual([]);
    const b = analysis({
      texts,
      heads,
      masked: [2],
      predictions: [[pred("b", 0.6), pred("a", 0.3)], [pred("dog", 0.4), pred("cat", 0.3)], [pred("on", 0.9)]],
    });
    const c = predictionChanges(a, b, align(a, b).pairs);
    expect(c.map((x) => [x.a, x.topA.token, x.topB.token, x.masked])).toEqual([
      [2, "on", "on", true],
      [0, "a", "b", false],
      [1, "dog", "dog", false],
    ]);
    expect(c[1].probB).toBeCloseTo(0.3, 5);
    expect(c[1].delta).toBeCloseTo(-0.2, 5);
    expect(c[2].delta).toBeCloseTo(-0.2, 5);
  });

  it("counts A's top-1 missing from B's top-k as probability 0, and ignores moves under the threshold", () => {
    const a = analysis({ texts, heads, predictions: base });
    const b = analysis({ texts, heads, predictions: [[pred("z", 0.9)], [pred("dog", 0.58)], [pred("on", 0.9)]] });
    const c = predictionChanges(a, b, align(a, b).pairs);
    expect(c).toHaveLength(1);
    expect(c[0].probB).toBeNull();
    expect(c[0].delta).toBeCloseTo(-0.5, 5);
  });

  it("leaves special tokens out", () => {
    const t = ["[CLS]", "cat", "[SEP]"];
    const a = analysis({ texts: t, special: [0, 2], heads, predictions: base });
    const b = analysis({ texts: t, special: [0, 2], heads, predictions: [[pred("z", 0.9)], [pred("dog", 0.6)], [pred("x", 0.9)]] });
    expect(predictionChanges(a, b, align(a, b).pairs)).toEqual([]);
  });

  it("is empty when either input has no predictions", () => {
    const a = analysis({ texts, heads, predictions: base });
    const b = analysis({ texts, heads, predictions: null });
    expect(predictionChanges(a, b, align(a, b).pairs)).toEqual([]);
  });
});
