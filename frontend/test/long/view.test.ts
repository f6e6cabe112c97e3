// @vitest-environment jsdom
// The document view on a store, against a stand-in for the server's lazy-analysis routes (the
// real routes are exercised in tests/e2e/test_long_document.py): which requests a view change
// makes, what a cached one makes (none), and that route errors reach the host's error message.
import { afterEach, describe, expect, it, vi } from "vitest";
import { LongView } from "../../src/long/view";
import { createStore, showDocument, selectHeadCell, type LongDoc } from "../../src/store";
import { arrayFrame, lazyDoc } from "./arrays";

const L = 4;
const H = 3;
const T = 40;

function doc(): LongDoc {
  return lazyDoc("doc1", { L, H, T });
}

/** Causal uniform attention: row i spreads 1 over tokens 0..i. */
const uniform = (i: number, j: number) => (j <= i ? 1 / (i + 1) : 0);

function server(opts: { failRows?: number; busyOnce?: boolean } = {}) {
  const urls: string[] = [];
  let busy = opts.busyOnce === true;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string) => {
      urls.push(url);
      const u = new URL(url, "http://x");
      const q = (k: string) => u.searchParams.get(k) ?? "";
      const bin = (shape: number[], v: number[], extra = {}) => new Response(arrayFrame(shape, v, extra), { status: 200 });
      if (u.pathname.endsWith("/stats")) return bin([2, L, H], Array.from({ length: 2 * L * H }, (_, k) => k / 24), { names: ["first_token", "entropy"] });
      if (u.pathname.endsWith("/blocks")) {
        if (busy) {
          busy = false;
          const body = { error: { type: "MemoryBudgetExceeded", message: "busy", status: 503, details: { retry_after: 0 } } };
          return new Response(JSON.stringify(body), { status: 503, headers: { "Content-Type": "application/json", "Retry-After": "0" } });
        }
        const B = Number(q("bins"));
        const hs = q("heads").split(",").length;
        return bin([hs, B, B], Array.from({ length: hs * B * B }, (_, k) => (Math.floor(k / B) % B >= k % B ? 0.1 : 0)));
      }
      if (u.pathname.endsWith("/window")) {
        const [a, z] = [Number(q("start")), Number(q("stop"))];
        const W = z - a;
        const hs = q("heads").split(",").length;
        const v: number[] = [];
        for (let h = 0; h < hs; h++) for (let i = 0; i < W; i++) for (let j = 0; j < W; j++) v.push(uniform(a + i, a + j));
        return bin([hs, W, W], v);
      }
      if (u.pathname.endsWith("/rows")) {
        if (opts.failRows) {
          const body = { error: { type: "UnknownAnalysis", message: "analysis doc1 is not kept (any more): analyse the text again", status: 404 } };
          return new Response(JSON.stringify(body), { status: opts.failRows, headers: { "Content-Type": "application/json" } });
        }
        const r = Number(q("rows"));
        return bin([1, T], Array.from({ length: T }, (_, j) => (q("direction") === "out" ? uniform(r, j) : uniform(j, r))));
      }
      return new Response("{}", { status: 404 });
    }),
  );
  return urls;
}

async function settle(): Promise<void> {
  for (let k = 0; k < 20; k++) await new Promise((r) => setTimeout(r, 0));
}

function setup(opts: { failRows?: number; busyOnce?: boolean } = {}) {
  const urls = server(opts);
  const store = createStore({ model: "smollm2-135m", shape: { layers: L, heads: H } });
  const root = document.createElement("div");
  document.body.append(root);
  const errors: unknown[] = [];
  const view = new LongView(root, store, { error: (e) => errors.push(e) });
  store.update(showDocument(store.state, doc()));
  return { store, root, urls, errors, view };
}

const tid = (root: HTMLElement, id: string) => root.querySelector(`[data-testid="${id}"]`) as HTMLElement;
const routes = (urls: string[]) => urls.map((u) => u.split("?")[0].split("/").pop());

afterEach(() => {
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

describe("the document view", () => {
  it("loads stats, the overview's blocks and the first window; never POSTs an analysis", async () => {
    const { root, urls, errors } = setup();
    await settle();
    expect(errors).toEqual([]);
    expect(routes(urls).sort()).toEqual(["blocks", "stats", "window"]);
    expect(urls.every((u) => u.startsWith("/api/analyses/doc1/"))).toBe(true);
    expect(urls.find((u) => u.includes("/blocks"))).toContain(`bins=${T}`);
    expect(tid(root, "long-overview").dataset.ready).toBe("true");
    expect(tid(root, "long-window").dataset.stop).toBe("40");
    expect(tid(root, "head-stats").querySelectorAll("rect.hs-cell").length).toBe(L * H);
    expect(tid(root, "long-reader").querySelectorAll("span.tk").length).toBe(T);
  });

  it("a layer change fetches that layer's blocks and window once; back to a seen layer fetches nothing", async () => {
    const { store, urls } = setup();
    await settle();
    urls.length = 0;
    store.update({ layer: 2 });
    await settle();
    expect(routes(urls).sort()).toEqual(["blocks", "window"]);
    urls.length = 0;
    store.update({ layer: 0 });
    await settle();
    store.update({ heads: [1], weights: null });
    await settle();
    expect(urls).toEqual([]);
  });

  it("a head-stats click selects the layer and head; a token colours the reader by its row", async () => {
    const { store, root, urls } = setup();
    await settle();
    (tid(root, "head-stats").querySelector('rect[data-layer="3"][data-head="1"]') as SVGRectElement).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(store.state).toMatchObject(selectHeadCell(3, 1));
    await settle();
    const span = tid(root, "long-reader").querySelector('span.tk[data-index="20"]') as HTMLElement;
    span.click();
    expect(store.state.long.token).toBe(20);
    await settle();
    const rows = urls.filter((u) => u.includes("/rows"));
    expect(rows.length).toBe(1);
    expect(rows[0]).toMatch(/layer=3&heads=1&rows=20&weights=1&direction=out/);
    const coloured = [...root.querySelectorAll<HTMLElement>("span.tk")].filter((s) => s.style.backgroundColor).map((s) => Number(s.dataset.index));
    expect(coloured.length).toBeGreaterThan(10);
    expect(Math.max(...coloured)).toBeLessThanOrEqual(20);
    tid(root, "long-direction-in").click();
    await settle();
    const received = [...root.querySelectorAll<HTMLElement>("span.tk")].filter((s) => s.style.backgroundColor).map((s) => Number(s.dataset.index));
    expect(Math.min(...received)).toBeGreaterThanOrEqual(20);
    expect(tid(root, "long-reader").dataset.direction).toBe("in");
  });

  it("a route error reaches the host's error message", async () => {
    const { store, errors } = setup({ failRows: 404 });
    await settle();
    store.update({ long: { ...store.state.long, token: 5 } });
    await settle();
    expect(errors.length).toBe(1);
    expect(String((errors[0] as Error).message)).toMatch(/analyse the text again/);
    expect((errors[0] as { status: number }).status).toBe(404);
  });

  it("retries a route answered 503 (busy) after its Retry-After, without an error", async () => {
    const { root, urls, errors } = setup({ busyOnce: true });
    await settle();
    await new Promise((r) => setTimeout(r, 20));
    await settle();
    expect(urls.filter((u) => u.includes("/blocks")).length).toBe(2);
    expect(errors).toEqual([]);
    expect(tid(root, "long-overview").dataset.ready).toBe("true");
  });
});
