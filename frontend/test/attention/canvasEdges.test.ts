import { describe, expect, it } from "vitest";
import {
  batchEdges,
  CHUNK,
  controlPoints,
  edgeStyle,
  frames,
  indexEdges,
  LEVELS,
  levelOf,
  paintBand,
  pixelRatio,
  strokeBatches,
  weightScale,
  type Ctx2D,
} from "../../src/attention/canvasEdges";
import { combineHeads, edgesByHead, thresholdEdges, type Edge } from "../../src/attention/math";
import { poolMatrix } from "../../src/attention/pool";

/** A 2D context that records the calls the edge drawing makes. */
function recorder() {
  const calls: { op: string; args: number[]; width?: number; alpha?: number; color?: string }[] = [];
  const ctx = {
    strokeStyle: "" as string,
    lineWidth: 1,
    globalAlpha: 1,
    lineCap: "butt",
    beginPath: () => calls.push({ op: "begin", args: [] }),
    moveTo: (x: number, y: number) => calls.push({ op: "move", args: [x, y] }),
    bezierCurveTo: (...a: number[]) => calls.push({ op: "curve", args: a }),
    stroke: () => calls.push({ op: "stroke", args: [], width: ctx.lineWidth, alpha: ctx.globalAlpha, color: ctx.strokeStyle }),
    setTransform: () => undefined,
    clearRect: () => undefined,
  };
  return { ctx: ctx as unknown as Ctx2D, calls };
}

/** A random row-stochastic T x T matrix with some exact ties and zeros. */
function randomMatrix(T: number, seed: number): Float32Array {
  let s = seed;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) m[i * T + j] = rnd() < 0.15 ? 0 : rnd() < 0.2 ? 0.25 : rnd() ** 4;
  }
  return combineHeads([m], [1], T);
}

describe("edge styles and batches", () => {
  const edges: Edge[] = [
    { from: 0, to: 1, weight: 0.5 },
    { from: 0, to: 2, weight: 0.01 },
    { from: 1, to: 1, weight: 0.25 },
    { from: 2, to: 0, weight: 0.5 },
  ];
  it("scales by the largest weight and keeps the SVG's widths and opacities", () => {
    expect(weightScale(edges)).toBe(2);
    expect(weightScale([])).toBe(0);
    expect(edgeStyle(false)).toEqual({ w0: 0.6, w1: 4.4, o0: 0.12, o1: 0.78 });
    expect(edgeStyle(true).w1).toBeLessThan(edgeStyle(false).w1);
    expect(levelOf(0)).toBe(0);
    expect(levelOf(1)).toBe(LEVELS - 1);
    expect(controlPoints(10, 5, 30, 50)).toEqual([20, 5, 20, 50]);
  });
  it("groups edges by colour then strength, weak first, each edge once", () => {
    const batches = batchEdges(edges, { color: () => "blue", style: edgeStyle(false), scale: 2 });
    expect(batches.flatMap((b) => b.edges).sort()).toEqual([0, 1, 2, 3]);
    const widths = batches.map((b) => b.width);
    expect(widths).toEqual([...widths].sort((a, b) => a - b));
    const strongest = batches[batches.length - 1];
    expect(strongest.edges).toEqual([0, 3]);
    expect(strongest.width).toBeGreaterThan(4.5);
    expect(strongest.alpha).toBeGreaterThan(0.85);
    expect(batches[0].edges).toEqual([1]);
  });
  it("draws colours in the order they come (head after head) and can draw a subset", () => {
    const byHead = edges.map((e, k) => ({ ...e, head: k < 2 ? 3 : 1 }));
    const batches = batchEdges(byHead, { color: (e) => `h${e.head}`, style: edgeStyle(true), scale: 2 });
    expect(batches.map((b) => b.color)).toEqual(["h3", "h3", "h1", "h1"]);
    const some = batchEdges(byHead, { color: (e) => `h${e.head}`, style: edgeStyle(true), scale: 2, only: [2] });
    expect(some).toHaveLength(1);
    expect(some[0].edges).toEqual([2]);
  });
  it("indexes edges by the token that gives and the token that receives them", () => {
    const ix = indexEdges(edges, 3);
    expect(ix.from(0)).toEqual([0, 1]);
    expect(ix.from(1)).toEqual([2]);
    expect(ix.to(1)).toEqual([0, 2]);
    expect(ix.to(0)).toEqual([3]);
    expect(ix.to(5)).toEqual([]);
  });
});

describe("frames", () => {
  it("splits the batches into frames of a budget of edges, strongest first", () => {
    const mk = (color: string, width: number, n: number, from = 0) => ({ color, width, alpha: width / 10, edges: Array.from({ length: n }, (_, k) => from + k) });
    const batches = [mk("a", 1, 5), mk("a", 3, 2, 5), mk("b", 1, 4, 7), mk("b", 3, 1, 11)];
    // (an edge of width 3 costs 3 units, of width 1 one unit)
    const out = frames(batches, 4);
    expect(out.map((f) => f.map((b) => [b.color, b.width, b.edges.length]))).toEqual([
      [["a", 3, 1]],
      [["a", 3, 1]],
      [["b", 3, 1]],
      [["a", 1, 4]],
      [["a", 1, 1], ["b", 1, 3]],
      [["b", 1, 1]],
    ]);
    expect(out.flat().flatMap((b) => b.edges).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, k) => k));
    expect(frames([], 4)).toEqual([]);
    expect(frames(batches, 100)).toHaveLength(1);
    expect(frames(batches, 20, 3).map((f) => f.reduce((n, b) => n + b.edges.length, 0))).toEqual([1, 11]);
  });
});

describe("strokeBatches", () => {
  it("strokes each batch in paths of CHUNK curves from x1 to x2 at the rows' y", () => {
    const n = CHUNK * 2 + 3;
    const edges: Edge[] = Array.from({ length: n }, (_, k) => ({ from: k % 4, to: (k + 1) % 4, weight: 1 }));
    const y = [10, 20, 30, 40];
    const { ctx, calls } = recorder();
    const drawn = strokeBatches(ctx, edges, batchEdges(edges, { color: () => "#00f", style: edgeStyle(false), scale: 1 }), { x1: 0, x2: 100, y });
    expect(drawn).toBe(n);
    expect(calls.filter((c) => c.op === "stroke")).toHaveLength(3);
    expect(calls.filter((c) => c.op === "curve")).toHaveLength(n);
    const move = calls.find((c) => c.op === "move")!;
    expect(move.args).toEqual([0, 10]);
    expect(calls.find((c) => c.op === "curve")!.args).toEqual([50, 10, 50, 20, 100, 20]);
    const s = calls.find((c) => c.op === "stroke")!;
    expect(s.color).toBe("#00f");
    expect(s.width).toBeCloseTo(0.6 + 4.4 * (LEVELS - 0.5) / LEVELS, 6);
  });
  it("skips edges to hidden rows and edges wholly outside the painted band", () => {
    const edges: Edge[] = [
      { from: 0, to: 1, weight: 1 }, // 10 -> 20: above the band
      { from: 0, to: 3, weight: 1 }, // 10 -> 400: crosses it
      { from: 2, to: 3, weight: 1 }, // 300 -> 400: in it
      { from: 1, to: 4, weight: 1 }, // row 4 hidden
      { from: 3, to: 3, weight: 1 }, // to itself: half a pixel of slope
    ];
    const y = [10, 20, 300, 400, NaN];
    const { ctx, calls } = recorder();
    const batches = batchEdges(edges, { color: () => "c", style: edgeStyle(false), scale: 1 });
    expect(strokeBatches(ctx, edges, batches, { x1: 0, x2: 10, y }, [100, 500])).toBe(3);
    const curves = calls.filter((c) => c.op === "curve").map((c) => c.args[5]);
    expect(curves).toEqual([400, 400, 400.5]);
  });
  it("paints the visible band and a quarter screen around it, within the view", () => {
    expect(paintBand([100, 500], 7000)).toEqual([0, 600]);
    expect(paintBand([3000, 3800], 7000)).toEqual([2800, 4000]);
    expect(paintBand([6800, 7600], 7000)).toEqual([6750, 7000]);
    expect(paintBand([8000, 9000], 7000)).toBeNull();
    expect(paintBand([-200, 400], 500, 0)).toEqual([0, 400]);
  });
  it("caps the pixel ratio of a tall canvas", () => {
    expect(pixelRatio(250, 900, 2)).toBe(2);
    expect(pixelRatio(250, 900, 0)).toBe(1);
    const r = pixelRatio(250, 30000, 2);
    expect(250 * 30000 * r * r).toBeLessThanOrEqual(16e6 + 1);
    expect(30000 * pixelRatio(250, 30000, 2)).toBeLessThanOrEqual(32000);
  });
});

/** The plain definition (a comparator sort): what the packed-key sort in math.ts must equal. */
function referenceThreshold(m: ArrayLike<number>, T: number, fraction: number, head?: number): Edge[] {
  const edges: Edge[] = [];
  const f = Math.min(1, Math.max(0, fraction));
  for (let i = 0; i < T; i++) {
    const o = i * T;
    const cand: number[] = [];
    let total = 0;
    for (let j = 0; j < T; j++) if (m[o + j] > 0) (cand.push(j), (total += m[o + j]));
    cand.sort((a, b) => m[o + b] - m[o + a] || a - b);
    let covered = 0;
    for (const j of cand) {
      edges.push(head === undefined ? { from: i, to: j, weight: m[o + j] } : { from: i, to: j, weight: m[o + j], head });
      covered += m[o + j];
      if (covered >= f * total * (1 - 1e-6)) break;
    }
  }
  return edges;
}

describe("thresholding by packed keys", () => {
  it("gives the comparator sort's edges, in the same order, with ties and zeros", () => {
    for (const T of [1, 5, 37, 130]) {
      const m = randomMatrix(T, T + 7);
      for (const f of [0, 0.3, 0.7, 1]) expect(thresholdEdges(m, T, f)).toEqual(referenceThreshold(m, T, f));
    }
  });
  it("by head: each head's edges, weights relative to the largest", () => {
    const T = 40;
    const mats = [randomMatrix(T, 1), randomMatrix(T, 2), randomMatrix(T, 3)];
    const heads = [0, 4, 9];
    const got = edgesByHead(mats, heads, [2, 1, 0], T, 0.7);
    const want = [
      ...referenceThreshold(mats[0], T, 0.7, 0),
      ...referenceThreshold(mats[1], T, 0.7, 4).map((e) => ({ ...e, weight: e.weight * 0.5 })),
    ];
    expect(got).toEqual(want);
    expect(() => edgesByHead(mats, [0], [1], T, 0.7)).toThrow();
  });
});

describe("poolMatrix", () => {
  it("averages the shown rows and columns per block, clipping bins to the shown tokens", () => {
    const T = 5;
    const m = Float32Array.from({ length: T * T }, (_, k) => k);
    const visible = [0, 1, 3, 4]; // token 2 hidden
    const { values, bins } = poolMatrix(m, T, visible, 2);
    expect(bins).toBe(2);
    const at = (i: number, j: number) => m[i * T + j];
    const mean = (rows: number[], cols: number[]) =>
      rows.flatMap((i) => cols.map((j) => at(i, j))).reduce((a, b) => a + b, 0) / (rows.length * cols.length);
    expect(Array.from(values)).toEqual([mean([0, 1], [0, 1]), mean([0, 1], [3, 4]), mean([3, 4], [0, 1]), mean([3, 4], [3, 4])]);
    expect(poolMatrix(m, T, visible, 99).bins).toBe(4);
    expect(poolMatrix(m, T, [], 8).bins).toBe(0);
  });
});
