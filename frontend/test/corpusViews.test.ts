// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CorpusInfo, SearchRequest } from "../src/corpus";
import { CorpusController, type CorpusHost } from "../src/corpusController";
import type { AnalysisHeader } from "../src/payload";
import { defaultSearchState, type SearchState } from "../src/state";
import type { ViewState } from "../src/viewer";
import { CorpusPanel } from "../src/views/corpus";
import { HeadRankingView } from "../src/views/headRanking";
import { fixtureRanking, fixtureResult } from "./corpusFixture";

const qa = (root: ParentNode, sel: string) => Array.from(root.querySelectorAll(sel));
const tid = (name: string) => `[data-testid="${name}"]`;
const click = (el: Element | null) => el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));

beforeEach(() => document.body.replaceChildren());

describe("CorpusPanel", () => {
  it("shows one result per match with its matched and max-attention tokens", () => {
    const panel = new CorpusPanel(document.body);
    panel.showResult(fixtureResult(), "3 nearest");
    const results = qa(document, tid("search-result"));
    expect(results).toHaveLength(3);
    for (const r of results) expect(qa(r, tid("matched-token"))).toHaveLength(1);
    expect(results[0].querySelector(tid("matched-token"))!.textContent).toBe("dog");
    expect(results[1].querySelector(tid("matched-token"))!.textContent).toBe("cat");
    // max attention of match 1 on [CLS] (a special token, shown because it is the target)
    expect(results[0].querySelector(tid("max-attention-token"))!.textContent).toBe("[CLS]");
    expect(results[1].querySelector(tid("max-attention-token"))!.textContent).toBe("saw");
    // the sentence keeps its spacing
    expect(results[1].querySelector(".sr-sentence")!.textContent).toBe("Holmes saw a cat");
    // special tokens only when they are the max-attention target
    expect(results[0].querySelector(".sr-sentence")!.textContent).toBe("[CLS] The dog barked .");
    expect(results[0].querySelector('.ctok[data-index="3"]')!.getAttribute("data-pos")).toBe("VERB");
  });

  it("shows a token's annotation on hover", () => {
    new CorpusPanel(document.body).showResult(fixtureResult(), "");
    const tok = document.querySelector(`${tid("search-result")}:nth-child(2) ${tid("matched-token")}`)!;
    tok.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = document.querySelector(tid("token-meta-tooltip")) as HTMLElement;
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("NOUN (NN)");
    expect(tip.textContent).toContain("dobj");
    expect(tip.textContent).toContain("Lemma");
  });

  it("draws the colour summary and switches its field", () => {
    const fields: string[] = [];
    const panel = new CorpusPanel(document.body, { onField: (f) => fields.push(f) });
    panel.showResult(fixtureResult(), "");
    const matrix = document.querySelector(tid("summary-matrix"))!;
    expect(qa(matrix, tid("summary-row"))).toHaveLength(3);
    expect(qa(matrix, "thead th").map((t) => t.textContent)).toEqual(["#", "\u22122", "\u22121", "match", "+1", "+2"]);
    const zero = matrix.querySelector('tr[data-row="0"] td[data-offset="0"]') as HTMLElement;
    expect(zero.textContent).toBe("dog");
    expect(zero.dataset.label).toBe("NOUN");
    const posColor = zero.style.background;
    const legendPos = qa(document, `${tid("summary-legend")} .lg-item`).map((e) => e.getAttribute("data-label"));
    expect(legendPos).toContain("NOUN");
    click(document.querySelector(tid("summary-field-dep")));
    expect(fields).toEqual(["dep"]);
    expect(matrix.getAttribute("data-field")).toBe("dep");
    const zeroDep = matrix.querySelector('tr[data-row="0"] td[data-offset="0"]') as HTMLElement;
    expect(zeroDep.dataset.label).toBe("nsubj");
    expect(zeroDep.style.background).not.toBe(posColor);
    const legendDep = qa(document, `${tid("summary-legend")} .lg-item`).map((e) => e.getAttribute("data-label"));
    expect(legendDep).toContain("nsubj");
    expect(legendDep).not.toContain("NOUN");
    // cells beyond the sentence are empty
    expect(matrix.querySelector('tr[data-row="2"] td[data-offset="-2"]')!.classList.contains("empty")).toBe(true);
  });

  it("collapses a long summary to its top rows and expands it", () => {
    const r = fixtureResult();
    const many = { ...r, matches: [], summary: { ...r.summary, rows: Array.from({ length: 14 }, () => r.summary.rows[0]) } };
    new CorpusPanel(document.body).showResult(many, "");
    const matrix = document.querySelector(tid("summary-matrix"))!;
    expect(qa(matrix, tid("summary-row"))).toHaveLength(10);
    const toggle = document.querySelector(tid("summary-toggle")) as HTMLButtonElement;
    expect(toggle.hidden).toBe(false);
    click(toggle);
    expect(qa(matrix, tid("summary-row"))).toHaveLength(14);
    click(toggle);
    expect(qa(matrix, tid("summary-row"))).toHaveLength(10);
  });

  it("draws both histograms with coloured bars", () => {
    const panel = new CorpusPanel(document.body);
    panel.showResult(fixtureResult(), "");
    const bars = (name: string) =>
      qa(document, `${tid(name)} rect.bar`).map((b) => [b.getAttribute("data-label"), b.getAttribute("data-count")]);
    expect(bars("histogram-matched")).toEqual([["NOUN", "2"], ["PROPN", "1"]]);
    expect(bars("histogram-max-attention")).toEqual([["VERB", "2"], ["(special)", "1"]]);
    const fill = document.querySelector(`${tid("histogram-matched")} rect.bar`)!.getAttribute("fill");
    const cell = document.querySelector(`${tid("summary-matrix")} td[data-label="NOUN"]`) as HTMLElement;
    expect(cell.style.background).toBe(hexToRgb(fill!));
    panel.setField("ent");
    expect(bars("histogram-matched")).toEqual([["(none)", "2"], ["PERSON", "1"]]);
  });

  it("says when no corpus fits the model", () => {
    const panel = new CorpusPanel(document.body);
    panel.setCorpora([], "", "No corpus for this model.");
    expect((document.querySelector(tid("corpus-note")) as HTMLElement).textContent).toContain("No corpus");
    expect((document.querySelector(".cp-query-row") as HTMLElement).hidden).toBe(true);
  });
});

describe("HeadRankingView", () => {
  it("draws layers x heads cells in the view's layer numbering and selects on click", () => {
    const picks: [number, number][] = [];
    const rels: string[] = [];
    const view = new HeadRankingView(document.body, { onSelect: (l, h) => picks.push([l, h]), onRelation: (r) => rels.push(r) });
    view.update(fixtureRanking(), "dep_head");
    const cells = qa(document, `${tid("head-ranking")} rect.hr-cell`);
    expect(cells).toHaveLength(6);
    expect(new Set(cells.map((c) => c.getAttribute("data-layer")))).toEqual(new Set(["1", "3"]));
    const best = document.querySelector('rect.hr-cell[data-layer="3"][data-head="2"]')!;
    expect(best.getAttribute("data-block")).toBe("4");
    expect(best.getAttribute("data-score")).toBe("0.9000");
    click(best);
    expect(picks).toEqual([[3, 2]]);
    expect(document.querySelector(tid("head-top-0"))!.textContent).toContain("layer 3 \u00b7 head 2");
    best.dispatchEvent(new MouseEvent("mouseenter"));
    const tip = document.querySelector(tid("head-ranking-tooltip")) as HTMLElement;
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("90.0%");
    expect(tip.textContent).toContain("90 of 100");
    // selection outline
    view.setSelection({ layer: 3, heads: [2] });
    expect(best.classList.contains("selected")).toBe(true);
    // another relation
    const sel = document.querySelector(tid("head-relation-select")) as HTMLSelectElement;
    sel.value = "prev_token";
    sel.dispatchEvent(new Event("change"));
    expect(rels).toEqual(["prev_token"]);
    expect(document.querySelector('rect.hr-cell[data-layer="1"][data-head="0"]')!.getAttribute("data-score")).toBe("1.0000");
  });
});

// --- the controller against a stubbed server -------------------------------------------------

const CORPORA: CorpusInfo[] = [
  { name: "tiny", layers: [0, 1, 2, 3, 4, 5, 6], context_layers: [1, 2, 3, 4, 5, 6], model: { name: "minilm-l6" } },
  { name: "sparse", layers: [0, 3, 6], context_layers: [3, 6], model: { name: "minilm-l6" } },
  { name: "other", layers: [0, 1], context_layers: [1], model: { name: "smollm2-135m" } },
];

function header(): AnalysisHeader {
  const toks = ["[CLS]", "the", "cat", "sat", "[SEP]"].map((text, i) => ({
    text,
    start: i,
    end: i + 1,
    special: text.startsWith("["),
    segment: 0,
    masked: false,
  }));
  return {
    model: "minilm-l6",
    kind: "bidirectional",
    text: "the cat sat",
    text_b: null,
    mask: [],
    n_layers: 6,
    n_heads: 12,
    tokens: toks,
    predictions: null,
    predictions_unavailable: null,
    attention: { dtype: "float16", layers: [0, 1, 2, 3, 4, 5], shape: [6, 12, 5, 5] } as unknown as AnalysisHeader["attention"],
  };
}

function setupController(initial: Partial<SearchState> = {}, opts: { searchError?: boolean } = {}) {
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
  const view: ViewState = { layer: 3, heads: null, weights: null, hideSpecial: true, threshold: 0.7 };
  const states: SearchState[] = [];
  const pins: number[] = [];
  const heads: [number, number][] = [];
  let analysis: AnalysisHeader | null = header();
  const host: CorpusHost = {
    model: () => "minilm-l6",
    analysis: () => analysis,
    view: () => view,
    nHeads: () => 12,
    pin: (i) => pins.push(i),
    selectHead: (l, h) => heads.push([l, h]),
    stateChanged: (s) => states.push(s),
  };
  const root = document.createElement("div");
  document.body.append(root);
  const ctl = new CorpusController(root, host, { ...defaultSearchState(), ...initial });
  return {
    ctl,
    root,
    view,
    requests,
    urls,
    states,
    pins,
    heads,
    setAnalysis: (a: AnalysisHeader | null) => (analysis = a),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("CorpusController", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists the model's corpora and asks for a token before searching", async () => {
    const t = setupController();
    await t.ctl.load();
    const options = qa(t.root, `${tid("corpus-select")} option`).map((o) => (o as HTMLOptionElement).value);
    expect(options).toEqual(["tiny", "sparse"]);
    expect(t.states.at(-1)!.corpus).toBe("tiny");
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    expect(t.requests).toHaveLength(0);
    expect(t.root.querySelector(tid("corpus-hint"))!.textContent).toMatch(/click a token/i);
  });

  it("searches the pinned token at block layer + 1 with the view's heads", async () => {
    const t = setupController();
    await t.ctl.load();
    t.ctl.pinChanged(2);
    expect(t.root.querySelector(tid("corpus-query"))!.textContent).toContain("layer 3 = block 4");
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.requests[0]).toMatchObject({ corpus: "tiny", token: 2, layer: 4, by: "embedding", heads: null, text: "the cat sat" });
    expect(qa(t.root, tid("search-result"))).toHaveLength(3);
    expect(t.states.at(-1)).toMatchObject({ by: "embedding", token: 2, layer: 4 });
    t.view.heads = [1, 5];
    t.ctl.viewChanged();
    click(t.root.querySelector(tid("search-context-button")));
    await settle();
    await settle();
    expect(t.requests[1]).toMatchObject({ by: "context", layer: 4, heads: [1, 5] });
    expect(t.root.querySelector(tid("search-caption"))!.textContent).toContain("heads 1, 5");
  });

  it("uses the nearest stored layer and says so", async () => {
    const t = setupController({ corpus: "sparse" });
    await t.ctl.load();
    t.ctl.pinChanged(2);
    expect(t.root.querySelector(tid("corpus-query"))!.textContent).toContain("nearest stored block 3");
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.requests[0].layer).toBe(3);
    expect(t.root.querySelector(tid("corpus-message"))!.textContent).toMatch(/block 4.*nearest stored block, 3/);
  });

  it("shows the server's error in the panel", async () => {
    const t = setupController({}, { searchError: true });
    await t.ctl.load();
    t.ctl.pinChanged(2);
    click(t.root.querySelector(tid("search-embedding-button")));
    await settle();
    await settle();
    expect(t.root.querySelector(tid("corpus-error"))!.textContent).toContain("layer 9 is not stored");
  });

  it("re-runs the search of the URL once the analysis is there, and forgets it on a new analysis", async () => {
    const t = setupController({ corpus: "tiny", by: "context", token: 2, layer: 5, heads: [3] });
    t.setAnalysis(null);
    await t.ctl.load();
    expect(t.requests).toHaveLength(0);
    t.setAnalysis(header());
    t.ctl.analysisChanged();
    await settle();
    await settle();
    expect(t.pins).toEqual([2]);
    expect(t.requests[0]).toMatchObject({ by: "context", token: 2, layer: 5, heads: [3] });
    expect(qa(t.root, tid("search-result"))).toHaveLength(3);
    t.ctl.analysisChanged();
    expect(qa(t.root, tid("search-result"))).toHaveLength(0);
    expect(t.states.at(-1)).toMatchObject({ by: null, token: null });
  });

  it("passes head-ranking clicks to the host", async () => {
    const t = setupController();
    await t.ctl.load();
    await settle();
    expect(t.urls.some((u) => u.endsWith("/api/corpora/tiny/heads"))).toBe(true);
    click(t.root.querySelector('rect.hr-cell[data-layer="1"][data-head="1"]'));
    expect(t.heads).toEqual([[1, 1]]);
  });
});

function hexToRgb(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
}
