import { describe, expect, it } from "vitest";
import { compareInputs } from "../../src/compare/state";
import { createStore } from "../../src/store";
import { changedViewParams, GROUP_MS, UrlHistory, type HistoryPort } from "../../src/hosts/app/history";
import { decodeEntry, decodeState, entryState, weightText, encodeState, urlState, type UrlTexts } from "../../src/hosts/app/url";

/** A history stand-in: the entries and the index of the current one. */
class FakeHistory implements HistoryPort {
  entries: string[];
  /** Each entry's state: the texts kept out of its URL. */
  states: (UrlTexts | null)[];
  at = 0;
  constructor(first: string) {
    this.entries = [first];
    this.states = [null];
  }
  search = () => this.entries[this.at];
  texts = () => this.states[this.at];
  push = (q: string, t: UrlTexts | null) => {
    this.entries = [...this.entries.slice(0, this.at + 1), q];
    this.states = [...this.states.slice(0, this.at + 1), t];
    this.at++;
  };
  replace = (q: string, t: UrlTexts | null) => {
    this.entries[this.at] = q;
    this.states[this.at] = t;
  };
  back(): void {
    this.at--;
  }
  forward(): void {
    this.at++;
  }
}

const tick = () => new Promise<void>((r) => queueMicrotask(r));

function setup(first = "model=m&text=hi") {
  const store = createStore({ ...decodeState(first) });
  const port = new FakeHistory(first);
  let t = 1000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const hist = new UrlHistory(store, port, clock.now);
  return { store, port, clock, hist };
}

describe("URL history", () => {
  it("writes nothing before start, and the first write replaces the entry", async () => {
    const { store, port, hist } = setup("text=hi");
    store.update({ model: "m" });
    await tick();
    expect(port.entries).toEqual(["text=hi"]);
    hist.start("replace");
    expect(port.entries).toEqual(["model=m&text=hi"]);
  });

  it("pushes one entry per view change and groups the same control within GROUP_MS", async () => {
    const { store, port, clock, hist } = setup();
    hist.start("replace");
    store.update({ layer: 1 });
    await tick();
    clock.advance(100);
    store.update({ layer: 2 }); // a held arrow key: grouped
    await tick();
    clock.advance(100);
    store.update({ layer: 3 });
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi", "model=m&text=hi&layer=3"]);
    clock.advance(100);
    store.update({ threshold: 0.5 }); // another control: a new entry
    await tick();
    clock.advance(GROUP_MS + 1);
    store.update({ layer: 4 }); // the same control, later: a new entry
    await tick();
    expect(port.entries.length).toBe(4);
    expect(port.entries[3]).toContain("layer=4");
  });

  it("writes the changes of one task once (a model switch that re-analyses)", async () => {
    const { store, port, hist } = setup();
    hist.start("replace");
    store.update({ model: "n", heads: null });
    store.update({ text: "other" });
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi", "model=n&text=other"]);
  });

  it("replaces the entry for search-only changes", async () => {
    const { store, port, hist } = setup();
    hist.start("replace");
    store.update({ search: { ...store.state.search, corpus: "c" } });
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi&corpus=c"]);
  });

  it("after Back, applying the entry writes no new entry; the next change pushes", async () => {
    const { store, port, clock, hist } = setup();
    hist.start("replace");
    store.update({ layer: 2 });
    await tick();
    port.back();
    hist.popped();
    store.update({ ...decodeState(port.search()) });
    hist.start("replace");
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi", "model=m&text=hi&layer=2"]);
    expect(port.at).toBe(0);
    clock.advance(10);
    store.update({ layer: 5 });
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi", "model=m&text=hi&layer=5"]);
    expect(port.at).toBe(1);
  });

  it("writes nothing while stopped (a link with an unknown model); a pick then pushes", async () => {
    const { store, port, hist } = setup("model=nope&text=hi");
    hist.stop();
    store.update({ search: { ...store.state.search, corpus: "x" } });
    await tick();
    expect(port.entries).toEqual(["model=nope&text=hi"]);
    store.update({ model: "m" });
    hist.start("auto");
    expect(port.entries).toEqual(["model=nope&text=hi", "model=m&text=hi&corpus=x"]);
  });

  it("keeps a text too long for the URL in the entry's state; a change of it pushes; Back restores it", async () => {
    const { store, port, clock, hist } = setup();
    hist.start("replace");
    const long1 = "a long document. ".repeat(24_000); // 408,000 characters
    store.update({ text: long1 });
    await tick();
    expect(port.entries).toEqual(["model=m&text=hi", "model=m"]);
    expect(port.states).toEqual([null, { text: long1, textB: "" }]);
    clock.advance(GROUP_MS + 1);
    store.update({ long: { ...store.state.long, start: 100, stop: 200 } });
    await tick();
    expect(port.entries[2]).toBe("model=m&win=100-200");
    expect(port.states[2]).toEqual({ text: long1, textB: "" });
    // Another long text: the URL is the same as before, but the inputs changed: a new entry.
    const long2 = long1.replace("a long", "another long");
    clock.advance(GROUP_MS + 1);
    store.update({ text: long2, textB: "pair" });
    await tick();
    expect(port.entries.length).toBe(4);
    expect(port.entries[3]).toBe("model=m&win=100-200");
    expect(port.states[3]).toEqual({ text: long2, textB: "pair" });
    expect(port.entries.every((q) => q.length < 1000)).toBe(true);
    // Back: the entry's URL and state give the old text again; applying it writes nothing new.
    port.back();
    hist.popped();
    expect(decodeEntry(port.search(), entryState(port.texts()))).toMatchObject({ text: long1, textB: "", long: { start: 100, stop: 200 } });
    store.update({ text: long1, textB: "" });
    await tick();
    expect(port.entries.length).toBe(4);
    expect(port.at).toBe(2);
    // Back to the short text: the URL has it, the state is empty.
    port.back();
    port.back();
    hist.popped();
    expect(port.texts()).toBeNull();
    expect(decodeEntry(port.search(), null).text).toBe("hi");
  });

  it("a reload of an entry whose text was too long starts without it and keeps the URL's view", async () => {
    // What the browser keeps on reload: the URL (without the text) and the entry's state.
    const { store, port, hist } = setup("model=m&win=100-200&tok=150");
    port.states[0] = { text: "x".repeat(20_000), textB: "" };
    expect(store.state.text).toBe("");
    expect(store.state.long).toMatchObject({ start: 100, stop: 200, token: 150 });
    hist.start("replace");
    // The entry now says what is on screen: no text (nothing analysed), the same URL.
    expect(port.entries).toEqual(["model=m&win=100-200&tok=150"]);
    expect(port.states).toEqual([null]);
  });

  it("names the view parameters that changed", () => {
    expect(changedViewParams("model=m&layer=1&corpus=a", "model=m&layer=2&corpus=b")).toEqual(["layer"]);
    expect(changedViewParams("a=1", "a=1")).toEqual([]);
    // Texts kept out of the URL count as the entry's text.
    expect(changedViewParams("model=m", "model=m", { text: "a", textB: "" }, { text: "b", textB: "" })).toEqual(["text"]);
    expect(changedViewParams("model=m&text=a", "model=m", null, { text: "a", textB: "c" })).toEqual(["text_b"]);
    expect(changedViewParams("model=m&cmp=a", "model=m&cmp=b&cmpm=1&mode=flow")).toEqual(["mode", "cmp", "cmpm"]);
  });

  it("pushes an entry per compare and lens change; Back and Forward restore them, B's analysis aside", async () => {
    const { store, port, clock, hist } = setup();
    hist.start("replace");
    store.update({ compare: compareInputs("") });
    await tick();
    clock.advance(GROUP_MS + 1);
    store.update({ compare: compareInputs("hi there", "", [1]) });
    await tick();
    clock.advance(GROUP_MS + 1);
    // B's analysis arriving changes no URL
    store.update({ compare: { ...store.state.compare!, analysis: { id: "b" } as never } });
    await tick();
    store.update({ lens: { ...store.state.lens, attentionMode: "rollout" } });
    await tick();
    expect(port.entries).toEqual([
      "model=m&text=hi",
      "model=m&text=hi&cmp=",
      "model=m&text=hi&cmp=hi+there&cmpm=1",
      "model=m&text=hi&mode=rollout&cmp=hi+there&cmpm=1",
    ]);
    port.back();
    hist.popped();
    store.update({ ...decodeEntry(port.search(), null) });
    hist.start("replace");
    await tick();
    expect(store.state.lens.attentionMode).toBe("raw");
    expect(store.state.compare).toEqual(compareInputs("hi there", "", [1]));
    port.back();
    port.back();
    hist.popped();
    store.update({ ...decodeEntry(port.search(), null) });
    hist.start("replace");
    await tick();
    expect(store.state.compare).toBeNull();
    port.forward();
    hist.popped();
    store.update({ ...decodeEntry(port.search(), null) });
    expect(store.state.compare).toEqual(compareInputs(""));
    expect(port.entries).toHaveLength(4);
  });
});

describe("weights in the URL", () => {
  it("are rounded to 3 significant digits and at most 4 decimals, no trailing zeros", () => {
    expect(weightText(1 / 3)).toBe("0.333");
    expect(weightText(0.5)).toBe("0.5");
    expect(weightText(2)).toBe("2");
    expect(weightText(0.1666)).toBe("0.167");
    expect(weightText(12.345)).toBe("12.3");
    expect(weightText(0.000123456)).toBe("0.0001");
    expect(weightText(0.00001)).toBe("0.00001");
    expect(weightText(0)).toBe("0");
    const s = { ...urlState(decodeState("")), heads: [0, 1, 2], weights: [1 / 3, 1 / 3, 0.3333333333333333] };
    expect(encodeState(s)).toBe("heads=0%2C1%2C2&w=0.333%2C0.333%2C0.333");
  });

  it("parse long values as before", () => {
    expect(decodeState("heads=0,1&w=0.3333333333333333,0.6666666666666666").weights).toEqual([0.3333333333333333, 0.6666666666666666]);
  });
});
