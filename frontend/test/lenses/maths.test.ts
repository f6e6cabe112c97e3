import { ApiError } from "../../src/api/client";
import { describe, expect, it } from "vitest";
import {
  cellAt,
  cellOrigin,
  flowAllowed,
  gridLayout,
  MAX_FLOW_TOKENS,
  probColor,
  probInk,
  DEFAULT_RESIDUAL,
  retryable,
  rolloutBase,
  rolloutKey,
  rolloutLayer,
  shade,
  thumbnail,
} from "../../src/lenses/maths";
import { rolloutRequest } from "../../src/lenses/modes";
import { defaultLensState } from "../../src/lenses/state";

describe("colour scales", () => {
  it("probColor runs light to dark, grey for null/NaN", () => {
    const lum = (c: string) => {
      const [r, g, b] = c.match(/\d+/g)!.map(Number);
      return 0.3 * r + 0.59 * g + 0.11 * b;
    };
    expect(lum(probColor(0))).toBeGreaterThan(lum(probColor(0.5)));
    expect(lum(probColor(0.5))).toBeGreaterThan(lum(probColor(1)));
    expect(probColor(null)).toBe(probColor(NaN));
    expect(probColor(2)).toBe(probColor(1));
    expect(probInk(0.9)).toBe("#fff");
    expect(probInk(0.1)).not.toBe("#fff");
  });

  it("shade is a square-root curve of v / max, 0 without a max", () => {
    expect(shade(1, 1)).toBe(255);
    expect(shade(0.25, 1)).toBe(128);
    expect(shade(0, 1)).toBe(0);
    expect(shade(0.5, 0)).toBe(0);
    expect(shade(3, 1)).toBe(255);
  });
});

describe("model view grid", () => {
  it("picks the orientation with larger cells; cellAt inverts cellOrigin", () => {
    const deep = gridLayout(30, 9, 1200);
    expect(deep.across).toBe(true); // 30 layers across, 9 heads down
    expect(deep.width).toBeLessThanOrEqual(1200);
    expect(deep.height).toBe(deep.top + 9 * (deep.cell + deep.gap));
    const wide = gridLayout(6, 12, 1200);
    expect(wide.across).toBe(false);
    expect(wide.cell).toBe(56);
    expect(gridLayout(12, 12, 100).cell).toBe(22);
    for (const g of [deep, wide, gridLayout(30, 9, 300)]) {
      for (const [l, h] of [[0, 0], [g.layers - 1, g.heads - 1], [5, 3]]) {
        const { x, y } = cellOrigin(g, l, h);
        expect(cellAt(g, x, y)).toEqual({ layer: l, head: h });
        expect(cellAt(g, x + g.cell - 1, y + g.cell - 1)).toEqual({ layer: l, head: h });
        expect(cellAt(g, x + g.cell, y)).toBeNull(); // the gap
      }
      expect(cellAt(g, 2, 2)).toBeNull(); // the labels
      expect(cellAt(g, g.width + 5, g.top)).toBeNull();
    }
    expect(cellOrigin(deep, 1, 0).x).toBeGreaterThan(cellOrigin(deep, 0, 0).x);
    expect(cellOrigin(wide, 1, 0).y).toBeGreaterThan(cellOrigin(wide, 0, 0).y);
  });

  it("thumbnails keep a thin diagonal when pooling and repeat cells when enlarging", () => {
    const T = 64;
    const eye = new Float32Array(T * T);
    for (let i = 0; i < T; i++) eye[i * T + i] = 1;
    const S = 16;
    const t = thumbnail(eye, T, S);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) expect(t[y * S + x]).toBe(x === y ? 1 : 0);
    const small = Float32Array.from([1, 2, 3, 4]);
    expect(Array.from(thumbnail(small, 2, 4))).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });
});

describe("rollout cache keys and slices", () => {
  it("keys: both modes per layer; the base key leaves the layer out and holds the residual", () => {
    const base = { heads: [1, 2], weights: [0.5, 0.5] };
    expect(rolloutKey({ mode: "rollout", layer: 0, ...base })).not.toBe(rolloutKey({ mode: "rollout", layer: 5, ...base }));
    expect(rolloutKey({ mode: "flow", layer: 0, ...base })).not.toBe(rolloutKey({ mode: "flow", layer: 5, ...base }));
    expect(rolloutBase({ mode: "rollout", layer: 0, ...base })).toBe(rolloutBase({ mode: "rollout", layer: 5, ...base }));
    expect(rolloutKey({ mode: "rollout", layer: 0, ...base })).not.toBe(rolloutKey({ mode: "flow", layer: 0, ...base }));
    expect(rolloutKey({ mode: "rollout", layer: 0, heads: [1, 2], weights: [1, 2] })).not.toBe(
      rolloutKey({ mode: "rollout", layer: 0, ...base }),
    );
    expect(rolloutKey({ mode: "rollout", layer: 0, heads: null, weights: null })).not.toBe(
      rolloutKey({ mode: "rollout", layer: 0, heads: [0], weights: null }),
    );
    expect(rolloutKey({ mode: "rollout", layer: 0, ...base, residual: DEFAULT_RESIDUAL })).toBe(rolloutKey({ mode: "rollout", layer: 0, ...base }));
    expect(rolloutKey({ mode: "rollout", layer: 0, ...base, residual: 0.2 })).not.toBe(rolloutKey({ mode: "rollout", layer: 0, ...base }));
  });

  it("retryable: network, 404, 503 and other errors yes; 400, 413, 422 no", () => {
    for (const status of [0, 404, 503, 500]) expect(retryable(new ApiError("x", "E", status))).toBe(true);
    for (const status of [400, 413, 422]) expect(retryable(new ApiError("x", "E", status))).toBe(false);
    expect(retryable(new Error("this view carries no lenses"))).toBe(true);
  });

  it("slices layer k of [layers, T, T] by the listed layers", () => {
    const T = 2;
    const data = Float32Array.from({ length: 3 * T * T }, (_, k) => k);
    const d = { mode: "rollout" as const, layers: [0, 1, 2], T, data };
    expect(Array.from(rolloutLayer(d, 1)!)).toEqual([4, 5, 6, 7]);
    expect(rolloutLayer(d, 3)).toBeNull();
    const f = { mode: "flow" as const, layers: [4], T, data: data.subarray(0, 4) };
    expect(Array.from(rolloutLayer(f, 4)!)).toEqual([0, 1, 2, 3]);
    expect(rolloutLayer(f, 0)).toBeNull();
  });

  it("the request of a state: none in raw mode, weights only with selected heads", () => {
    const lens = defaultLensState();
    expect(rolloutRequest({ lens, layer: 2, heads: null, weights: null })).toBeNull();
    const r = rolloutRequest({ lens: { ...lens, attentionMode: "rollout" }, layer: 2, heads: [0, 3], weights: [2, 1] });
    expect(r).toEqual({ mode: "rollout", layer: 2, heads: [0, 3], weights: [2, 1] });
    expect(flowAllowed(MAX_FLOW_TOKENS)).toBe(true);
    expect(flowAllowed(MAX_FLOW_TOKENS + 1)).toBe(false);
  });
});
