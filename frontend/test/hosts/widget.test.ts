// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import widget, { scopeCss, type WidgetModel } from "../../src/hosts/widget/widget";
import { fixtureResult } from "../fixtures/corpus";
import { randomFrame } from "../fixtures/frame";

const TEXTS = ["[CLS]", "the", "cat", "sat", "down", "[SEP]"];

class FakeModel implements WidgetModel {
  listeners = new Map<string, ((...a: unknown[]) => void)[]>();
  saved: Record<string, unknown>[] = [];
  sent: unknown[] = [];
  private changed: Record<string, unknown> = {};
  constructor(public state: Record<string, unknown>) {}
  get(k: string) {
    return this.state[k];
  }
  set(k: string, v: unknown) {
    this.state[k] = v;
    this.changed[k] = v;
  }
  save_changes() {
    this.saved.push(this.changed);
    this.changed = {};
  }
  on(ev: string, cb: (...a: unknown[]) => void) {
    this.listeners.set(ev, [...(this.listeners.get(ev) ?? []), cb]);
  }
  off(ev?: string | null, cb?: ((...a: unknown[]) => void) | null) {
    if (ev) this.listeners.set(ev, (this.listeners.get(ev) ?? []).filter((f) => f !== cb));
  }
  send(content: unknown) {
    this.sent.push(content);
  }
  push(k: string, v: unknown) {
    this.state[k] = v;
    for (const f of this.listeners.get(`change:${k}`) ?? []) f();
  }
}

function setup(over: Record<string, unknown> = {}) {
  const model = new FakeModel({
    frame: new DataView(randomFrame(TEXTS, [0, 5], 3, 4)),
    layer: 1,
    heads: [0, 2],
    weights: null,
    hide_special: true,
    threshold: 0.7,
    mask: [],
    mask_token: "[MASK]",
    error: "",
    busy: false,
    corpus_name: "",
    search_result: null,
    ...over,
  });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  const root = el.shadowRoot!;
  const q = (s: string) => root.querySelector(s);
  return { model, el, root, q, cleanup };
}

beforeEach(() => {
  document.body.replaceChildren();
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

describe("notebook widget", () => {
  it("renders the frame with the traits' view state, in a shadow root", () => {
    const { q, root } = setup();
    expect(root.querySelector("style")!.textContent).not.toContain(":root");
    expect(q('[data-testid="attention-view"]')!.getAttribute("data-layer")).toBe("1");
    expect(Array.from(root.querySelectorAll(".head-box.selected")).map((e) => (e as HTMLElement).dataset.head)).toEqual(["0", "2"]);
    expect((q('[data-testid="corpus-panel"]') as HTMLElement).hidden).toBe(true);
  });

  it("follows trait changes and reports view changes", () => {
    const { q, model } = setup();
    model.push("layer", 2);
    expect(q('[data-testid="attention-view"]')!.getAttribute("data-layer")).toBe("2");
    const sel = q('[data-testid="layer-select"]') as HTMLSelectElement;
    sel.value = "0";
    sel.dispatchEvent(new Event("change"));
    expect(model.saved.at(-1)).toMatchObject({ layer: 0, heads: [0, 2], hide_special: true });
  });

  it("asks the kernel to mask on double-click and shows the error it answers", () => {
    const { q, model } = setup();
    q('[data-testid="token-left-3"]')!.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    expect(model.saved.at(-1)).toEqual({ mask: [3] });
    expect((q('[data-testid="loading"]') as HTMLElement).hidden).toBe(false);
    model.push("error", "token 3 cannot be masked");
    expect((q('[data-testid="error-message"]') as HTMLElement).hidden).toBe(false);
    expect(q('[data-testid="attention-view"]')!.getAttribute("data-ready")).toBe("true");
  });

  it("offers corpus search for the pinned token", () => {
    const { q, model } = setup({ corpus_name: "holmes" });
    const button = q('[data-testid="corpus-search-embedding"]') as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    q('[data-testid="token-left-2"]')!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(button.disabled).toBe(false);
    button.click();
    expect(model.sent.at(-1)).toEqual({ type: "search", token: 2, by: "embedding" });
    model.push("search_result", {
      corpus: "holmes",
      by: "embedding",
      layer: 2,
      matches: [{ rank: 0, score: 0.9, text: "A cat ran.", position: 2, tokens: [{}, { text: "A", start: 0, end: 1 }, { text: "cat", start: 2, end: 5, pos: "NOUN", dep: "nsubj" }] }],
    });
    expect(q('[data-testid="corpus-match-0"] .c-match')!.textContent).toBe("cat");
    expect(q('[data-testid="corpus-match-0"] .c-left')!.textContent).toBe("A ");
  });

  it("shows the colour summary and histograms of a full search result", () => {
    const { q, model } = setup({ corpus_name: "tiny" });
    expect((q(".corpus-figures") as HTMLElement).hidden).toBe(true);
    model.push("search_result", fixtureResult());
    expect((q(".corpus-figures") as HTMLElement).hidden).toBe(false);
    expect(q('[data-testid="corpus-match-0"] .c-match')!.textContent).toBe("dog");
    expect(q('[data-testid="summary-matrix"]')!.querySelectorAll('[data-testid="summary-row"]')).toHaveLength(3);
    expect(q('[data-testid="histogram-matched"]')!.querySelectorAll("rect.bar")).toHaveLength(2);
    (q('[data-testid="summary-field-dep"]') as HTMLButtonElement).click();
    expect(q('[data-testid="summary-matrix"]')!.getAttribute("data-field")).toBe("dep");
    model.push("search_result", null);
    expect((q(".corpus-figures") as HTMLElement).hidden).toBe(true);
  });

  it("names the searched layer alike in the caption and the max-attention histogram", () => {
    const { q, model } = setup({ corpus_name: "tiny" });
    model.push("search_result", { ...fixtureResult(), layer: 3, query: { token: 2, text: "cat", layer: 3 } });
    const caption = q('[data-testid="corpus-caption"]')!.textContent!;
    const panel = q('[data-testid="corpus-panel"]')!.textContent!;
    expect(caption).toContain("at layer 3");
    expect(panel).toContain("(layer 3, all heads");
    expect(panel).not.toMatch(/block/);
    model.push("search_result", { ...fixtureResult(), layer: "embeddings", max_attention_unavailable: "the embeddings have no attention" });
    expect(q('[data-testid="corpus-caption"]')!.textContent).toContain("at embeddings");
  });

  it("stops listening when the view is removed", () => {
    const { model, cleanup } = setup();
    const n = [...model.listeners.values()].reduce((a, l) => a + l.length, 0);
    expect(n).toBeGreaterThan(5);
    cleanup();
    expect([...model.listeners.values()].reduce((a, l) => a + l.length, 0)).toBe(0);
  });
});

describe("widget stylesheet", () => {
  it("moves :root and body rules to the shadow host", () => {
    expect(scopeCss(":root{--a:1}\nbody{margin:0}\n.x body{}")).toBe(":host{--a:1}\n:host{margin:0}\n.x body{}");
  });
});
