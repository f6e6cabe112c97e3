// @vitest-environment jsdom
// The attention view with more edges than SVG paths: painted on a canvas (jsdom has no 2D
// context, so nothing is painted here; the browser test checks pixels), listed by the test
// accessor, exported as paths, hover through the token elements.
import { beforeEach, describe, expect, it } from "vitest";
import type { TokenInfo } from "../../src/api/types";
import { thresholdEdges } from "../../src/attention/math";
import { AttentionView, SVG_MAX_EDGES, type AttentionViewData, type EdgeRecord, type Focus } from "../../src/attention/view";

const T = 60;
const tokens: TokenInfo[] = Array.from({ length: T }, (_, i) => ({
  text: i === 0 ? "[CLS]" : `w${i}`,
  start: i,
  end: i + 1,
  special: i === 0,
  masked: false,
  segment: 0,
  continues: false,
}));

/** A dense matrix: at threshold 1 every positive entry is an edge (T*T of them). */
function data(seed: number, threshold = 1): AttentionViewData {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) m[i * T + j] = 1 + ((i * 31 + j * 17 + seed) % 13);
  for (let i = 0; i < T; i++) {
    let s = 0;
    for (let j = 0; j < T; j++) s += m[i * T + j];
    for (let j = 0; j < T; j++) m[i * T + j] /= s;
  }
  const visible = tokens.map((_, i) => i);
  return { tokens, visible, matrix: m, edges: thresholdEdges(m, T, threshold), kind: "bidirectional", pinned: null };
}

type WithAccessor = SVGSVGElement & { exbertEdges(): EdgeRecord[] };

function mount(hovers: (Focus | null)[] = []) {
  const container = document.createElement("div");
  document.body.append(container);
  const view = new AttentionView(container, { onHover: (f) => hovers.push(f) });
  return { view, svg: view.svg as WithAccessor };
}

const fire = (el: Element | null, type: string) => el!.dispatchEvent(new MouseEvent(type, { bubbles: false }));

beforeEach(() => {
  document.body.replaceChildren();
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

describe("canvas edges", () => {
  it("draws many edges on the canvas and lists them for tests", () => {
    const { view, svg } = mount();
    const d = data(1);
    expect(d.edges.length).toBeGreaterThan(SVG_MAX_EDGES);
    view.update(d);
    expect(svg.getAttribute("data-edge-mode")).toBe("canvas");
    expect(svg.getAttribute("data-edge-count")).toBe(String(d.edges.length));
    expect(svg.querySelectorAll("path.edge")).toHaveLength(0);
    const fo = svg.querySelector("foreignObject.edge-canvas") as SVGForeignObjectElement;
    expect(fo.style.display).toBe("");
    expect(fo.querySelectorAll("canvas")).toHaveLength(2);
    // the canvas lies over the gap between the columns, under the tokens
    expect(Number(fo.getAttribute("x"))).toBeGreaterThan(0);
    const list = svg.exbertEdges();
    expect(list).toHaveLength(d.edges.length);
    expect(list[0]).toEqual({ from: d.edges[0].from, to: d.edges[0].to, weight: d.edges[0].weight, hover: false, pinned: false });
  });

  it("changes the listed edges with the data (a layer change)", () => {
    const { view, svg } = mount();
    view.update(data(1));
    const before = svg.exbertEdges().map((e) => e.weight.toFixed(4)).join();
    view.update(data(5));
    expect(svg.exbertEdges().map((e) => e.weight.toFixed(4)).join()).not.toBe(before);
  });

  it("highlights only the hovered token's edges and keeps the pinned one's", () => {
    const hovers: (Focus | null)[] = [];
    const { view, svg } = mount(hovers);
    view.update({ ...data(1), pinned: { side: "right", index: 7 } });
    fire(svg.querySelector('[data-testid="token-left-3"]'), "mouseenter");
    expect(hovers).toEqual([{ side: "left", index: 3 }]);
    expect(svg.getAttribute("data-focus")).toBe("left:3");
    expect(svg.classList.contains("focused")).toBe(true);
    const list = svg.exbertEdges();
    const hover = list.filter((e) => e.hover);
    expect(hover).toHaveLength(T);
    expect(hover.every((e) => e.from === 3)).toBe(true);
    expect(list.filter((e) => e.pinned).every((e) => e.to === 7)).toBe(true);
    const base = svg.querySelector('canvas[data-layer="base"]') as HTMLCanvasElement;
    expect(base.style.opacity).not.toBe("");
    fire(svg.querySelector('[data-testid="token-left-3"]'), "mouseleave");
    expect(svg.getAttribute("data-focus")).toBe("right:7");
    expect(svg.exbertEdges().some((e) => e.hover)).toBe(false);
    view.setPinned(null);
    expect(svg.getAttribute("data-focus")).toBe("");
    expect(base.style.opacity).toBe("");
  });

  it("exports one SVG path per edge, with the hover classes", () => {
    const { view, svg } = mount();
    const d = data(2);
    view.update(d);
    fire(svg.querySelector('[data-testid="token-right-4"]'), "mouseenter");
    const out = view.exportView();
    expect(out).not.toBe(svg);
    const paths = Array.from(out.querySelectorAll("g.edges path.edge"));
    expect(paths).toHaveLength(d.edges.length);
    expect(out.querySelector(".edge-canvas")).toBeNull();
    const hover = paths.filter((p) => p.classList.contains("hover"));
    expect(hover.length).toBe(T);
    expect(hover.every((p) => p.getAttribute("data-to") === "4")).toBe(true);
    expect(paths[0].getAttribute("d")).toMatch(/^M.*C/);
    expect(Number(paths[0].getAttribute("stroke-width"))).toBeGreaterThan(0);
    // the live view keeps no paths
    expect(svg.querySelectorAll("path.edge")).toHaveLength(0);
  });

  it("goes back to SVG paths when few edges are left, and the accessor lists them too", () => {
    const { view, svg } = mount();
    view.update(data(1));
    view.update(data(1, 0.05));
    expect(svg.getAttribute("data-edge-mode")).toBe("svg");
    const paths = svg.querySelectorAll("path.edge");
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.length).toBeLessThanOrEqual(SVG_MAX_EDGES);
    expect(svg.exbertEdges()).toHaveLength(paths.length);
    expect(svg.getAttribute("data-edge-count")).toBe(String(paths.length));
    expect((svg.querySelector("foreignObject.edge-canvas") as SVGForeignObjectElement).style.display).toBe("none");
    expect(view.exportView()).toBe(svg);
  });
});
