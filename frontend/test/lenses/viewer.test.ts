// @vitest-environment jsdom
// The lens area and the attention modes of the Viewer on a hand-built analysis, with a LensSource
// that answers from the analysis itself (rollout: identity matrices, one layer as the server
// does or every layer as the HTML export does; the logit lens: a given answer or a rejection;
// failures queued as the server's ApiErrors) and counts its calls.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/api/client";
import { AttentionLayers, decodeFrame } from "../../src/attention/frame";
import { describeView } from "../../src/attention/exportSvg";
import { ALL_LAYERS_BYTES } from "../../src/api/limits";
import { payloadBytes } from "../../src/attention/math";
import { Viewer } from "../../src/attention/viewer";
import { MODE_CACHE_BYTES, RolloutCache, WEIGHTS_DEBOUNCE_MS } from "../../src/lenses/modes";
import { fullViewTokens } from "../../src/lenses/modelView";
import { PerAnalysis } from "../../src/lenses/panel";
import type { HeadScoresData, LensSource, LogitLensData, RolloutRequest } from "../../src/lenses/source";
import { createStore, showAnalysis, type Analysis } from "../../src/store";
import { randomFrame } from "../fixtures/frame";

const TEXTS = ["the", "cat", "sat", "on", "the", "mat"];
const L = 3;
const H = 4;
const T = TEXTS.length;

function lensData(): LogitLensData {
  const top = Array.from({ length: L + 1 }, (_, l) => TEXTS.map((t) => [{ token: `${t}${l}`, prob: 0.6, token_id: l }, { token: "x", prob: 0.1, token_id: 9 }]));
  return {
    model: "test",
    lens: "logit",
    top_k: 2,
    positions: TEXTS.map((_, i) => i),
    top,
    target_ids: TEXTS.map(() => L),
    target_tokens: TEXTS.map((t) => `${t}${L}`),
    target_prob: top.map((_, l) => TEXTS.map(() => l / L)),
    target_rank: top.map((_, l) => TEXTS.map(() => L - l)),
  };
}

function scores(): HeadScoresData {
  const grid = (v: number) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => (h === 0 ? null : v * (l + h))));
  return { names: ["previous_token", "induction"], layers: L, heads: H, scores: { previous_token: grid(0.05), induction: grid(0.02) } };
}

class TestSource implements LensSource {
  calls = { lens: 0, scores: 0, rollout: [] as RolloutRequest[] };
  /** Errors thrown by the next calls (then answers). */
  failures: Error[] = [];
  signals: AbortSignal[] = [];
  constructor(
    private readonly lensError: string | null = null,
    /** Answer every layer at once (as lenses/embedded.ts may), not the one asked for. */
    private readonly allLayers = false,
  ) {}
  async logitLens(_a: Analysis, signal?: AbortSignal): Promise<LogitLensData> {
    this.calls.lens++;
    if (signal) this.signals.push(signal);
    const f = this.failures.shift();
    if (f) throw f;
    if (this.lensError) throw new Error(this.lensError);
    return lensData();
  }
  async headScores(): Promise<HeadScoresData> {
    this.calls.scores++;
    const f = this.failures.shift();
    if (f) throw f;
    return scores();
  }
  async rollout(a: Analysis, req: RolloutRequest) {
    this.calls.rollout.push(req);
    const f = this.failures.shift();
    if (f) throw f;
    const layers = req.mode === "rollout" && this.allLayers ? Array.from({ length: L }, (_, l) => l) : [req.layer];
    const n = a.header.tokens.length;
    const data = new Float32Array(layers.length * n * n);
    layers.forEach((_, k) => {
      for (let i = 0; i < n; i++) data[k * n * n + i * n + i] = 1; // every token to itself
    });
    return { mode: req.mode, layers, T: n, data };
  }
}

const flush = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const busy = () => new ApiError("the server is busy", "MemoryBudget", 503);

function setup(source: TestSource) {
  const frame = decodeFrame(randomFrame(TEXTS, [], L, H, { causal: true }));
  const store = createStore();
  const root = document.createElement("div");
  document.body.append(root);
  const viewer = new Viewer(root, store, { lenses: source });
  store.update(showAnalysis(store.state, { header: frame.header, attention: AttentionLayers.of(frame), maskToken: null, id: "a1" }));
  const q = <E extends Element = HTMLElement>(sel: string) => root.querySelector<E>(sel);
  const tid = (id: string) => q(`[data-testid="${id}"]`)!;
  const edges = () => (viewer.svg as unknown as { exbertEdges(): { from: number; to: number }[] }).exbertEdges();
  return { store, root, viewer, q, tid, edges };
}

describe("lens area", () => {
  it("is absent without a LensSource and has three tabs with one", () => {
    const plain = new Viewer(document.createElement("div"), createStore());
    expect(plain.root.querySelector('[data-testid="lens-area"]')).toBeNull();
    expect(plain.root.querySelector('[data-testid="attention-mode"]')).toBeNull();
    const { tid, store } = setup(new TestSource());
    (tid("lens-tab-heads") as HTMLButtonElement).click();
    expect(store.state.lens.panel).toBe("heads");
    (tid("lens-tab-heads") as HTMLButtonElement).click();
    expect(store.state.lens.panel).toBeNull();
  });

  it("model view: a cell per layer and head; a click selects that layer and head", () => {
    const { tid, store, root } = setup(new TestSource());
    (tid("lens-tab-model") as HTMLButtonElement).click();
    expect(root.querySelectorAll(".mv-cell").length).toBe(L * H);
    expect(tid("model-view").dataset.ready).toBe("true");
    (tid("model-view-cell-2-3") as HTMLElement).click();
    expect(store.state.layer).toBe(2);
    expect(store.state.heads).toEqual([3]);
    expect(tid("model-view-cell-2-3").classList.contains("selected")).toBe(true);
    expect(tid("model-view-cell-1-3").classList.contains("selected")).toBe(false);
  });

  it("logit lens: fetched once per analysis, grid of top-1 tokens coloured by the target", async () => {
    const src = new TestSource();
    const { tid, store, root } = setup(src);
    store.update({ lens: { ...store.state.lens, panel: "lens" } });
    expect(tid("logit-lens").dataset.state).toBe("loading");
    await flush();
    expect(tid("logit-lens").dataset.state).toBe("ready");
    const cells = root.querySelectorAll<HTMLElement>("td.ll-cell");
    expect(cells.length).toBe((L + 1) * T);
    const last = root.querySelectorAll<HTMLElement>(`td.ll-cell[data-layer="${L}"]`);
    expect(Array.from(last, (c) => c.dataset.token)).toEqual(TEXTS.map((t) => `${t}${L}`));
    expect(last[0].dataset.prob).toBe("1.0000");
    store.update({ layer: 2, heads: [1] });
    store.update({ lens: { ...store.state.lens, panel: "model" } });
    store.update({ lens: { ...store.state.lens, panel: "lens" } });
    await flush();
    expect(src.calls.lens).toBe(1);
    cells[3].dispatchEvent(new Event("pointerover", { bubbles: true }));
    expect(tid("logit-lens-tooltip").hidden).toBe(false);
    expect(tid("logit-lens-tooltip").textContent).toContain("on0");
  });

  it("logit lens: a rejection's message is shown", async () => {
    const msg = "model 'minilm-l6' has no output head: it cannot predict tokens";
    const { tid, store } = setup(new TestSource(msg));
    store.update({ lens: { ...store.state.lens, panel: "lens" } });
    await flush();
    expect(tid("logit-lens-message").textContent).toBe(msg);
  });

  it("head detectors: heatmap per detector, click selects, probe button only when offered", async () => {
    const src = new TestSource();
    const { tid, store, root } = setup(src);
    store.update({ lens: { ...store.state.lens, panel: "heads" } });
    await flush();
    expect(root.querySelectorAll("rect.hd-cell").length).toBe(L * H);
    expect(root.querySelector<SVGRectElement>('rect.hd-cell[data-layer="0"][data-head="0"]')!.dataset.value).toBe("");
    expect(root.querySelector<SVGRectElement>('rect.hd-cell[data-layer="2"][data-head="3"]')!.dataset.value).toBe("0.2500");
    const sel = tid("head-detector-select") as HTMLSelectElement;
    sel.value = "induction";
    sel.dispatchEvent(new Event("change"));
    expect(store.state.lens.detector).toBe("induction");
    expect(root.querySelector<SVGRectElement>('rect.hd-cell[data-layer="2"][data-head="3"]')!.dataset.value).toBe("0.1000");
    root.querySelector('rect.hd-cell[data-layer="1"][data-head="2"]')!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(store.state.layer).toBe(1);
    expect(store.state.heads).toEqual([2]);
    expect(src.calls.scores).toBe(1);
    expect(root.querySelector('[data-testid="induction-probe-button"]')).toBeNull();
    const probed: string[] = [];
    const withProbe = new TestSource();
    (withProbe as LensSource).inductionProbe = async () => void probed.push("run");
    const b = setup(withProbe);
    b.store.update({ lens: { ...b.store.state.lens, panel: "heads" } });
    (b.tid("induction-probe-button") as HTMLButtonElement).click();
    await flush();
    expect(probed).toEqual(["run"]);
  });
});

describe("attention modes", () => {
  it("flow is disabled past MAX_FLOW_TOKENS tokens and says why", () => {
    const long = Array.from({ length: 70 }, (_, i) => `w${i}`);
    const frame = decodeFrame(randomFrame(long, [], 1, 2, { causal: true }));
    const store = createStore();
    const root = document.createElement("div");
    new Viewer(root, store, { lenses: new TestSource() });
    store.update(showAnalysis(store.state, { header: frame.header, attention: AttentionLayers.of(frame), maskToken: null, id: "b" }));
    const flow = root.querySelector<HTMLOptionElement>('[data-testid="attention-mode"] option[value="flow"]')!;
    expect(flow.disabled).toBe(true);
    expect(flow.title).toContain("64");
    store.update({ lens: { ...store.state.lens, attentionMode: "flow" } }); // (e.g. from a link)
    expect(root.querySelector('[data-testid="viewer-overlay"]')!.textContent).toContain("up to 64 tokens");
  });

  it("rollout and flow are asked per layer and cached; a layer seen again needs no request", async () => {
    const src = new TestSource();
    const { tid, store, edges, viewer } = setup(src);
    const raw = edges();
    expect(raw.some((e) => e.from !== e.to)).toBe(true);
    expect(viewer.svg.getAttribute("data-mode")).toBe("raw");
    const mode = tid("attention-mode") as HTMLSelectElement;
    mode.value = "rollout";
    mode.dispatchEvent(new Event("change"));
    expect(store.state.lens.attentionMode).toBe("rollout");
    expect(viewer.svg.getAttribute("data-ready")).toBe("false");
    await flush();
    expect(viewer.svg.getAttribute("data-mode")).toBe("rollout");
    expect(edges().every((e) => e.from === e.to)).toBe(true);
    expect(describeView(viewer.exportContext())).toMatch(/^attention rollout of all 4 heads/);
    expect(tid("attention-mode-note").hidden).toBe(false);
    expect(tid("attention-mode-note").textContent).toBe("attention rollout through layers 0\u20130 (all heads)");
    store.update({ layer: 2 });
    expect(viewer.svg.getAttribute("data-ready")).toBe("false");
    await flush();
    expect(viewer.svg.getAttribute("data-layer")).toBe("2");
    expect(viewer.svg.getAttribute("data-ready")).toBe("true");
    store.update({ layer: 0 }); // (cached)
    expect(viewer.svg.getAttribute("data-ready")).toBe("true");
    expect(src.calls.rollout.map((r) => [r.mode, r.layer])).toEqual([["rollout", 0], ["rollout", 2]]);
    store.update({ heads: [1, 2], weights: [2, 1] });
    await flush();
    expect(src.calls.rollout.length).toBe(3);
    expect(src.calls.rollout[2]).toMatchObject({ mode: "rollout", layer: 0, heads: [1, 2], weights: [2, 1] });
    store.update({ lens: { ...store.state.lens, attentionMode: "flow" } });
    await flush();
    store.update({ layer: 1 });
    await flush();
    expect(src.calls.rollout.slice(3).map((r) => [r.mode, r.layer])).toEqual([["flow", 0], ["flow", 1]]);
    expect(viewer.svg.getAttribute("data-mode")).toBe("flow");
    store.update({ lens: { ...store.state.lens, attentionMode: "raw" } });
    expect(tid("attention-mode-note").hidden).toBe(true);
    expect(edges()).not.toEqual(edges().filter((e) => e.from === e.to));
    expect((mode.querySelector('option[value="flow"]') as HTMLOptionElement).disabled).toBe(false);
  });

  it("an answer of every layer (the export's form) serves the other layers without a request", async () => {
    const src = new TestSource(null, true);
    const { store, viewer } = setup(src);
    store.update({ lens: { ...store.state.lens, attentionMode: "rollout" } });
    await flush();
    for (const layer of [1, 2, 0]) {
      store.update({ layer });
      expect(viewer.svg.getAttribute("data-ready")).toBe("true");
      expect(viewer.svg.getAttribute("data-layer")).toBe(String(layer));
    }
    expect(src.calls.rollout.length).toBe(1);
  });

  it("weight changes alone wait for the slider to stop before asking", async () => {
    const src = new TestSource();
    const { store, viewer } = setup(src);
    store.update({ heads: [0, 1], weights: [1, 1], lens: { ...store.state.lens, attentionMode: "rollout" } });
    await flush();
    expect(src.calls.rollout.length).toBe(1);
    for (const w of [0.9, 0.8, 0.7, 0.6, 0.5]) {
      store.update({ weights: [w, 1] });
      await flush(20);
    }
    expect(src.calls.rollout.length).toBe(1);
    expect(viewer.svg.getAttribute("data-ready")).toBe("false");
    await flush(WEIGHTS_DEBOUNCE_MS + 50);
    expect(src.calls.rollout.map((r) => r.weights)).toEqual([[1, 1], [0.5, 1]]);
    expect(viewer.svg.getAttribute("data-ready")).toBe("true");
  });

  it("a failed rollout is shown, not kept: switching the mode again asks again", async () => {
    const src = new TestSource();
    src.failures.push(busy());
    const { store, q, viewer } = setup(src);
    store.update({ lens: { ...store.state.lens, attentionMode: "rollout" } });
    await flush();
    expect(q('[data-testid="viewer-overlay"]')!.textContent).toContain("the server is busy");
    store.update({ lens: { ...store.state.lens, attentionMode: "raw" } });
    store.update({ lens: { ...store.state.lens, attentionMode: "rollout" } });
    await flush();
    expect(src.calls.rollout.length).toBe(2);
    expect(viewer.svg.getAttribute("data-mode")).toBe("rollout");
    expect(viewer.svg.getAttribute("data-ready")).toBe("true");
  });

  it("keeps a few matrices only: the cache is bounded in bytes", () => {
    const c = new RolloutCache(3 * 4 * 10 * 10);
    const m = (layer: number) => ({ mode: "flow" as const, layers: [layer], T: 10, data: new Float32Array(100).fill(layer) });
    for (let l = 0; l < 5; l++) c.put("k", m(l));
    expect(c.size).toBe(3);
    expect(c.bytes).toBeLessThanOrEqual(c.maxBytes);
    expect(c.get("k", 0)).toBeNull();
    expect(c.get("k", 4)![0]).toBe(4);
    expect(c.get("other", 4)).toBeNull();
    expect(MODE_CACHE_BYTES).toBeLessThan(ALL_LAYERS_BYTES);
    // (one answer larger than the budget is still kept: it is the one on screen)
    const big = new RolloutCache(10);
    big.put("k", { mode: "rollout", layers: [0, 1, 2], T: 10, data: new Float32Array(300) });
    expect(big.get("k", 2)).not.toBeNull();
  });
});

describe("lens requests that fail or are abandoned", () => {
  it("the logit lens is asked again when its panel is opened again after a 503, not after a 422", async () => {
    const src = new TestSource();
    src.failures.push(busy());
    const { store, tid } = setup(src);
    const open = (panel: "lens" | null) => store.update({ lens: { ...store.state.lens, panel } });
    open("lens");
    for (let k = 0; k < 5; k++) store.update({ layer: k % L }); // (renders while pending)
    await flush();
    expect(tid("logit-lens-message").textContent).toBe("the server is busy");
    store.update({ layer: 1 });
    expect(src.calls.lens).toBe(1);
    open(null);
    open("lens");
    await flush();
    expect(src.calls.lens).toBe(2);
    expect(tid("logit-lens").dataset.state).toBe("ready");
    const fixed = new TestSource();
    fixed.failures.push(new ApiError("no output head", "NoOutputHead", 422));
    const d = setup(fixed);
    d.store.update({ lens: { ...d.store.state.lens, panel: "lens" } });
    await flush();
    d.store.update({ lens: { ...d.store.state.lens, panel: null } });
    d.store.update({ lens: { ...d.store.state.lens, panel: "lens" } });
    await flush();
    expect(fixed.calls.lens).toBe(1);
    expect(d.tid("logit-lens-message").textContent).toBe("no output head");
  });

  it("PerAnalysis: one request and one callback per settlement however often it is asked", async () => {
    const frame = decodeFrame(randomFrame(TEXTS, [], 1, 1));
    const a: Analysis = { header: frame.header, attention: AttentionLayers.of(frame), maskToken: null };
    const settled: Analysis[] = [];
    const per = new PerAnalysis(async () => 7, (x) => settled.push(x));
    for (let k = 0; k < 10; k++) expect(per.get(a)).toBeNull();
    await flush();
    expect(settled).toEqual([a]);
    expect(per.get(a)).toEqual({ ok: 7 });
    expect(per.calls).toBe(1);
  });

  it("a request for an analysis no longer shown is aborted", async () => {
    const src = new TestSource();
    const release: (() => void)[] = [];
    src.logitLens = (_a, signal) => {
      src.calls.lens++;
      if (signal) src.signals.push(signal);
      return new Promise((_, reject) => {
        release.push(() => reject(new Error("late")));
        signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    };
    const { store, tid } = setup(src);
    store.update({ lens: { ...store.state.lens, panel: "lens" } });
    expect(src.signals.length).toBe(1);
    const frame = decodeFrame(randomFrame(TEXTS, [], L, H, { causal: true, seed: 2 }));
    store.update(showAnalysis(store.state, { header: frame.header, attention: AttentionLayers.of(frame), maskToken: null, id: "a2" }));
    expect(src.signals[0].aborted).toBe(true);
    release[0](); // (the first answer, late: not shown for the analysis now on screen)
    await flush();
    expect(tid("logit-lens").dataset.state).toBe("loading");
    expect(src.calls.lens).toBe(2);
  });
});

describe("model view of an input sent per layer", () => {
  it("does not pull in every layer past ALL_LAYERS_BYTES and says up to how many tokens it shows", async () => {
    const Lbig = 400;
    const Hs = 2;
    const words = Array.from({ length: 150 }, (_, i) => `w${i}`);
    expect(payloadBytes(Lbig, Hs, words.length)).toBeGreaterThan(ALL_LAYERS_BYTES);
    const frame = decodeFrame(randomFrame(words, [], 1, Hs, { causal: true }));
    const attention = new AttentionLayers(Lbig, Hs, words.length);
    attention.add(frame.attention);
    const asked: number[][] = [];
    const store = createStore();
    const root = document.createElement("div");
    document.body.append(root);
    new Viewer(root, store, { lenses: new TestSource(), onNeedLayers: (ls) => void asked.push(ls), onNeedLayer: (l) => asked.push([l]) });
    store.update(showAnalysis(store.state, { header: { ...frame.header, n_layers: Lbig }, attention, maskToken: null, id: "big" }));
    store.update({ lens: { ...store.state.lens, panel: "model" } });
    await flush();
    expect(asked).toEqual([]);
    const mv = root.querySelector<HTMLElement>('[data-testid="model-view"]')!;
    const limit = fullViewTokens(Lbig, Hs);
    expect(mv.dataset.limit).toBe(String(limit));
    expect(payloadBytes(Lbig, Hs, limit)).toBeLessThanOrEqual(ALL_LAYERS_BYTES);
    expect(payloadBytes(Lbig, Hs, limit + 1)).toBeGreaterThan(ALL_LAYERS_BYTES);
    expect(mv.textContent).toContain(`up to ${limit} tokens for this model`);
    expect(mv.dataset.loaded).toBe("1");
  });

  it("layers that failed to load are asked again when the panel is opened again", async () => {
    const frame = decodeFrame(randomFrame(TEXTS, [], L, H, { causal: true }));
    const part = decodeFrame(randomFrame(TEXTS, [], 1, H, { causal: true }));
    const attention = new AttentionLayers(L, H, T);
    attention.add(part.attention);
    const asked: number[][] = [];
    const store = createStore();
    const root = document.createElement("div");
    document.body.append(root);
    new Viewer(root, store, { lenses: new TestSource(), onNeedLayers: async (ls) => void asked.push(ls) }); // (adds nothing: failed)
    store.update(showAnalysis(store.state, { header: frame.header, attention, maskToken: null, id: "p" }));
    const open = (panel: "model" | null) => store.update({ lens: { ...store.state.lens, panel } });
    open("model");
    await flush();
    store.update({ layer: 0 });
    expect(asked).toEqual([[1, 2]]);
    expect(root.querySelector('[data-testid="model-view"]')!.textContent).toContain("could not be loaded");
    open(null);
    open("model");
    expect(asked).toEqual([[1, 2], [1, 2]]);
  });
});
