import { describe, expect, it } from "vitest";
import { rolloutData, rolloutQuery } from "../../src/lenses/http";
import { arrayFrame } from "../long/arrays";

describe("HTTP lens source: requests and answers", () => {
  it("writes the rollout query (heads and weights only when heads are selected)", () => {
    const q = new URLSearchParams(rolloutQuery({ mode: "flow", layer: 3, heads: [1, 2], weights: [0.5, 0.25] }));
    expect(Object.fromEntries(q)).toEqual({ mode: "flow", layer: "3", residual: "0.5", heads: "1,2", weights: "0.5,0.25" });
    const all = new URLSearchParams(rolloutQuery({ mode: "rollout", layer: 0, heads: null, weights: [1] }));
    expect(all.has("heads")).toBe(false);
    expect(all.has("weights")).toBe(false);
    expect(new URLSearchParams(rolloutQuery({ mode: "rollout", layer: 0, heads: null, weights: null, residual: 0.25 })).get("residual")).toBe("0.25");
  });

  it("decodes a rollout frame with its listed layers", () => {
    const T = 3;
    const values = Array.from({ length: 2 * T * T }, (_, k) => k / 16);
    const d = rolloutData(arrayFrame([2, T, T], values, { mode: "rollout", layers: [0, 1] }), {
      mode: "rollout",
      layer: 1,
      heads: null,
      weights: null,
    });
    expect(d.layers).toEqual([0, 1]);
    expect(d.T).toBe(T);
    expect(Array.from(d.data)).toEqual(values);
    const f = rolloutData(arrayFrame([1, T, T], values.slice(0, 9), { mode: "flow", layers: [5] }), {
      mode: "flow",
      layer: 5,
      heads: null,
      weights: null,
    });
    expect(f.layers).toEqual([5]);
    // (a frame that lists no layers: one matrix is the layer asked for, in either mode)
    const one = rolloutData(arrayFrame([1, T, T], values.slice(0, 9)), { mode: "rollout", layer: 7, heads: null, weights: null });
    expect(one.layers).toEqual([7]);
    expect(() => rolloutData(arrayFrame([2, T, 2], values.slice(0, 12)), { mode: "rollout", layer: 0, heads: null, weights: null })).toThrow();
  });
});
