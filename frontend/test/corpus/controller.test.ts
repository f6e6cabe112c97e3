// @vitest-environment jsdom
// The corpus controller on a store, against a stubbed server.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AnalysisHeader, CorpusInfo, SearchRequest } from "../../src/api/types";
import { AttentionLayers } from "../../src/attention/frame";
import { CorpusController } from "../../src/corpus/controller";
import { createStore, defaultSearchState, type Analysis, type SearchState } from "../../src/store";
import { corpusInfo, fixtureRanking, fixtureResult } from "../fixtures/corpus";

const qa = (root: ParentNode, sel: string) => Array.from(root.querySelectorAll(sel));
const tid = (name: string) => `[data-testid="${name}"]`;
const click = (el: Element | null) => el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
const settle = () => new Promise((r) => setTimeout(r, 0));

const CORPORA: CorpusInfo[] = [
  corpusInfo("tiny", "minilm-l6", ["embeddings", 0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]),
  corpusInfo("sparse", "minilm-l6", ["embeddings", 2, 5], [2, 5]),
  corpusInfo("other", "smollm2-135m", ["embeddings", 0], [0]),
];

function analysis(): Analysis {
  const tokens = ["[CLS]", "the", "cat", "sat", "[SEP]"].map((text, i) => ({
    text,
    start: i,
    end: i + 1,
    special: text.startsWith("["),
    segment: 0,
    masked: false,
    continues: false,
  }));
  const header: AnalysisHeader = {
    model: "minilm-l6",
    kind: "bidirectional",
    text: "the cat sat",
    text_b: null,
    mask: [],
    n_layers: 6,
    n_heads: 12,
    tokens,
    predictions: null,
    predictions_unavailable: null,
    attention: { dtype: "float16", mode: "full", layers: [0, 1, 2, 3, 4, 5], shape: [6, 12, 5, 5], offset: 0 },
  };
  return { header, attention: new AttentionLayers(6, 12, 5), maskToken: "[MASK]" };
}

function setup(initial: Partial<SearchState> = {}, opts: { searchError?: boolean; analysis?: Analysis | null } = {}) {
  const requests: SearchRequest[] = [];
  const urls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      urls.push(url);
      const json = (body: unknown, status = 200) =>
        new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
      if (url.endsWith("/api/corpora")) return json({ corpora: CORPORA });
      if (url.includes("/heads")) return json(fixtureRanking());
      if (url.endsWith("/api/search")) {
        const req = JSON.parse(String(init?.body)) as SearchRequest;
        requests.push(req);
        if (opts.searchError)
          return json({ error: { type: "InvalidRequest", message: "layer 9 is not stored", status: 422 } }, 422);
        return json({ ...fixtureResult(), layer: req.layer, by: req.by, heads: req.heads });
      }
      return json({ error: { message: "not found" } }, 404);
    }),
  );
  const store = createStore({
    model: "minilm-l6",
    layer: 3,
    shape: { layers: 6, heads: 12 },
    analysis: opts.analysis === undefined ? analysis() : opts.analysis,
    search: { ...defaultSearchState(), ...initial },
  });
  const root = document.createElement("div");
  document.body.append(root);
  const ctl = new CorpusController(root, store);
  const pin = (index: number) => store.update({ pinned: { side: "left", index } });
  return { ctl, root, store, requests, urls, pin };
}

beforeEach(() => document.body.replaceChildren());

describe("CorpusController", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists the model's corpora and asks for a token before searching", async () => {
    const t = setup();
    await t.ctl.load();
    const options = qa(t.root, `${tid("corpus-select")} option`).map((o) => (o as HTMLOptionElement).value);
    expect(options).toEqual(["tiny", "sparse"]);
    expect(t.store.state.search.corpus).toBe("tiny");
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    expect(t.requests).toHaveLength(0);
    expect(t.root.querySelector(tid("corpus-hint"))!.textContent).toMatch(/click a token/i);
  });

  it("searches the pinned token at the view's layer (one numbering) with the view's heads", async () => {
    const t = setup();
    await t.ctl.load();
    t.pin(2);
    const query = t.root.querySelector(tid("corpus-query"))!.textContent!;
    expect(query).toContain("layer 3");
    expect(query).not.toContain("block");
    expect(t.root.querySelector(tid("corpus-query-layer"))!.getAttribute("title")).toMatch(/0-based/);
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.requests[0]).toMatchObject({ corpus: "tiny", token: 2, layer: 3, by: "embedding", heads: null, text: "the cat sat" });
    expect(qa(t.root, tid("search-result"))).toHaveLength(3);
    expect(t.store.state.search).toMatchObject({ by: "embedding", token: 2, layer: 3 });
    const caption = t.root.querySelector(tid("search-caption"))!.textContent!;
    expect(caption).toContain("layer 3");
    expect(caption).not.toContain("block");
    t.store.update({ heads: [1, 5] });
    click(t.root.querySelector(tid("search-context-button")));
    await settle();
    await settle();
    expect(t.requests[1]).toMatchObject({ by: "context", layer: 3, heads: [1, 5] });
    expect(t.root.querySelector(tid("search-caption"))!.textContent).toContain("heads 1, 5");
  });

  it("uses the nearest stored layer and says so", async () => {
    const t = setup({ corpus: "sparse" });
    await t.ctl.load();
    t.pin(2);
    expect(t.root.querySelector(tid("corpus-query"))!.textContent).toContain("nearest stored layer 2");
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.requests[0].layer).toBe(2);
    expect(t.root.querySelector(tid("corpus-message"))!.textContent).toMatch(/layer 3 .*nearest stored layer, 2/);
  });

  it("shows the server's error in the panel", async () => {
    const t = setup({}, { searchError: true });
    await t.ctl.load();
    t.pin(2);
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.root.querySelector(tid("corpus-error"))!.textContent).toContain("layer 9 is not stored");
  });

  it("re-runs the search of the URL once the analysis is there, and forgets it on a new analysis", async () => {
    const t = setup({ corpus: "tiny", by: "context", token: 2, layer: 5, heads: [3] }, { analysis: null });
    await t.ctl.load();
    expect(t.requests).toHaveLength(0);
    t.store.update({ analysis: analysis() });
    await settle();
    await settle();
    expect(t.store.state.pinned).toEqual({ side: "left", index: 2 });
    expect(t.requests[0]).toMatchObject({ by: "context", token: 2, layer: 5, heads: [3] });
    expect(qa(t.root, tid("search-result"))).toHaveLength(3);
    t.store.update({ analysis: analysis() });
    expect(qa(t.root, tid("search-result"))).toHaveLength(0);
    expect(t.store.state.search).toMatchObject({ by: null, token: null });
  });

  it("re-runs a shown search when the special-token switch changes", async () => {
    const t = setup();
    await t.ctl.load();
    t.pin(2);
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.requests[0].special_attention).toBe(false);
    t.store.update({ hideSpecial: false });
    await settle();
    expect(t.requests[1]).toMatchObject({ token: 2, layer: 3, special_attention: true });
  });

  it("shows the clicked head of the head ranking", async () => {
    const t = setup();
    await t.ctl.load();
    await settle();
    expect(t.urls.some((u) => u.endsWith("/api/corpora/tiny/heads"))).toBe(true);
    click(t.root.querySelector('rect.hr-cell[data-layer="1"][data-head="1"]'));
    expect(t.store.state).toMatchObject({ layer: 1, heads: [1], weights: null });
  });
});
