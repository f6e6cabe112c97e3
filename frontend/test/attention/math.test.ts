import { describe, expect, it } from "vitest";
import {
  combineHeads,
  equalWeights,
  hideTokens,
  normaliseRows,
  normaliseWeights,
  payloadBytes,
  thresholdEdges,
} from "../../src/attention/math";

const rowSums = (m: ArrayLike<number>, T: number) =>
  Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => m[i * T + j]).reduce((a, b) => a + b, 0));

describe("thresholdEdges", () => {
  it("keeps each row's strongest edges until the fraction is covered", () => {
    const T = 4;
    const m = new Float32Array([
      0.5, 0.3, 0.15, 0.05, // 0.5 < 0.7, 0.8 >= 0.7 -> 2 edges
      0.1, 0.1, 0.1, 0.7, // 0.7 covers 0.7 exactly -> 1 edge
      0.25, 0.25, 0.25, 0.25, // needs 3 of 4
      0.05, 0.9, 0.05, 0, // 1 edge
    ]);
    const edges = thresholdEdges(m, T, 0.7);
    const byRow = (i: number) => edges.filter((e) => e.from === i).map((e) => e.to);
    expect(byRow(0)).toEqual([0, 1]);
    expect(byRow(1)).toEqual([3]);
    expect(byRow(2)).toHaveLength(3);
    expect(byRow(3)).toEqual([1]);
    expect(edges.find((e) => e.from === 0 && e.to === 1)!.weight).toBeCloseTo(0.3, 6);
  });

  it("keeps at least one edge per non-empty row, even at tiny fractions", () => {
    const T = 3;
    const m = new Float32Array([0.2, 0.5, 0.3, 1, 0, 0, 0.3, 0.3, 0.4]);
    const edges = thresholdEdges(m, T, 0.01);
    expect(edges).toEqual([
      { from: 0, to: 1, weight: 0.5 },
      { from: 1, to: 0, weight: 1 },
      { from: 2, to: 2, weight: expect.closeTo(0.4, 6) },
    ]);
  });

  it("draws every positive edge at fraction 1 and never a zero edge", () => {
    const T = 3;
    const m = new Float32Array([0.2, 0.5, 0.3, 1, 0, 0, 0, 0, 0]);
    const edges = thresholdEdges(m, T, 1);
    expect(edges.filter((e) => e.from === 0)).toHaveLength(3);
    expect(edges.filter((e) => e.from === 1)).toHaveLength(1);
    expect(edges.filter((e) => e.from === 2)).toHaveLength(0);
    expect(edges.every((e) => e.weight > 0)).toBe(true);
  });

  it("works relative to the row's own total when rows do not sum to 1", () => {
    const m = new Float32Array([2, 6, 2, 0, 0, 0, 0, 0, 0]);
    expect(thresholdEdges(m, 3, 0.7).map((e) => e.to)).toEqual([1, 0]);
  });
});

describe("hideTokens", () => {
  it("zeroes special rows and columns and renormalises the others to 1", () => {
    const T = 4;
    // token 0 = [CLS], token 3 = [SEP]
    const m = new Float32Array([
      0.7, 0.1, 0.1, 0.1,
      0.5, 0.2, 0.2, 0.1,
      0.6, 0.1, 0.3, 0.0,
      0.25, 0.25, 0.25, 0.25,
    ]);
    const out = hideTokens(m, T, [true, false, false, true]);
    expect(out).not.toBe(m);
    for (let k = 0; k < T; k++) {
      expect(out[0 * T + k]).toBe(0);
      expect(out[3 * T + k]).toBe(0);
      expect(out[k * T + 0]).toBe(0);
      expect(out[k * T + 3]).toBe(0);
    }
    const sums = rowSums(out, T);
    expect(sums[1]).toBeCloseTo(1, 6);
    expect(sums[2]).toBeCloseTo(1, 6);
    expect(out[1 * T + 1]).toBeCloseTo(0.5, 6); // 0.2 / 0.4
    expect(out[2 * T + 1]).toBeCloseTo(0.25, 6); // 0.1 / 0.4
    expect(out[2 * T + 2]).toBeCloseTo(0.75, 6);
    expect(m[0]).toBeCloseTo(0.7, 6); // input untouched
  });

  it("leaves a row at zero when all its attention went to hidden tokens", () => {
    const out = hideTokens(new Float32Array([1, 0, 1, 0]), 2, [true, false]);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });

  it("with nothing hidden returns the same values", () => {
    const m = new Float32Array([0.3, 0.7, 0.6, 0.4]);
    expect(Array.from(hideTokens(m, 2, [false, false]))).toEqual(Array.from(m));
  });
});

describe("combineHeads", () => {
  const T = 2;
  const A = new Float32Array([1, 0, 0.5, 0.5]);
  const B = new Float32Array([0, 1, 0.1, 0.9]);
  const C = new Float32Array([0.5, 0.5, 1, 0]);

  it("computes sum_h w_h A_h with unequal weights (hand-computed)", () => {
    const out = combineHeads([A, B, C], [0.5, 0.3, 0.2], T);
    // row 0: 0.5*1 + 0.3*0 + 0.2*0.5 = 0.6 ; 0.5*0 + 0.3*1 + 0.2*0.5 = 0.4
    // row 1: 0.5*0.5 + 0.3*0.1 + 0.2*1 = 0.48 ; 0.25 + 0.27 + 0 = 0.52
    expect(out[0]).toBeCloseTo(0.6, 6);
    expect(out[1]).toBeCloseTo(0.4, 6);
    expect(out[2]).toBeCloseTo(0.48, 6);
    expect(out[3]).toBeCloseTo(0.52, 6);
  });

  it("treats weights as relative when they do not sum to 1 (rows renormalised)", () => {
    const out = combineHeads([A, B], [3, 1], T);
    // (3*A + 1*B) / 4: row 0 = [0.75, 0.25]; row 1 = [(1.5+0.1)/4, (1.5+0.9)/4] = [0.4, 0.6]
    expect(Array.from(out).map((v) => +v.toFixed(6))).toEqual([0.75, 0.25, 0.4, 0.6]);
    rowSums(out, T).forEach((s) => expect(s).toBeCloseTo(1, 6));
  });

  it("renormalises rows that do not sum to 1 (float16 rounding, zeroed rows)", () => {
    const P = new Float32Array([0.3, 0.2, 0, 0]); // row 0 sums to 0.5, row 1 to 0
    const Q = new Float32Array([0.1, 0.4, 0, 0]);
    const out = combineHeads([P, Q], [0.5, 0.5], T);
    // row 0: [0.2, 0.3] / 0.5 = [0.4, 0.6]; row 1 stays 0
    expect(Array.from(out).map((v) => +v.toFixed(6))).toEqual([0.4, 0.6, 0, 0]);
  });

  it("equal weights give the mean; one head gives that head", () => {
    const mean = combineHeads([A, B], equalWeights(2), T);
    expect(Array.from(mean).map((v) => +v.toFixed(6))).toEqual([0.5, 0.5, 0.3, 0.7]);
    expect(Array.from(combineHeads([B], [1], T))).toEqual(Array.from(B));
  });

  it("ignores negative weights and falls back to equal weights when none is positive", () => {
    expect(normaliseWeights([2, -1, 2])).toEqual([0.5, 0, 0.5]);
    expect(normaliseWeights([0, 0])).toEqual([0.5, 0.5]);
    const out = combineHeads([A, B], [0, 0], T);
    expect(out[0]).toBeCloseTo(0.5, 6);
  });

  it("rejects mismatched inputs", () => {
    expect(() => combineHeads([A, B], [1], T)).toThrow();
    expect(() => combineHeads([new Float32Array(3)], [1], T)).toThrow();
  });
});

describe("helpers", () => {
  it("normaliseRows divides by row sums in place", () => {
    const m = new Float32Array([1, 3, 0, 0]);
    expect(normaliseRows(m, 2)).toBe(m);
    expect(Array.from(m)).toEqual([0.25, 0.75, 0, 0]);
  });
  it("payloadBytes counts float16 values", () => {
    expect(payloadBytes(12, 12, 64)).toBe(12 * 12 * 64 * 64 * 2);
  });
});
