import { describe, expect, it } from "vitest";
import { defaultSearchState, defaultState, type SearchState } from "../../src/store";
import { decodeSearchState, decodeState, encodeSearchState, encodeState, readUrl, urlQuery, urlState, type UrlState } from "../../src/hosts/app/url";

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
    };
    const q = encodeState(s);
    expect(q).toContain("byhead=1");
    expect(q).toContain("hidefirst=1");
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
