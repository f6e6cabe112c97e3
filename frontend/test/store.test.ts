import { describe, expect, it } from "vitest";
import { AttentionLayers } from "../src/attention/frame";
import { createStore, fitView, shapeOf, showAnalysis, Store, type Analysis } from "../src/store";
import { tokens } from "./fixtures/frame";

function analysis(n: number): Analysis {
  const header = {
    analysis_id: "a",
    model: "m",
    kind: "bidirectional" as const,
    text: "",
    text_b: null,
    mask: [],
    n_layers: 4,
    n_heads: 2,
    tokens: tokens(Array.from({ length: n }, (_, i) => `t${i}`)),
    predictions: null,
    predictions_unavailable: null,
    attention: { dtype: "float16" as const, shape: [4, 2, n, n], layers: [0, 1, 2, 3], offset: 0, mode: "full" as const },
  };
  return { header, attention: new AttentionLayers(4, 2, n), maskToken: null };
}

describe("Store", () => {
  it("tells its listeners the new and the previous state, and only on a change", () => {
    const store = new Store({ a: 1, b: [1] });
    const seen: [number, number][] = [];
    const stop = store.subscribe((s, prev) => seen.push([s.a, prev.a]));
    store.update({ a: 2 });
    store.update({ a: 2, b: store.state.b });
    expect(seen).toEqual([[2, 1]]);
    stop();
    store.update({ a: 3 });
    expect(seen).toEqual([[2, 1]]);
    expect(store.state.a).toBe(3);
  });

  it("announces a listener's own update after the current round, in order", () => {
    const store = new Store({ a: 0, b: 0 });
    const log: string[] = [];
    store.subscribe((s) => {
      log.push(`first a=${s.a} b=${s.b}`);
      if (s.a === 1 && s.b === 0) store.update({ b: 1 });
    });
    store.subscribe((s, prev) => log.push(`second a=${s.a} b=${s.b} (was b=${prev.b})`));
    store.update({ a: 1 });
    expect(log).toEqual(["first a=1 b=0", "second a=1 b=0 (was b=0)", "first a=1 b=1", "second a=1 b=1 (was b=0)"]);
    expect(store.state).toEqual({ a: 1, b: 1 });
  });
});

describe("state helpers", () => {
  it("keeps the pinned token only for an analysis of as many tokens", () => {
    const store = createStore({ analysis: analysis(5), pinned: { side: "left", index: 3 } });
    expect(showAnalysis(store.state, analysis(5)).pinned).toEqual({ side: "left", index: 3 });
    expect(showAnalysis(store.state, analysis(6)).pinned).toBeNull();
    expect(showAnalysis(store.state, null).pinned).toBeNull();
  });

  it("takes the shape from the analysis, else from the model", () => {
    const s = createStore({ shape: { layers: 12, heads: 12 } }).state;
    expect(shapeOf(s)).toEqual({ layers: 12, heads: 12 });
    expect(shapeOf({ ...s, analysis: analysis(3) })).toEqual({ layers: 4, heads: 2 });
  });

  it("fits a view to a model's shape", () => {
    const s = { ...createStore().state, layer: 40, heads: [1, 20], weights: [1, 2] };
    const f = fitView(s, 6, 12);
    expect(f.layer).toBe(5);
    expect(f.heads).toEqual([1]);
    expect(f.weights).toBeNull();
  });
});
