import { describe, expect, it } from "vitest";
import { decodeState, defaultState, encodeState, fitState, type AppState } from "../src/state";

describe("URL state", () => {
  it("round-trips a full state, including unicode, &, #, + and spaces in the texts", () => {
    const s: AppState = {
      model: "smollm2-135m",
      text: "Tom & Jerry #1: 100% “naïve” café = 5+3? a/b?c=d",
      textB: "  二つ目の文 — with spaces  & #hash  ",
      layer: 7,
      heads: [0, 3, 11],
      weights: [0.5, 1 / 3, 0.1666],
      mask: [2, 5],
      hideSpecial: false,
      threshold: 0.85,
    };
    const q = encodeState(s);
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
    expect(decodeState("")).toEqual(defaultState());
  });

  it("round-trips partial states", () => {
    const s = { ...defaultState(), model: "minilm-l6", text: "a", heads: [4], layer: 2 };
    expect(decodeState(encodeState(s))).toEqual(s);
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

  it("fits a state to a model's shape", () => {
    const s = { ...defaultState(), layer: 40, heads: [1, 20], weights: [1, 2] };
    const f = fitState(s, 6, 12);
    expect(f.layer).toBe(5);
    expect(f.heads).toEqual([1]);
    expect(f.weights).toBeNull();
  });
});
