// @vitest-environment jsdom
// The app's analyses by id: POST /api/analyze once (attention "auto"); the other layers of a full
// analysis from GET /api/analyses/{id}/attention (never a second POST); a lazy answer becomes the
// store's long document. The server is a stand-in answering real EXB1 frames.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ModelInfo } from "../../src/api/types";
import type { Viewer } from "../../src/attention/viewer";
import { AnalysisRunner } from "../../src/hosts/app/analysis";
import { createStore } from "../../src/store";
import { buildFrame, floatToHalf, tokens } from "../fixtures/frame";

const L = 30;
const H = 9;
const model = { name: "smollm2-135m", layers: L, heads: H, max_tokens: 8192, mask_token: null } as unknown as ModelInfo;

function header(T: number, mode: "full" | "lazy", layers: number[]) {
  return {
    analysis_id: "id-1",
    model: model.name,
    kind: "autoregressive" as const,
    text: "x",
    text_b: null,
    mask: [],
    n_layers: L,
    n_heads: H,
    tokens: tokens(Array.from({ length: T }, (_, i) => `t${i}`)),
    predictions: null,
    predictions_unavailable: "x",
    attention: { dtype: "float16" as const, shape: [mode === "lazy" ? L : layers.length, H, T, T], layers, mode },
  };
}

const frameOf = (T: number, layers: number[]) =>
  buildFrame(header(T, "full", layers), new Array(layers.length * H * T * T).fill(floatToHalf(1 / T)));

function setup(mode: "full" | "lazy") {
  const calls: { method: string; url: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : null;
      calls.push({ method: init?.method ?? "GET", url, body });
      if (url === "/api/analyze") {
        const buf = mode === "lazy" ? buildFrame(header(700, "lazy", []), []) : frameOf(3, body.layers ?? [...Array(L).keys()]);
        return new Response(buf, { status: 200 });
      }
      const m = /^\/api\/analyses\/id-1\/attention\?layers=([\d%C,]+)$/.exec(url);
      if (m) return new Response(frameOf(3, decodeURIComponent(m[1]).split(",").map(Number)), { status: 200 });
      return new Response(JSON.stringify({ error: { type: "NotFound", message: "no", status: 404 } }), { status: 404 });
    }),
  );
  const store = createStore({ model: model.name, layer: 4, shape: { layers: L, heads: H } });
  const viewer = { setLoading: vi.fn(), showMessage: vi.fn(), render: vi.fn() } as unknown as Viewer;
  const errors: unknown[] = [];
  const runner = new AnalysisRunner(store, viewer, { busy: () => {}, error: (e) => e && errors.push(e) });
  return { store, runner, calls, errors };
}

const settle = async () => {
  for (let k = 0; k < 10; k++) await new Promise((r) => setTimeout(r, 0));
};

afterEach(() => vi.unstubAllGlobals());

describe("analyses by id", () => {
  it("fetches the other layers of a full analysis by its id, never by a second POST", async () => {
    const { store, runner, calls, errors } = setup("full");
    // ~300 estimated tokens x 30 layers x 9 heads: more than ALL_LAYERS_BYTES, so one layer first
    await runner.run(model, { text: "word ".repeat(120), textB: "", mask: [] });
    await settle();
    expect(errors).toEqual([]);
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.length).toBe(1);
    expect(posts[0].body).toMatchObject({ attention: "auto", layers: [4] });
    expect(store.state.analysis?.id).toBe("id-1");
    const gets = calls.filter((c) => c.method === "GET").map((c) => c.url);
    expect(gets.length).toBe(1);
    expect(gets[0]).toMatch(/^\/api\/analyses\/id-1\/attention\?layers=/);
    expect(store.state.analysis?.attention.missingLayers()).toEqual([]);
    await runner.fetchLayers([7]);
    expect(calls.length).toBe(2);
  });

  it("keeps a lazy analysis as the store's long document", async () => {
    const { store, runner, calls } = setup("lazy");
    await runner.run(model, { text: "word ".repeat(700), textB: "", mask: [] });
    expect(calls.length).toBe(1);
    expect(store.state.analysis).toBeNull();
    expect(store.state.doc?.id).toBe("id-1");
    expect(store.state.doc?.header.tokens.length).toBe(700);
  });
});
