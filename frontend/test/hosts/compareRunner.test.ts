// @vitest-environment jsdom
// The compare view's input B: one POST /api/analyze for B (A is never re-run), B's other layers by
// its id, B kept for Back/Forward (no second POST), a lazy (long) B refused. The server is a
// stand-in answering real EXB1 frames.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ModelInfo } from "../../src/api/types";
import { AttentionLayers } from "../../src/attention/frame";
import { compareInputs } from "../../src/compare/state";
import { CompareRunner } from "../../src/hosts/app/analysis";
import { createStore } from "../../src/store";
import { buildFrame, floatToHalf, tokens } from "../fixtures/frame";

const L = 4;
const H = 2;
const model = { name: "minilm-l6", layers: L, heads: H, max_tokens: 512, mask_token: "[MASK]" } as unknown as ModelInfo;
const other = { ...model, name: "other" } as ModelInfo;

function frame(body: { model: string; text: string; text_b: string | null; mask: number[]; layers: number[] | null }, lazy: boolean) {
  const words = body.text.split(" ");
  const T = words.length;
  const layers = lazy ? [] : (body.layers ?? [...Array(L).keys()]);
  const header = {
    analysis_id: `id-${body.text}`,
    model: body.model,
    kind: "bidirectional" as const,
    text: body.text,
    text_b: body.text_b,
    mask: body.mask,
    n_layers: L,
    n_heads: H,
    tokens: tokens(words),
    predictions: null,
    predictions_unavailable: "x",
    attention: { dtype: "float16" as const, shape: [lazy ? L : layers.length, H, T, T], layers, mode: lazy ? ("lazy" as const) : ("full" as const) },
  };
  return buildFrame(header, lazy ? [] : new Array(layers.length * H * T * T).fill(floatToHalf(1 / T)));
}

function setup(lazy = false) {
  const calls: { method: string; url: string; body: Record<string, unknown> | null }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : null;
      calls.push({ method: init?.method ?? "GET", url, body });
      if (url === "/api/analyze") return new Response(frame(body, lazy), { status: 200 });
      const m = /^\/api\/analyses\/id-([^/]+)\/attention\?layers=([\d%C,]+)$/.exec(url);
      if (m) {
        const text = decodeURIComponent(m[1]);
        return new Response(frame({ model: "minilm-l6", text, text_b: null, mask: [], layers: decodeURIComponent(m[2]).split(",").map(Number) }, false), { status: 200 });
      }
      return new Response(JSON.stringify({ error: { type: "NotFound", message: "no", status: 404 } }), { status: 404 });
    }),
  );
  const store = createStore({ model: model.name, text: "the cat sat", shape: { layers: L, heads: H } });
  let current = model;
  const errors: unknown[] = [];
  const ui = { busy: vi.fn(), error: (e: unknown) => void (e && errors.push(e)), changed: vi.fn() };
  const runner = new CompareRunner(store, () => (current.name === store.state.model ? current : undefined), ui);
  return { store, runner, calls, errors, ui, use: (m: ModelInfo) => (current = m) };
}

const settle = async () => {
  for (let k = 0; k < 10; k++) await new Promise((r) => setTimeout(r, 0));
};

afterEach(() => vi.unstubAllGlobals());

describe("compare: input B's analysis", () => {
  it("posts B only once, with its mask, and keeps it in the store", async () => {
    const { store, calls, errors } = setup();
    store.update({ compare: compareInputs("") });
    await settle();
    expect(calls).toEqual([]);
    store.update({ compare: compareInputs("the big cat sat", "", [2]) });
    await settle();
    expect(errors).toEqual([]);
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0].body).toMatchObject({ model: "minilm-l6", text: "the big cat sat", mask: [2], attention: "auto" });
    expect(store.state.compare?.analysis?.header.text).toBe("the big cat sat");
    // a view change re-runs nothing
    store.update({ layer: 2 });
    await settle();
    expect(calls).toHaveLength(1);
  });

  it("restores a B analysed before (Back/Forward) without a new POST, and re-runs B for another model", async () => {
    const { store, calls, use } = setup();
    store.update({ compare: compareInputs("a b") });
    await settle();
    store.update({ compare: compareInputs("a c") });
    await settle();
    expect(calls).toHaveLength(2);
    store.update({ compare: compareInputs("a b") });
    await settle();
    expect(calls).toHaveLength(2);
    expect(store.state.compare?.analysis?.header.text).toBe("a b");
    use(other);
    store.update({ model: "other" });
    await settle();
    expect(calls).toHaveLength(3);
    expect(calls[2].body).toMatchObject({ model: "other", text: "a b" });
  });

  it("fetches B's missing layers by its id", async () => {
    const { store, runner, calls, ui } = setup();
    store.update({ compare: compareInputs("x y") });
    await settle();
    const b = store.state.compare!.analysis!;
    expect(b.attention.missingLayers()).toEqual([]);
    // a B of one layer (as for a large payload): the view asks for the current one
    b.attention = new AttentionLayers(L, H, 2);
    await runner.fetchLayers([3]);
    expect(calls.at(-1)?.url).toBe("/api/analyses/id-x%20y/attention?layers=3");
    expect(b.attention.has(3)).toBe(true);
    expect(ui.changed).toHaveBeenCalled();
  });

  it("refuses a long (lazy) B with an error and does not retry until asked", async () => {
    const { store, runner, calls, errors } = setup(true);
    store.update({ compare: compareInputs("a very long b") });
    await settle();
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/long/);
    expect(store.state.compare?.analysis).toBeNull();
    store.update({ layer: 1 });
    await settle();
    expect(calls).toHaveLength(1);
    runner.retry();
    await settle();
    expect(calls).toHaveLength(2);
  });
});
