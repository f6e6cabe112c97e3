import { describe, expect, it } from "vitest";
import { blockRange, brushWindow, heat, mixBlocks, paintMatrix, scaleMax, scaled, shiftWindow, tokenAt, windowPixels } from "../../src/long/maths";

describe("block mixing", () => {
  // 3 heads of 2 x 2 blocks; every row sums to 1.
  const B = 2;
  const blocks = new Float32Array([
    1, 0, 0.5, 0.5, // head 0
    0, 1, 0.25, 0.75, // head 1
    0.5, 0.5, 1, 0, // head 2
  ]);

  it("mixes the selected heads with their weights, rows still summing to 1", () => {
    const m = mixBlocks(blocks, B, [0, 1], [3, 1]);
    expect(Array.from(m)).toEqual([0.75, 0.25, 0.4375, 0.5625]);
    for (let i = 0; i < B; i++) expect(m[2 * i] + m[2 * i + 1]).toBeCloseTo(1, 6);
  });

  it("treats weights as the viewer does: negatives 0, all zero = equal", () => {
    expect(Array.from(mixBlocks(blocks, B, [0, 2], [-1, 2]))).toEqual([0.5, 0.5, 1, 0]);
    expect(Array.from(mixBlocks(blocks, B, [0, 1, 2], [0, 0, 0]))).toEqual(
      Array.from(mixBlocks(blocks, B, [0, 1, 2], [1, 1, 1])),
    );
    const eq = mixBlocks(blocks, B, [1, 2], [1, 1]);
    expect(eq[0]).toBeCloseTo(0.25, 6);
    expect(eq[3]).toBeCloseTo(0.375, 6);
  });

  it("covers the tokens the server's blocks cover", () => {
    expect(blockRange(0, 10, 4)).toEqual([0, 2]);
    expect(blockRange(3, 10, 4)).toEqual([7, 10]);
    const covered = Array.from({ length: 4 }, (_, b) => blockRange(b, 10, 4)).flatMap(([a, z]) => Array.from({ length: z - a }, (_, k) => a + k));
    expect(covered).toEqual(Array.from({ length: 10 }, (_, k) => k));
  });
});

describe("brush -> window", () => {
  it("maps pixels to tokens, clamped to the document", () => {
    expect(tokenAt(0, 480, 6000)).toBe(0);
    expect(tokenAt(240, 480, 6000)).toBe(3000);
    expect(tokenAt(479.9, 480, 6000)).toBe(5998);
    expect(tokenAt(600, 480, 6000)).toBe(5999);
    expect(tokenAt(-5, 480, 6000)).toBe(0);
  });

  it("selects both ends of a drag, in either direction", () => {
    expect(brushWindow(100, 199, 6000, 128)).toEqual({ start: 100, stop: 200 });
    expect(brushWindow(199, 100, 6000, 128)).toEqual({ start: 100, stop: 200 });
  });

  it("caps a window at 512 tokens, from the anchor", () => {
    expect(brushWindow(1000, 3000, 6000, 128)).toEqual({ start: 1000, stop: 1512 });
    expect(brushWindow(3000, 1000, 6000, 128)).toEqual({ start: 2489, stop: 3001 });
    expect(brushWindow(0, 5999, 6000, 128, 256)).toEqual({ start: 0, stop: 256 });
  });

  it("centres a click's window on the token, inside the document", () => {
    expect(brushWindow(3000, 3000, 6000, 128)).toEqual({ start: 2936, stop: 3064 });
    expect(brushWindow(5, 5, 6000, 128)).toEqual({ start: 0, stop: 128 });
    expect(brushWindow(5990, 5990, 6000, 128)).toEqual({ start: 5872, stop: 6000 });
    expect(brushWindow(3, 3, 40, 128)).toEqual({ start: 0, stop: 40 });
  });

  it("places the window's square and shifts it inside the document", () => {
    expect(windowPixels({ start: 1500, stop: 3000 }, 6000, 480)).toEqual({ x: 120, w: 120 });
    expect(windowPixels({ start: 0, stop: 1 }, 6000, 480).w).toBe(1);
    expect(shiftWindow({ start: 5900, stop: 5990 }, 50, 6000)).toEqual({ start: 5910, stop: 6000 });
    expect(shiftWindow({ start: 10, stop: 20 }, -50, 6000)).toEqual({ start: 0, stop: 10 });
  });
});

describe("colour scale", () => {
  it("runs from white to dark navy, monotonically darker", () => {
    expect(heat(0)).toEqual([255, 255, 255]);
    expect(heat(1)).toEqual([20, 33, 61]);
    expect(heat(NaN)).toEqual([255, 255, 255]);
    expect(heat(2)).toEqual(heat(1));
    const lum = (c: number[]) => c[0] + c[1] + c[2];
    for (let t = 0; t < 1; t += 0.05) expect(lum(heat(t + 0.05))).toBeLessThanOrEqual(lum(heat(t)));
  });

  it("tops the scale at a quantile so that a few sink cells do not wash out the rest", () => {
    const v = new Float32Array(1000).fill(0.001);
    v[0] = 0.9; // the sink
    v[1] = 0.01;
    expect(scaleMax(v, 0.99)).toBeCloseTo(0.001, 6);
    expect(scaleMax(v, 1)).toBeCloseTo(0.9, 6);
    expect(scaleMax(new Float32Array(4))).toBe(0);
    expect(scaleMax([0.2, 0.9], 1, (i) => i === 1)).toBeCloseTo(0.2, 6);
    expect(scaled(0.9, 0.001)).toBe(1);
    expect(scaled(0.25, 1)).toBeCloseTo(0.5, 6);
    expect(scaled(0, 1)).toBe(0);
    expect(scaled(1, 0)).toBe(0);
  });

  it("paints a matrix as opaque RGBA, the strongest cell darkest", () => {
    const px = paintMatrix(new Float32Array([0, 1, 0.25, 0.5]), 2, 1);
    expect(px.length).toBe(16);
    expect(Array.from(px.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    expect(Array.from(px.subarray(4, 8))).toEqual([20, 33, 61, 255]);
    expect(px[8] + px[9] + px[10]).toBeGreaterThan(px[12] + px[13] + px[14]);
  });
});
