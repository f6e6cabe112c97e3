// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import type { AnalysisHeader } from "../../src/api/types";
import { AttentionLayers, decodeFrame } from "../../src/attention/frame";
import { AttentionView, displayToken } from "../../src/attention/view";
import { Viewer, type ViewerOptions } from "../../src/attention/viewer";
import { createStore, sameView, showAnalysis, viewOf, type ViewState } from "../../src/store";
import { randomFrame } from "../fixtures/frame";

const TEXTS = ["[CLS]", "the", "cat", "sat", "down", "[SEP]"];

/** A viewer on a store of its own showing `bytes` (header fields replaced by `header`). */
function mount(
  bytes: ArrayBuffer,
  o: { state?: Partial<ViewState>; header?: Partial<AnalysisHeader>; nLayers?: number; maskToken?: string | null; opts?: ViewerOptions } = {},
) {
  const frame = decodeFrame(bytes);
  const header = { ...frame.header, ...o.header };
  const attention = new AttentionLayers(o.nLayers ?? header.n_layers, header.n_heads, header.tokens.length);
  attention.add(frame.attention);
  const store = createStore(o.state);
  const root = document.createElement("div");
  const viewer = new Viewer(root, store, o.opts);
  const changes: ViewState[] = [];
  store.subscribe((s, prev) => {
    if (!sameView(s, prev)) changes.push(viewOf(s));
  });
  store.update(showAnalysis(store.state, { header, attention, maskToken: o.maskToken === undefined ? "[MASK]" : o.maskToken }));
  return { root, viewer, store, attention, changes };
}

function setup(opts: { causal?: boolean; state?: Partial<ViewState> } = {}) {
  const masks: number[] = [];
  const { root, viewer, store, attention, changes } = mount(randomFrame(TEXTS, [0, 5], 3, 4, { causal: opts.causal }), {
    state: opts.state,
    maskToken: opts.causal ? null : "[MASK]",
    opts: { onToggleMask: (i) => masks.push(i) },
  });
  document.body.append(root);
  const q = (sel: string) => root.querySelector(sel);
  const qa = (sel: string) => Array.from(root.querySelectorAll(sel));
  return { root, viewer, changes, masks, q, qa, store, attention };
}

const fire = (el: Element | null, type: string, init: MouseEventInit = {}) =>
  el!.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, ...init }));

beforeEach(() => {
  document.body.replaceChildren();
  // jsdom has no canvas; the head boxes then just stay blank.
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

describe("Viewer", () => {
  it("draws tokens and thresholded edges with data attributes", () => {
    const { q, qa } = setup();
    const svg = q('[data-testid="attention-view"]')!;
    expect(svg.tagName.toLowerCase()).toBe("svg");
    expect(svg.getAttribute("data-ready")).toBe("true");
    // special tokens hidden by default
    expect((q('[data-testid="token-left-0"]') as HTMLElement).hidden).toBe(true);
    expect((q('[data-testid="token-right-5"]') as HTMLElement).hidden).toBe(true);
    expect(qa('[data-testid^="token-left-"]')).toHaveLength(6);
    expect(qa('[data-testid^="token-left-"]:not([hidden])')).toHaveLength(4);
    expect(q('[data-testid="token-left-1"]')!.textContent).toContain("the");
    expect(q('[data-testid="token-left-1"]')!.namespaceURI).toBe("http://www.w3.org/1999/xhtml");
    const edges = qa("path.edge");
    expect(edges.length).toBeGreaterThanOrEqual(4); // at least one per visible row
    for (const e of edges) {
      const from = Number(e.getAttribute("data-from"));
      const to = Number(e.getAttribute("data-to"));
      expect([0, 5]).not.toContain(from);
      expect([0, 5]).not.toContain(to);
      expect(Number(e.getAttribute("data-weight"))).toBeGreaterThan(0);
      expect(e.getAttribute("d")).toMatch(/^M.*C/);
    }
    // each row's kept weights cover at least 70%
    for (const i of [1, 2, 3, 4]) {
      const sum = edges
        .filter((e) => e.getAttribute("data-from") === String(i))
        .reduce((a, e) => a + Number(e.getAttribute("data-weight")), 0);
      expect(sum).toBeGreaterThanOrEqual(0.7 - 1e-3);
    }
  });

  it("shows special tokens and their edges when the toggle is turned off", () => {
    const { q, qa, changes } = setup();
    const toggle = q('[data-testid="special-toggle"]') as HTMLInputElement;
    expect(toggle.checked).toBe(true);
    toggle.checked = false;
    toggle.dispatchEvent(new Event("change"));
    expect(changes.at(-1)!.hideSpecial).toBe(false);
    expect((q('[data-testid="token-left-0"]') as HTMLElement).hidden).toBe(false);
    expect((q('[data-testid="token-right-5"]') as HTMLElement).hidden).toBe(false);
    const special = qa("path.edge").filter((e) => ["0", "5"].includes(e.getAttribute("data-to")!) || ["0", "5"].includes(e.getAttribute("data-from")!));
    expect(special.length).toBeGreaterThan(0);
  });

  it("changes layer from the select without losing the SVG, and reports it", () => {
    const { q, changes, viewer } = setup();
    const svg = q('[data-testid="attention-view"]');
    const before = Array.from(svg!.querySelectorAll("path.edge")).map((e) => e.getAttribute("data-weight")).join();
    const sel = q('[data-testid="layer-select"]') as HTMLSelectElement;
    expect(Array.from(sel.options).map((o) => o.value)).toEqual(["0", "1", "2"]);
    sel.value = "2";
    sel.dispatchEvent(new Event("change"));
    expect(changes.at(-1)!.layer).toBe(2);
    expect(q('[data-testid="attention-view"]')).toBe(svg);
    const after = Array.from(svg!.querySelectorAll("path.edge")).map((e) => e.getAttribute("data-weight")).join();
    expect(after).not.toBe(before);
    viewer.stepLayer(-1);
    expect(changes.at(-1)!.layer).toBe(1);
  });

  it("selects heads: click = only, shift-click = add/remove, all-heads button", () => {
    const { q, qa, changes } = setup();
    expect(qa(".head-box.selected")).toHaveLength(4);
    fire(q('[data-testid="head-2"]'), "click");
    expect(changes.at(-1)!.heads).toEqual([2]);
    expect(q('[data-testid="head-2"]')!.classList.contains("selected")).toBe(true);
    expect(q('[data-testid="head-1"]')!.classList.contains("selected")).toBe(false);
    fire(q('[data-testid="head-0"]'), "click", { shiftKey: true });
    expect(changes.at(-1)!.heads).toEqual([0, 2]);
    fire(q('[data-testid="head-2"]'), "click", { ctrlKey: true });
    expect(changes.at(-1)!.heads).toEqual([0]);
    fire(q('[data-testid="all-heads-button"]'), "click");
    expect(changes.at(-1)!.heads).toBeNull();
    expect(qa(".head-box.selected")).toHaveLength(4);
  });

  it("combines heads with the weights typed in", () => {
    const { q, changes, attention } = setup({ state: { heads: [0, 1], hideSpecial: false, threshold: 1 } });
    const w1 = q('[data-testid="head-weight-1"]') as HTMLInputElement;
    expect(Number(w1.value)).toBeCloseTo(0.5);
    w1.value = "3";
    w1.dispatchEvent(new Event("input"));
    expect(changes.at(-1)!.weights).toEqual([0.5, 3]);
    // edge weight = (0.5*A0 + 3*A1) / 3.5 at threshold 1 (all edges drawn)
    const e = q('path.edge[data-from="2"][data-to="1"]')!;
    const A0 = attention.head(0, 0)[2 * 6 + 1];
    const A1 = attention.head(0, 1)[2 * 6 + 1];
    expect(Number(e.getAttribute("data-weight"))).toBeCloseTo((0.5 * A0 + 3 * A1) / 3.5, 3);
  });

  it("highlights on hover, pins on click, shows predictions", () => {
    const { q, qa } = setup();
    const tip = q('[data-testid="prediction-tooltip"]') as HTMLElement;
    expect(tip.hidden).toBe(true);
    fire(q('[data-testid="token-left-2"]'), "mouseenter");
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("CAT");
    expect(tip.textContent).toContain("at this position");
    const hov = qa("path.edge.hover");
    expect(hov.length).toBeGreaterThan(0);
    expect(hov.every((e) => e.getAttribute("data-from") === "2")).toBe(true);
    fire(q('[data-testid="token-left-2"]'), "click");
    fire(q('[data-testid="token-left-2"]'), "mouseleave");
    expect(qa("path.edge.hover")).toHaveLength(0);
    expect(qa("path.edge.pinned").every((e) => e.getAttribute("data-from") === "2")).toBe(true);
    expect(qa("path.edge.pinned").length).toBeGreaterThan(0);
    expect(tip.hidden).toBe(false);
    fire(q('[data-testid="token-right-3"]'), "mouseenter");
    expect(qa("path.edge.hover").every((e) => e.getAttribute("data-to") === "3")).toBe(true);
    fire(q('[data-testid="token-right-3"]'), "mouseleave");
    fire(q('[data-testid="token-left-2"]'), "click");
    expect(qa("path.edge.pinned")).toHaveLength(0);
    expect(tip.hidden).toBe(true);
  });

  it("draws what another part of the page puts in the store", () => {
    const { q, qa, store } = setup();
    store.update({ layer: 2, heads: [1], weights: null });
    expect(q('[data-testid="attention-view"]')!.getAttribute("data-layer")).toBe("2");
    expect((q('[data-testid="layer-select"]') as HTMLSelectElement).value).toBe("2");
    expect(qa(".head-box.selected").map((e) => (e as HTMLElement).dataset.head)).toEqual(["1"]);
    store.update({ pinned: { side: "left", index: 2 } });
    expect(qa("path.edge.pinned").length).toBeGreaterThan(0);
    // a pinned token that gets hidden is unpinned
    store.update({ pinned: { side: "left", index: 0 }, hideSpecial: false });
    expect(store.state.pinned).toEqual({ side: "left", index: 0 });
    store.update({ hideSpecial: true });
    expect(store.state.pinned).toBeNull();
  });

  it("greys out future tokens for autoregressive models and refuses to mask", () => {
    const { q, qa, masks } = setup({ causal: true });
    fire(q('[data-testid="token-left-2"]'), "mouseenter");
    const future = qa(".token.right.future:not([hidden])").map((e) => e.getAttribute("data-testid"));
    expect(future).toEqual(["token-right-3", "token-right-4"]);
    expect(q('[data-testid="prediction-tooltip"]')!.textContent).toContain("next token");
    fire(q('[data-testid="token-left-2"]'), "dblclick");
    expect(masks).toEqual([]);
    expect(q('[data-testid="viewer-hint"]')!.textContent).toMatch(/bidirectional/);
  });

  it("shows masked tokens as the mask token, with the original word", () => {
    const bytes = randomFrame(TEXTS, [0, 5], 1, 1);
    const tokens = decodeFrame(bytes).header.tokens.map((t, i) => (i === 2 ? { ...t, masked: true } : t));
    const { root } = mount(bytes, { header: { tokens, mask: [2] } });
    const el = root.querySelector('[data-testid="token-left-2"]')!;
    expect(el.classList.contains("masked")).toBe(true);
    expect(el.querySelector(".txt")!.textContent).toBe("[MASK]");
    expect(el.querySelector(".orig")!.textContent).toBe("cat");
  });

  it("asks the host to mask on double-click (bidirectional)", () => {
    const { q, masks } = setup();
    fire(q('[data-testid="token-right-3"]'), "dblclick");
    expect(masks).toEqual([3]);
  });

  it("asks for a missing layer instead of drawing stale data", () => {
    const need: number[] = [];
    // layer 3 never loaded
    const { root } = mount(randomFrame(TEXTS, [0, 5], 3, 4), {
      state: { layer: 3 },
      header: { n_layers: 4 },
      opts: { onNeedLayer: (l) => need.push(l) },
    });
    expect(need).toEqual([3]);
    expect(root.querySelector('[data-testid="attention-view"]')!.getAttribute("data-ready")).toBe("false");
    expect(root.querySelector('[data-testid="loading"]')!.textContent).toContain("layer 3");
  });

  it("explains a missing predictions list", () => {
    const { root } = mount(randomFrame(TEXTS, [0, 5], 1, 1), {
      header: { predictions: null, predictions_unavailable: "minilm-l6 has no language-model head" },
    });
    fire(root.querySelector('[data-testid="token-left-1"]'), "mouseenter");
    const tip = root.querySelector('[data-testid="prediction-tooltip"]')!;
    expect(tip.textContent).toContain("has no language-model head");
  });
});

describe("AttentionView", () => {
  it("joins edges by (from, to): an unchanged edge keeps its element", () => {
    const c = document.createElement("div");
    const v = new AttentionView(c);
    const tokens = ["a", "b"].map((text) => ({ text, start: 0, end: 1, special: false, segment: 0, masked: false, continues: false }));
    const base = { tokens, visible: [0, 1], matrix: new Float32Array([0.5, 0.5, 1, 0]), kind: "bidirectional" as const, pinned: null };
    v.update({ ...base, edges: [{ from: 0, to: 1, weight: 0.5 }, { from: 1, to: 0, weight: 1 }] });
    const el = c.querySelector('path[data-from="1"][data-to="0"]');
    v.update({ ...base, edges: [{ from: 1, to: 0, weight: 0.9 }] });
    expect(c.querySelectorAll("path.edge")).toHaveLength(1);
    expect(c.querySelector('path[data-from="1"][data-to="0"]')).toBe(el);
    expect(el!.getAttribute("data-weight")).toBe("0.9000");
  });

  it("displays tokens readably", () => {
    expect(displayToken(" the")).toBe("the");
    expect(displayToken("\u0120cat")).toBe("cat");
    expect(displayToken(" ")).toBe("\u2423");
    expect(displayToken("\n")).toBe("\u2423");
    expect(displayToken("a".repeat(30)).length).toBe(18);
  });
});

describe("renderAnalysis (embedding without a server)", () => {
  it("renders a frame into a container", async () => {
    Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
    const { renderAnalysis } = await import("../../src/hosts/embed");
    const c = document.createElement("div");
    renderAnalysis(c, randomFrame(TEXTS, [0, 5], 2, 2), { state: { layer: 1, hideSpecial: false } });
    expect(c.querySelector('[data-testid="attention-view"]')!.getAttribute("data-layer")).toBe("1");
    expect(c.querySelector('[data-testid="token-left-0"]')).not.toBeNull();
    expect(c.querySelectorAll(".head-box")).toHaveLength(2);
  });
});
