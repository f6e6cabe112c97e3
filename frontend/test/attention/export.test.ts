// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { exportFileName, svgSize } from "../../src/attention/exportFile";
import { describeView } from "../../src/attention/exportSvg";
import { renderAnalysis } from "../../src/hosts/embed";
import { randomFrame } from "../fixtures/frame";

const TEXTS = ["[CLS]", "the", "cat", "sat", "<b>&", "[SEP]"];

beforeEach(() => {
  document.body.replaceChildren();
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

function view(state = {}) {
  const c = document.createElement("div");
  document.body.append(c);
  const viewer = renderAnalysis(c, randomFrame(TEXTS, [0, 5], 3, 4, { model: "tiny-bert" }), { state, maskToken: "[MASK]" });
  return { c, viewer };
}

function parse(svg: string): Document {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  expect(doc.getElementsByTagName("parsererror")).toHaveLength(0);
  return doc;
}

describe("SVG export", () => {
  it("writes one path per drawn edge and the visible tokens as <text>", () => {
    const { c, viewer } = view({ layer: 1 });
    const live = c.querySelectorAll('[data-testid="attention-view"] path.edge');
    const doc = parse(viewer.exportSvg());
    const root = doc.documentElement;
    expect(root.tagName).toBe("svg");
    expect(root.namespaceURI).toBe("http://www.w3.org/2000/svg");
    expect(doc.getElementsByTagName("foreignObject")).toHaveLength(0);
    const paths = Array.from(doc.querySelectorAll("path.edge"));
    expect(paths.length).toBe(live.length);
    expect(root.getAttribute("data-edges")).toBe(String(live.length));
    // same geometry and weights as on screen
    const liveKeys = Array.from(live).map((p) => `${p.getAttribute("data-from")}-${p.getAttribute("data-to")}:${p.getAttribute("d")}`).sort();
    const outKeys = paths.map((p) => `${p.getAttribute("data-from")}-${p.getAttribute("data-to")}:${p.getAttribute("d")}`).sort();
    expect(outKeys).toEqual(liveKeys);
    // tokens: the 4 visible ones on each side, special tokens hidden
    const tokens = Array.from(doc.querySelectorAll("text.token"));
    expect(tokens).toHaveLength(8);
    expect(tokens.map((t) => t.textContent)).toContain("<b>&");
    expect(tokens.map((t) => t.textContent)).not.toContain("[CLS]");
    // title with model, layer and heads; a legend; a white background
    const all = Array.from(doc.querySelectorAll("text")).map((t) => t.textContent).join("\n");
    expect(all).toContain("tiny-bert");
    expect(all).toContain("layer 1");
    expect(all).toContain("all 4 heads");
    expect(doc.querySelector("g.legend")).not.toBeNull();
    expect(doc.querySelector("rect.background")!.getAttribute("fill")).toBe("white");
    // escaped text in the XML string
    expect(viewer.exportSvg()).toContain("&lt;b&gt;&amp;");
  });

  it("follows the view: layer, heads, special tokens, background option", () => {
    const { viewer } = view({ layer: 2, heads: [1, 3], weights: [2, 1], hideSpecial: false });
    const doc = parse(viewer.exportSvg({ background: "transparent", legend: false }));
    expect(doc.querySelector("rect.background")).toBeNull();
    expect(doc.querySelector("g.legend")).toBeNull();
    const all = Array.from(doc.querySelectorAll("text")).map((t) => t.textContent).join("\n");
    expect(all).toContain("layer 2");
    expect(all).toContain("heads 1, 3 (weights 2, 1)");
    expect(Array.from(doc.querySelectorAll("text.token")).map((t) => t.textContent)).toContain("[CLS]");
    expect(all).toContain("special tokens shown");
  });

  it("keeps the pinned token's highlight and fades the rest", () => {
    const { c, viewer } = view();
    c.querySelector('[data-testid="token-left-2"]')!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const doc = parse(viewer.exportSvg());
    const pinned = Array.from(doc.querySelectorAll("path.edge")).filter((p) => p.getAttribute("stroke") === "#ea7317");
    expect(pinned.length).toBeGreaterThan(0);
    expect(pinned.every((p) => p.getAttribute("data-from") === "2")).toBe(true);
    const faded = Array.from(doc.querySelectorAll("path.edge")).filter((p) => p.getAttribute("data-from") !== "2");
    expect(faded.every((p) => p.getAttribute("stroke-opacity") === "0.05")).toBe(true);
  });

  it("has the export buttons, disabled until there is a view", () => {
    const { c } = view();
    const svgButton = c.querySelector('[data-testid="export-svg-button"]') as HTMLButtonElement;
    const pngButton = c.querySelector('[data-testid="export-png-button"]') as HTMLButtonElement;
    expect(svgButton.disabled).toBe(false);
    expect(pngButton.disabled).toBe(false);
  });

  it("hands the file to the host when asked (onExport)", async () => {
    const c = document.createElement("div");
    const got: [string, string, string][] = [];
    renderAnalysis(c, randomFrame(TEXTS, [0, 5], 1, 2, { model: "m/x y" }), {
      onExport: (kind, data, name) => {
        const r = new FileReader();
        r.onload = () => got.push([kind, name, String(r.result)]);
        r.readAsText(data);
      },
    });
    (c.querySelector('[data-testid="export-svg-button"]') as HTMLButtonElement).click();
    await vi.waitFor(() => expect(got).toHaveLength(1)); // the FileReader answers when it can

    expect(got[0][0]).toBe("svg");
    expect(got[0][1]).toBe("exbert-m_x_y-layer0.svg");
    expect(got[0][2]).toMatch(/^<\?xml/);
  });

  it("reads sizes and names files", () => {
    expect(svgSize('<svg xmlns="x" width="598" height="408.5">')).toEqual({ width: 598, height: 408.5 });
    expect(exportFileName("HuggingFaceTB/SmolLM2", 3, "png")).toBe("exbert-HuggingFaceTB_SmolLM2-layer3.png");
    expect(
      describeView({ model: "m", layer: 0, nLayers: 2, heads: [0], nHeads: 4, weights: [1], threshold: 0.8, hideSpecial: true }),
    ).toBe("head 0 \u00b7 edges cover 80% of each row \u00b7 special tokens hidden");
  });
});
