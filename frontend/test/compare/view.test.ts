// @vitest-environment jsdom
// The compare view on a store: it opens and closes, draws A, B and B - A with the aligned tokens,
// lists changed predictions, selects a head on a click, masks B's tokens, asks for B's missing
// layer, and is not offered for a long (lazy) input.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { compareInputs } from "../../src/compare/state";
import { CompareView } from "../../src/compare/view";
import { createStore, type LongDoc } from "../../src/store";
import { analysis, causal, identity, pred } from "./build";

beforeEach(() => {
  document.body.replaceChildren();
  Object.defineProperty(HTMLCanvasElement.prototype, "getContext", { value: () => null, configurable: true });
});

const tid = (root: ParentNode, id: string) => root.querySelector(`[data-testid="${id}"]`) as HTMLElement;

function setup() {
  const a = analysis({
    texts: ["the", "cat", "sat"],
    heads: [[identity(3), identity(3)], [identity(3), identity(3)]],
    predictions: [[pred("a", 0.5)], [pred("dog", 0.6)], [pred("on", 0.9)]],
  });
  const b = analysis({
    texts: ["the", "big", "cat", "sat"],
    heads: [[identity(4), causal(4)], [identity(4), identity(4)]],
    predictions: [[pred("a", 0.5)], [pred("cat", 0.5)], [pred("cat", 0.7)], [pred("on", 0.9)]],
  });
  const store = createStore({ model: "m", text: a.header.text, analysis: a, hideSpecial: false });
  const events = { needLayer: vi.fn(), retry: vi.fn() };
  const root = document.createElement("div");
  document.body.append(root);
  const view = new CompareView(root, store, events);
  return { store, events, root, view, a, b };
}

describe("compare view", () => {
  it("opens with the button, closes again, and says what to do first", () => {
    const { store, root, events } = setup();
    expect(tid(root, "compare-view").hidden).toBe(true);
    tid(root, "compare-button").click();
    expect(store.state.compare).toEqual(compareInputs(""));
    expect(tid(root, "compare-view").hidden).toBe(false);
    expect(tid(root, "compare-message").textContent).toMatch(/Type input B/);
    (tid(root, "compare-text-input") as HTMLTextAreaElement).value = "the big cat sat";
    (tid(root, "compare-run-button") as HTMLButtonElement).click();
    expect(store.state.compare?.text).toBe("the big cat sat");
    expect(events.retry).toHaveBeenCalled();
    tid(root, "compare-button").click();
    expect(store.state.compare).toBeNull();
    expect(tid(root, "compare-view").hidden).toBe(true);
  });

  it("shows B's error only while B's inputs are the ones that failed", () => {
    const { store, root, view } = setup();
    store.update({ compare: compareInputs("the bad input") });
    view.setError("the server said no");
    expect(tid(root, "compare-message").textContent).toBe("B: the server said no");
    store.update({ compare: compareInputs("another input") }); // e.g. Back/Forward to another B
    expect(tid(root, "compare-message").textContent).not.toMatch(/server said no/);
    store.update({ compare: compareInputs("the bad input") });
    expect(tid(root, "compare-message").textContent).toBe("B: the server said no");
    tid(root, "compare-button").click(); // closed and reopened: a fresh start
    tid(root, "compare-button").click();
    expect(tid(root, "compare-message").textContent).toMatch(/Type input B/);
  });

  it("draws A, B and B - A over the aligned tokens and lists the changed predictions", () => {
    const { store, root, b } = setup();
    store.update({ compare: { ...compareInputs(b.header.text), analysis: b } });
    const v = tid(root, "compare-view");
    expect(v.dataset.ready).toBe("true");
    expect(v.dataset.aligned).toBe("3");
    expect(v.dataset.tokensA).toBe("3");
    expect(v.dataset.tokensB).toBe("4");
    expect(Number(v.dataset.maxDiff)).toBeGreaterThan(0.1);
    expect(tid(root, "compare-map-a").dataset.size).toBe("3");
    expect(tid(root, "compare-map-b").dataset.size).toBe("4");
    expect(tid(root, "compare-map-diff").dataset.size).toBe("3");
    const rows = [...root.querySelectorAll<HTMLElement>('[data-testid="compare-prediction"]')];
    expect(rows.map((r) => [r.dataset.token, r.dataset.topA, r.dataset.topB])).toEqual([["cat", "dog", "cat"]]);
    // the head that changed (layer 0, head 1) leads the ranking; a click selects it
    expect(tid(root, "compare-head-top-0").dataset.layer).toBe("0");
    expect(tid(root, "compare-head-top-0").dataset.head).toBe("1");
    const cell = root.querySelector('rect.ch-cell[data-layer="1"][data-head="0"]') as SVGRectElement;
    expect(Number(cell.dataset.value)).toBe(0);
    cell.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(store.state.layer).toBe(1);
    expect(store.state.heads).toEqual([0]);
    // layer 1 is the same in A and B over the aligned tokens
    expect(v.dataset.maxDiff).toBe("0.0000");
  });

  it("compares with masks: B copies A, and a click on B's token masks it", () => {
    const { store, root, events } = setup();
    store.update({ compare: compareInputs("") });
    tid(root, "compare-masks-button").click();
    expect(store.state.compare).toEqual(compareInputs("the cat sat"));
    expect(events.retry).toHaveBeenCalled();
    tid(root, "compare-token-b-1").click();
    expect(store.state.compare?.mask).toEqual([1]);
    expect(tid(root, "compare-token-b-1").classList.contains("masked")).toBe(true);
    tid(root, "compare-token-b-1").click();
    expect(store.state.compare?.mask).toEqual([]);
  });

  it("asks for B's layer when it is not loaded", () => {
    const { store, root, events } = setup();
    const b = analysis({ texts: ["the", "cat", "sat"], heads: [[identity(3), identity(3)], null] });
    store.update({ compare: { ...compareInputs(b.header.text), analysis: b }, layer: 1 });
    expect(events.needLayer).toHaveBeenCalledWith(1);
    expect(tid(root, "compare-view").dataset.ready).toBe("false");
    expect(tid(root, "compare-message").textContent).toMatch(/Loading layer 1 of B/);
  });

  it("is not offered for a long (lazy) input", () => {
    const { store, root } = setup();
    store.update({ compare: compareInputs("x") });
    store.update({ doc: { id: "d", header: store.state.analysis!.header, maskToken: null } as LongDoc, analysis: null });
    expect((tid(root, "compare-button") as HTMLButtonElement).disabled).toBe(true);
    expect(tid(root, "compare-hint").textContent).toMatch(/not offered for long inputs/);
    expect(tid(root, "compare-view").hidden).toBe(true);
  });
});
