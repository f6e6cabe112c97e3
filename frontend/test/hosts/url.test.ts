import { describe, expect, it } from "vitest";
import { defaultSearchState, defaultState, type SearchState } from "../../src/store";
import {
  decodeEntry,
  decodeSearchState,
  decodeState,
  encodeSearchState,
  encodeState,
  entryState,
  entryTexts,
  compareFitsUrl,
  fitEntry,
  MAX_URL_TEXT_CHARS,
  readUrl,
  textsFitUrl,
  urlQuery,
  urlState,
  urlTexts,
  type UrlState,
} from "../../src/hosts/app/url";
import { tokens } from "../fixtures/frame";
import { compareInputs } from "../../src/compare/state";
import { ATTENTION_MODES, DEFAULT_DETECTOR, defaultLensState, LENS_PANELS } from "../../src/lenses/state";

describe("URL state", () => {
  it("round-trips a full state, including unicode, &, #, + and spaces in the texts", () => {
    const s: UrlState = {
      model: "smollm2-135m",
      text: "Tom & Jerry #1: 100% “naïve” café = 5+3? a/b?c=d",
      textB: "  二つ目の文 — with spaces  & #hash  ",
      layer: 7,
      heads: [0, 3, 11],
      weights: [0.5, 0.333, 0.167],
      mask: [2, 5],
      hideSpecial: false,
      threshold: 0.85,
      colorByHead: true,
      hideFirst: true,
      long: { start: 1200, stop: 1456, token: 1300, direction: "in", stat: "entropy" },
      lens: { attentionMode: "flow", panel: "heads", detector: "induction" },
      compare: { text: "Tom & Jerry #2: “naïve” cafés", textB: "b + c", mask: [1, 3], analysis: null },
    };
    const q = encodeState(s);
    expect(q).toContain("mode=flow");
    expect(q).toContain("cmpm=1%2C3");
    expect(q).toContain("byhead=1");
    expect(q).toContain("hidefirst=1");
    expect(q).toContain("win=1200-1456");
    expect(q).toContain("tok=1300");
    expect(q).not.toContain("#");
    expect(q).not.toContain(" ");
    expect(decodeState(q)).toEqual(s);
    expect(decodeState("?" + q)).toEqual(s);
    // the same through a real URL
    const url = new URL("http://127.0.0.1:5057/?" + q + "#frag");
    expect(decodeState(url.search)).toEqual(s);
  });

  it("round-trips the default state to an empty query", () => {
    expect(encodeState(defaultState())).toBe("");
    expect(decodeState("")).toEqual(urlState(defaultState()));
  });

  it("round-trips partial states", () => {
    const s = { ...urlState(defaultState()), model: "minilm-l6", text: "a", heads: [4], layer: 2 };
    expect(decodeState(encodeState(s))).toEqual(s);
  });

  it("keeps a search at the embeddings and drops a malformed search layer", () => {
    const s = decodeSearchState("sby=embedding&stok=2&slayer=embeddings");
    expect(s.layer).toBe("embeddings");
    expect(decodeSearchState(encodeSearchState(s))).toEqual(s);
    expect(decodeSearchState("sby=embedding&stok=2&slayer=emb").by).toBeNull();
  });

  it("falls back to defaults for malformed values", () => {
    const s = decodeState("layer=-3&heads=1,x&w=a,b&mask=1,1.5&th=7&special=maybe");
    expect(s.layer).toBe(0);
    expect(s.heads).toBeNull();
    expect(s.weights).toBeNull();
    expect(s.mask).toEqual([]);
    expect(s.threshold).toBe(0.7);
    expect(s.hideSpecial).toBe(true);
  });

  it("drops weights whose count does not match the heads", () => {
    expect(decodeState("heads=1,2&w=0.5").weights).toBeNull();
    expect(decodeState("heads=1,2&w=0.5,0.25").weights).toEqual([0.5, 0.25]);
  });

  it("round-trips the search state through the URL", () => {
    expect(encodeSearchState(defaultSearchState())).toBe("");
    expect(decodeSearchState("")).toEqual(defaultSearchState());
    const s: SearchState = {
      corpus: "holmes minilm & co",
      by: "context",
      token: 3,
      layer: 4,
      heads: [1, 5],
      field: "dep",
      relation: "prev_token",
      filters: { pos: "VERB,AUX", dep: "", ent: "PERSON" },
    };
    expect(decodeSearchState(encodeSearchState(s))).toEqual(s);
    const e = decodeSearchState("?corpus=x&sby=embedding&stok=2&slayer=1");
    expect(e).toMatchObject({ corpus: "x", by: "embedding", token: 2, layer: 1, heads: null });
  });

  it("drops a malformed last search", () => {
    const s = decodeSearchState("sby=magic&stok=2&slayer=1&color=rainbow&rel=a;b");
    expect(s.by).toBeNull();
    expect(s.token).toBeNull();
    expect(s.field).toBe("pos");
    expect(s.relation).toBe("dep_head");
    expect(decodeSearchState("sby=context&stok=-1&slayer=1").by).toBeNull();
  });

  it("reads the whole store state from one query and writes it back the same", () => {
    const q = "model=m&text=The+cat&layer=2&heads=1%2C3&special=0&corpus=c&sby=context&stok=2&slayer=3&color=ent";
    const s = { ...defaultState(), ...readUrl("?" + q) };
    expect(s).toMatchObject({ model: "m", text: "The cat", layer: 2, heads: [1, 3], hideSpecial: false });
    expect(s.search).toMatchObject({ corpus: "c", by: "context", token: 2, layer: 3, field: "ent" });
    expect(urlQuery(s)).toBe(q);
  });
});

describe("URL state of the document view", () => {
  it("writes nothing for the default document view and drops malformed values", () => {
    expect(encodeState(urlState(defaultState()))).toBe("");
    const bad = decodeState("?win=500-100&tok=-3&dir=sideways&stat=%3Cscript%3E");
    expect(bad.long).toEqual(defaultState().long);
    // a window wider than the server's MAX_WINDOW_TOKENS is not taken from a link
    expect(decodeState("?win=0-600").long.stop).toBe(defaultState().long.stop);
    expect(decodeState("?win=10-20&dir=in").long).toMatchObject({ start: 10, stop: 20, direction: "in" });
  });
});

describe("texts too long for the URL", () => {
  const base = () => urlState(defaultState());

  it("writes a text up to MAX_URL_TEXT_CHARS encoded characters, and leaves a longer one out", () => {
    const fits = "a".repeat(MAX_URL_TEXT_CHARS);
    expect(encodeState({ ...base(), model: "m", text: fits })).toBe(`model=m&text=${fits}`);
    expect(urlTexts({ text: fits, textB: "" })).toBeNull();
    // The limit is on the encoded text: 4,000 "é" are 8,000 bytes, 24,000 characters encoded.
    const accents = "é".repeat(4000);
    expect(textsFitUrl(accents, "")).toBe(false);
    expect(encodeState({ ...base(), model: "m", text: accents, layer: 2 })).toBe("model=m&layer=2");
    // text and text_b count together, and are left out together.
    const half = "b".repeat(MAX_URL_TEXT_CHARS / 2 + 1);
    expect(textsFitUrl(half, half)).toBe(false);
    expect(encodeState({ ...base(), text: half, textB: half })).toBe("");
    expect(urlTexts({ text: half, textB: half })).toEqual({ text: half, textB: half });
  });

  it("keeps a 400,000-character text out of a URL that stays small", () => {
    const text = "It was the best of times, it was the worst of times; ".repeat(7600);
    expect(text.length).toBeGreaterThan(400_000);
    const s = { ...defaultState(), model: "m", text, long: { ...defaultState().long, start: 9000, stop: 9100 } };
    const q = urlQuery(s);
    expect(q).toBe("model=m&win=9000-9100");
    expect(urlTexts(s)).toEqual({ text, textB: "" });
    // A reload reads the URL alone: the app starts without the text.
    expect(readUrl(q)).toMatchObject({ model: "m", text: "", textB: "" });
  });

  it("reads the texts back from the history entry's state, and never over the URL's own", () => {
    const texts = { text: "x".repeat(20_000), textB: "y" };
    const state = entryState(texts);
    expect(entryTexts(structuredClone(state))).toEqual(texts);
    expect(entryState(null)).toBeNull();
    expect(decodeEntry("model=m&layer=1", state)).toMatchObject({ model: "m", layer: 1, ...texts });
    expect(decodeEntry("model=m&text=short", state).text).toBe("short");
    expect(decodeEntry("model=m", null).text).toBe("");
    for (const junk of [null, 3, "s", {}, { exbertTexts: { text: 1, textB: "" } }, { exbertTexts: null }]) expect(entryTexts(junk)).toBeNull();
  });
});

describe("a history entry applied to the document on screen", () => {
  const doc = (T: number) => {
    const texts = Array.from({ length: T }, (_, i) => `w${i}`);
    const header = {
      analysis_id: "d",
      model: "m",
      kind: "autoregressive" as const,
      text: texts.join(" "),
      text_b: null,
      mask: [],
      n_layers: 1,
      n_heads: 1,
      tokens: tokens(texts),
      predictions: null,
      predictions_unavailable: "x",
      attention: { dtype: "float16" as const, shape: [1, 1, T, T], layers: [], offset: 0, mode: "lazy" as const },
    };
    return { id: "d", header, maskToken: null };
  };

  it("fits a window and token past the end of the document into it", () => {
    const u = decodeState("model=m&win=9000-9100&tok=9000&dir=in");
    expect(u.long).toMatchObject({ start: 9000, stop: 9100, token: 9000 });
    const f = fitEntry(u, doc(6000)).long;
    expect(f.stop).toBeLessThanOrEqual(6000);
    expect(f.start).toBeLessThan(f.stop);
    expect(f.token).toBeNull();
    expect(f.direction).toBe("in");
  });

  it("keeps a window inside the document, and leaves the state alone without a document", () => {
    const u = decodeState("model=m&win=100-300&tok=150");
    expect(fitEntry(u, doc(6000)).long).toEqual(u.long);
    const far = decodeState("model=m&win=9000-9100&tok=9000");
    expect(fitEntry(far, null)).toBe(far);
  });
});

describe("URL state of the lenses and the compare view", () => {
  const base = () => urlState(defaultState());

  it("writes nothing for the default lenses and no compare view", () => {
    expect(encodeState({ ...base(), lens: defaultLensState() })).toBe("");
    expect(decodeState("").lens).toEqual(defaultLensState());
    expect(decodeState("").compare).toBeNull();
  });

  it("round-trips each attention mode, panel and detector", () => {
    for (const attentionMode of ATTENTION_MODES) {
      for (const panel of [...LENS_PANELS, null]) {
        const s = { ...base(), lens: { attentionMode, panel, detector: "duplicate_token" } };
        expect(decodeState(encodeState(s))).toEqual(s);
      }
    }
    const q = encodeState({ ...base(), lens: { attentionMode: "rollout", panel: "lens", detector: DEFAULT_DETECTOR } });
    expect(q).toBe("mode=rollout&panel=lens");
  });

  it("drops unknown modes, panels and malformed detectors", () => {
    const l = decodeState("mode=maxflow&panel=everything&detector=Bad%20name!").lens;
    expect(l).toEqual(defaultLensState());
    expect(decodeState("mode=RAW&panel=Heads").lens).toEqual(defaultLensState());
    expect(decodeState("detector=induction").lens.detector).toBe("induction");
  });

  it("round-trips B's texts and mask, and an open compare view before B is typed", () => {
    const s = { ...base(), text: "The cat sat.", compare: compareInputs("The big cat sat.", "It purred.", [4, 2, 2]) };
    const q = encodeState(s);
    expect(q).toBe("text=The+cat+sat.&cmp=The+big+cat+sat.&cmpb=It+purred.&cmpm=2%2C4");
    expect(decodeState(q).compare).toEqual({ text: "The big cat sat.", textB: "It purred.", mask: [2, 4], analysis: null });
    const open = { ...base(), compare: compareInputs("") };
    expect(encodeState(open)).toBe("cmp=");
    expect(decodeState("cmp=").compare).toEqual(compareInputs(""));
    expect(decodeState("cmp=a&cmpm=1,x").compare?.mask).toEqual([]);
  });

  it("leaves the compare view out when B's texts do not fit beside A's", () => {
    const half = "x".repeat(MAX_URL_TEXT_CHARS / 2 + 10);
    const s = { ...base(), text: half, compare: compareInputs(half) };
    expect(textsFitUrl(half, "")).toBe(true);
    expect(compareFitsUrl(half, "", s.compare)).toBe(false);
    expect(encodeState(s)).not.toContain("cmp");
    expect(compareFitsUrl("a", "", compareInputs("b"))).toBe(true);
  });

  it("reads the lenses and the compare view into the store and writes them back the same", () => {
    const q = "model=minilm-l6&text=a+b&layer=2&mode=rollout&panel=heads&detector=induction&cmp=a+c&cmpm=1";
    const s = { ...defaultState(), ...readUrl(q) };
    expect(s.lens).toEqual({ attentionMode: "rollout", panel: "heads", detector: "induction" });
    expect(s.compare).toEqual(compareInputs("a c", "", [1]));
    expect(urlQuery(s)).toBe(q);
  });
});
