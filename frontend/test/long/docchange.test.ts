// @vitest-environment jsdom
// The document view when the document changes under in-flight requests (a new lazy analysis, or
// none because a short text was analysed next): the old document's requests are aborted, and a
// late answer or error of it is never drawn under the new one, nor sets or clears the host's
// error message. The server is a stand-in whose answers the test releases by hand.
import { afterEach, describe, expect, it, vi } from "vitest";
import { LongView } from "../../src/long/view";
import { createStore, showDocument, type LongDoc } from "../../src/store";
import { arrayFrame, lazyDoc } from "./arrays";

const L = 2;
const H = 2;

function doc(id: string, T: number): LongDoc {
  return lazyDoc(id, { L, H, T }, id);
}

interface Held {
  url: string;
  signal: AbortSignal | undefined;
  release(): void;
}

/**
 * A server whose answers for the analyses in `hold` wait until released (like a slow server: an
 * aborted request is NOT rejected when `honourAbort` is false, to check the view's own guard).
 * `fail` lists the routes answered 404 for doc1 (analysis evicted).
 */
function server(opts: { hold: string[]; honourAbort: boolean; fail?: string[] }) {
  const held: Held[] = [];
  const urls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn((url: string, init?: RequestInit) => {
      urls.push(url);
      const u = new URL(url, "http://x");
      const id = u.pathname.split("/")[3];
      const route = u.pathname.split("/").pop() ?? "";
      const q = (k: string) => u.searchParams.get(k) ?? "";
      const hs = q("heads").split(",").length;
      const answer = (): Response => {
        if (id === "doc1" && opts.fail?.includes(route)) {
          const body = { error: { type: "UnknownAnalysis", message: `analysis ${id} is not kept (any more)`, status: 404 } };
          return new Response(JSON.stringify(body), { status: 404, headers: { "Content-Type": "application/json" } });
        }
        const bin = (shape: number[], extra = {}) => new Response(arrayFrame(shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(0.1), extra));
        if (route === "stats") return bin([2, L, H], { names: id === "doc1" ? ["old_stat", "entropy"] : ["first_token", "entropy"] });
        if (route === "blocks") return bin([hs, Number(q("bins")), Number(q("bins"))]);
        if (route === "window") return bin([hs, Number(q("stop")) - Number(q("start")), Number(q("stop")) - Number(q("start"))]);
        if (route === "rows") return bin([1, id === "doc1" ? 50 : 30]);
        return new Response("{}", { status: 404 });
      };
      if (!opts.hold.includes(id)) return Promise.resolve(answer());
      return new Promise<Response>((resolve, reject) => {
        const signal = init?.signal ?? undefined;
        if (opts.honourAbort) signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        held.push({ url, signal, release: () => resolve(answer()) });
      });
    }),
  );
  return { held, urls };
}

async function settle(): Promise<void> {
  for (let k = 0; k < 20; k++) await new Promise((r) => setTimeout(r, 0));
}

function setup() {
  const store = createStore({ model: "smollm2-135m", shape: { layers: L, heads: H } });
  const root = document.createElement("div");
  document.body.append(root);
  const errors: unknown[] = [];
  new LongView(root, store, { error: (e) => errors.push(e) });
  return { store, root, errors };
}

const tid = (root: HTMLElement, id: string) => root.querySelector(`[data-testid="${id}"]`) as HTMLElement;

/** Show doc1 (50 tokens) with a token selected; its overview, window and rows requests are held. */
async function doc1Pending(store: ReturnType<typeof setup>["store"]) {
  store.update({ long: { ...store.state.long, token: 40 } });
  store.update(showDocument(store.state, doc("doc1", 50)));
  await settle();
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

describe("the document view when the document changes", () => {
  it("aborts the old document's requests when a new document comes", async () => {
    const { held } = server({ hold: ["doc1"], honourAbort: true });
    const { store, root, errors } = setup();
    await doc1Pending(store);
    const old = [...held];
    expect(old.map((r) => r.url.split("?")[0].split("/").pop()).sort()).toEqual(["blocks", "rows", "window"]);
    expect(old.every((r) => r.signal && !r.signal.aborted)).toBe(true);
    store.update(showDocument(store.state, doc("doc2", 30)));
    await settle();
    expect(old.every((r) => r.signal?.aborted)).toBe(true);
    expect(errors).toEqual([]);
    expect(tid(root, "head-stats").dataset.stat).toBe("first_token");
    expect(tid(root, "long-window").dataset.ready).toBe("true");
  });

  it("never draws a late /stats answer of the old document under the new one", async () => {
    const { held, urls } = server({ hold: ["doc1", "doc2"], honourAbort: false });
    const { store, root, errors } = setup();
    await doc1Pending(store);
    for (const r of held.splice(0)) r.release(); // the overview etc. of doc1 arrive: stats asked next
    await settle();
    const stats1 = held.splice(0).find((r) => r.url.endsWith("/stats"));
    expect(stats1).toBeDefined();
    expect(tid(root, "head-stats").dataset.ready).toBe("false");
    store.update(showDocument(store.state, doc("doc2", 30)));
    await settle();
    stats1!.release(); // doc1's statistics arrive late, before doc2's overview
    await settle();
    const grid = tid(root, "head-stats");
    expect(grid.querySelectorAll("rect.hs-cell").length).toBe(0);
    expect(grid.dataset.stat).toBeUndefined();
    for (let k = 0; k < 3; k++) {
      for (const r of held.splice(0)) r.release(); // doc2's overview, window, then statistics
      await settle();
    }
    expect(grid.dataset.stat).toBe("first_token");
    expect([...grid.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["first token", "entropy"]);
    expect(errors).toEqual([]);
    expect(urls.filter((u) => u.startsWith("/api/analyses/doc2/stats")).length).toBe(1);
  });

  it("clears the statistics grid when the document goes away", async () => {
    server({ hold: [], honourAbort: true });
    const { store, root } = setup();
    store.update(showDocument(store.state, doc("doc1", 50)));
    await settle();
    expect(tid(root, "head-stats").querySelectorAll("rect.hs-cell").length).toBe(L * H);
    store.update({ doc: null });
    await settle();
    expect(tid(root, "long-view").hidden).toBe(true);
    expect(tid(root, "head-stats").querySelectorAll("rect.hs-cell").length).toBe(0);
    expect(tid(root, "head-stats").dataset.ready).toBe("false");
  });

  it("a late error of the old document neither sets nor clears the error message", async () => {
    const { held } = server({ hold: ["doc1"], honourAbort: false, fail: ["blocks", "window", "rows"] });
    const { store, errors } = setup();
    await doc1Pending(store);
    store.update({ doc: null }); // a short text was analysed next
    await settle();
    for (const r of held.splice(0)) r.release(); // doc1's overview, window and rows fail late
    await settle();
    expect(errors).toEqual([]);
  });

  it("an error of the old document does not make the new one clear the error message", async () => {
    const { held } = server({ hold: [], honourAbort: true, fail: ["rows", "blocks", "stats"] });
    const { store, errors } = setup();
    await doc1Pending(store);
    expect(errors.filter((e) => e !== null).length).toBe(3); // doc1's rows, blocks, stats: 404
    expect(errors.at(-1)).not.toBeNull();
    expect(held).toEqual([]);
    const before = errors.length;
    vi.unstubAllGlobals();
    server({ hold: [], honourAbort: true });
    store.update(showDocument(store.state, doc("doc2", 30)));
    await settle();
    // No error(null) from doc2's answers: the host clears its message on a new analysis.
    expect(errors.length).toBe(before);
  });

  it("drops a late window error of the old document", async () => {
    const { held } = server({ hold: ["doc1"], honourAbort: false, fail: ["window"] });
    const { store, root, errors } = setup();
    await doc1Pending(store);
    const win1 = held.find((r) => r.url.includes("/window"))!;
    store.update(showDocument(store.state, doc("doc2", 30)));
    await settle();
    const pane = tid(root, "long-window");
    expect(pane.dataset.stop).toBe("30");
    expect(pane.dataset.ready).toBe("true");
    win1.release();
    await settle();
    expect(errors).toEqual([]);
    expect(pane.dataset.stop).toBe("30");
  });

  it("never asks for a window or a token past the end, even for a state not fitted to the document", async () => {
    const { urls } = server({ hold: [], honourAbort: true });
    const { store, root, errors } = setup();
    store.update(showDocument(store.state, doc("doc2", 30)));
    await settle();
    urls.length = 0;
    store.update({ long: { ...store.state.long, start: 9000, stop: 9100, token: 9000 } });
    await settle();
    store.update({ layer: 1 });
    await settle();
    const asked = urls.map((u) => new URL(u, "http://x").searchParams);
    expect(asked.length).toBeGreaterThan(0);
    for (const q of asked) {
      if (q.has("stop")) expect(Number(q.get("stop"))).toBeLessThanOrEqual(30);
      if (q.has("rows")) expect(Number(q.get("rows"))).toBeLessThan(30);
    }
    expect(urls.some((u) => u.includes("/rows"))).toBe(false);
    expect(tid(root, "long-window").dataset.stop).toBe("30");
    expect(errors).toEqual([]);
  });
});
