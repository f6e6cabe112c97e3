// @vitest-environment jsdom
// The drawing options: word pieces joined to their word ("##"), colour by head, hide the first
// token (the attention sink of models without BOS).
import { beforeEach, describe, expect, it } from "vitest";
import type { AnalysisHeader } from "../../src/api/types";
import { describeView, exportContext } from "../../src/attention/exportSvg";
import { AttentionLayers, decodeFrame } from "../../src/attention/frame";
import { headColor } from "../../src/attention/heads";
import { droppedTokens, edgesByHead, thresholdEdges } from "../../src/attention/math";
import { Viewer } from "../../src/attention/viewer";
import { createStore, defaultState, sameView, showAnalysis, viewOf, type State } from "../../src/store";
import { randomFrame, tokens } from "../fixtures/frame";

// "The moon eclipse ##s" without BOS (as SmolLM2 would give it, but WordPiece-like pieces)
const TEXTS = ["The", "moon", "eclipse", "s", "it", "."];
const CONT = [3];

function mount(state: Partial<State> = {}, o: { special?: number[]; causal?: boolean } = {}) {
  const frame = decodeFrame(randomFrame(TEXTS, o.special ?? [], 2, 4, { causal: o.causal ?? true }));
  const toks = tokens(TEXTS, o.special ?? []).map((t, i) => ({ ...t, continues: CONT.includes(i) }));
  const header: AnalysisHeader = { ...frame.header, tokens: toks };
  const attention = new AttentionLayers(header.n_layers, header.n_heads, toks.length);
  attention.add(frame.attention);
  const store = createStore(state);
  const root = document.createElement("div");
  const viewer = new Viewer(root, store);
  document.body.append(root);
  store.update(showAnalysis(store.state, { header, attention, maskToken: null }));
  const qa = (sel: string) => Array.from(root.querySelectorAll<HTMLElement | SVGElement>(sel));
  const q = (sel: string) => root.querySelector<HTMLElement>(sel);
  return { store, viewer, root, q, qa, attention };
}

const check = (el: HTMLElement | null, on: boolean) => {
  const box = el as HTMLInputElement;
  box.checked = on;
  box.dispatchEvent(new Event("change", { bubbles: true }));
};

beforeEach(() => {
  document.body.replaceChildren();
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

describe("edgesByHead", () => {
  const T = 3;
  const a = Float32Array.from([1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  const b = Float32Array.from([0, 1, 0, 0, 0, 1, 1, 0, 0]);
  it("gives each head its own thresholded edges, head after head", () => {
    const edges = edgesByHead([a, b], [2, 7], [0.5, 0.5], T, 1);
    expect(edges.filter((e) => e.head === 2)).toEqual(thresholdEdges(a, T, 1).map((e) => ({ ...e, head: 2 })));
    expect(edges.filter((e) => e.head === 7)).toEqual(thresholdEdges(b, T, 1).map((e) => ({ ...e, head: 7 })));
    const order = edges.map((e) => e.head);
    expect(order).toEqual([...order].sort((x, y) => x! - y!));
  });
  it("scales by the head's weight relative to the largest; weight 0 draws nothing", () => {
    const e = edgesByHead([a, b], [0, 1], [2, 1], T, 1);
    expect(e.find((x) => x.head === 0 && x.from === 0)!.weight).toBeCloseTo(1);
    expect(e.find((x) => x.head === 1 && x.from === 0)!.weight).toBeCloseTo(0.5);
    expect(edgesByHead([a, b], [0, 1], [1, 0], T, 1).every((x) => x.head === 0)).toBe(true);
  });
});

describe("droppedTokens", () => {
  const toks = [
    { special: false, masked: false },
    { special: true, masked: false },
    { special: true, masked: true },
  ];
  it("drops hidden special tokens and, when asked, the first token", () => {
    expect(droppedTokens(toks, { hideSpecial: true })).toEqual([false, true, false]);
    expect(droppedTokens(toks, { hideSpecial: false, hideFirst: true })).toEqual([true, false, false]);
    expect(droppedTokens(toks, { hideSpecial: true, hideFirst: true })).toEqual([true, true, false]);
  });
});

describe("headColor", () => {
  it("gives distinct hex colours to many heads", () => {
    const cs = Array.from({ length: 32 }, (_, h) => headColor(h));
    expect(new Set(cs).size).toBe(32);
    for (const c of cs) expect(c).toMatch(/^#[0-9a-f]{6}$/);
    expect(headColor(3)).toBe(headColor(3));
  });
});

describe("the store", () => {
  it("defaults both options off and treats a host that leaves them out as off", () => {
    const s = defaultState();
    expect([s.colorByHead, s.hideFirst]).toEqual([false, false]);
    const { colorByHead: _c, hideFirst: _f, ...legacy } = viewOf(s);
    expect(sameView(legacy, s)).toBe(true);
    expect(viewOf(legacy)).toMatchObject({ colorByHead: false, hideFirst: false });
    expect(sameView(legacy, { ...s, colorByHead: true })).toBe(false);
  });
});

describe("word pieces", () => {
  it("marks a continuing piece with a muted ## and keeps its text", () => {
    const { q, qa } = mount();
    for (const side of ["left", "right"]) {
      const piece = q(`[data-testid="token-${side}-3"]`)!;
      expect(piece.classList.contains("continues")).toBe(true);
      expect(piece.querySelector(".cont")!.textContent).toBe("##");
      expect(piece.querySelector(".txt")!.textContent).toBe("s");
      expect(piece.title).toContain('"s"');
      expect(piece.title).toContain("continues");
    }
    const others = qa(".token:not(.continues) .cont").map((c) => c.textContent);
    expect(others.every((t) => t === "")).toBe(true);
  });
  it("exports the mark as a muted tspan before the piece", () => {
    const { viewer } = mount();
    const svg = new DOMParser().parseFromString(viewer.exportSvg(), "image/svg+xml");
    const piece = svg.querySelector('text.token.left[data-index="3"]')!;
    expect(piece.textContent).toBe("##s");
    expect(piece.querySelector("tspan.cont")!.textContent).toBe("##");
  });
});

describe("colour by head", () => {
  it("draws each selected head's edges in its own colour when toggled", () => {
    const { q, qa, store } = mount({ heads: [0, 2, 3] });
    const before = qa("path.edge");
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((p) => !p.hasAttribute("data-head"))).toBe(true);
    check(q('[data-testid="color-by-head"]'), true);
    expect(store.state.colorByHead).toBe(true);
    const edges = qa("path.edge");
    const heads = new Set(edges.map((p) => p.getAttribute("data-head")));
    expect(heads).toEqual(new Set(["0", "2", "3"]));
    for (const p of edges) {
      const hd = Number(p.getAttribute("data-head"));
      expect((p as SVGElement).style.stroke).not.toBe("");
      expect(p.getAttribute("data-color")).toBe(headColor(hd));
    }
    // stable order: head by head in the DOM
    const order = edges.map((p) => Number(p.getAttribute("data-head")));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // each selected head's box shows its colour
    expect(q('[data-testid="head-2"]')!.style.getPropertyValue("--head-color")).toBe(headColor(2));
    expect(q(".heads-view")!.classList.contains("by-head")).toBe(true);
    check(q('[data-testid="color-by-head"]'), false);
    expect(qa("path.edge").every((p) => !p.hasAttribute("data-head"))).toBe(true);
  });
  it("exports the head colours and says so in the title", () => {
    const { viewer, store } = mount({ heads: [1, 3], colorByHead: true });
    const svg = new DOMParser().parseFromString(viewer.exportSvg(), "image/svg+xml");
    const edges = Array.from(svg.querySelectorAll("g.edges path"));
    expect(edges.length).toBeGreaterThan(0);
    for (const p of edges) expect(p.getAttribute("stroke")).toBe(headColor(Number(p.getAttribute("data-head"))));
    expect(svg.querySelectorAll(".heads-key rect").length).toBe(2);
    expect(describeView(exportContext(store.state))).toContain("coloured by head");
  });
});

describe("hide the first token", () => {
  it("removes every edge of token 0 and renormalises the rows", () => {
    const { q, qa, store } = mount({ threshold: 1 });
    expect(qa('path.edge[data-to="0"]').length).toBeGreaterThan(0);
    const toggle = q('[data-testid="hide-first-token"]')!;
    expect(toggle.title).toMatch(/attention sink/);
    check(toggle, true);
    expect(store.state.hideFirst).toBe(true);
    expect(qa('path.edge[data-to="0"], path.edge[data-from="0"]')).toEqual([]);
    // token 0 stays on screen, muted
    expect(q('[data-testid="token-left-0"]')!.classList.contains("dropped")).toBe(true);
    expect(q('[data-testid="token-left-0"]')!.hidden).toBe(false);
    // threshold 1: each row's edges carry the whole (renormalised) row
    const sums = new Map<string, number>();
    for (const p of qa("path.edge")) {
      const f = p.getAttribute("data-from")!;
      sums.set(f, (sums.get(f) ?? 0) + Number(p.getAttribute("data-weight")));
    }
    for (const s of sums.values()) expect(s).toBeCloseTo(1, 2);
  });
  it("works with colour by head too, and in the export title", () => {
    const { qa, viewer } = mount({ hideFirst: true, colorByHead: true, threshold: 1 });
    expect(qa("path.edge").length).toBeGreaterThan(0);
    expect(qa('path.edge[data-to="0"], path.edge[data-from="0"]')).toEqual([]);
    expect(viewer.exportSvg()).toContain("first token hidden");
  });
});
