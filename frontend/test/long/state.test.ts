import { describe, expect, it } from "vitest";
import { AttentionLayers } from "../../src/attention/frame";
import { decodeAnalyzed, decodeArray } from "../../src/long/api";
import { Lru } from "../../src/long/cache";
import { readerPieces } from "../../src/long/reader";
import { statOf } from "../../src/long/stats";
import { windowAnalysis } from "../../src/long/window";
import {
  createStore,
  defaultLongState,
  fitLong,
  newInputsLong,
  selectHeadCell,
  shapeOf,
  showAnalysis,
  showDocument,
  type LongDoc,
} from "../../src/store";
import { buildFrame, tokens } from "../fixtures/frame";
import { arrayFrame } from "./arrays";

function doc(n: number, text = "x"): LongDoc {
  const header = {
    analysis_id: "a1",
    model: "smollm2-135m",
    kind: "autoregressive" as const,
    text,
    text_b: null,
    mask: [],
    n_layers: 30,
    n_heads: 9,
    tokens: tokens(Array.from({ length: n }, (_, i) => `t${i}`)),
    predictions: null,
    predictions_unavailable: "x",
    attention: { dtype: "float16" as const, shape: [30, 9, n, n], layers: [], offset: 0, mode: "lazy" as const },
  };
  return { id: "a1", header, maskToken: null };
}

describe("store transitions of the document view", () => {
  it("shows a long document instead of the analysis, its view fitted to it", () => {
    const store = createStore({ long: { ...defaultLongState(), start: 5000, stop: 5300, token: 7000 } });
    store.update(showDocument(store.state, doc(6000)));
    const s = store.state;
    expect(s.doc?.id).toBe("a1");
    expect(s.analysis).toBeNull();
    expect(s.long).toMatchObject({ start: 5000, stop: 5300, token: null });
    expect(shapeOf(s)).toEqual({ layers: 30, heads: 9 });
    // a shorter document: the window moves inside it
    store.update(showDocument(store.state, doc(200)));
    expect(store.state.long).toMatchObject({ start: 199, stop: 200 });
  });

  it("drops the document when a (short) analysis is shown", () => {
    const store = createStore();
    store.update(showDocument(store.state, doc(600)));
    const header = { ...doc(3).header, attention: { dtype: "float16" as const, shape: [30, 9, 3, 3], layers: [0], offset: 0, mode: "full" as const } };
    store.update(showAnalysis(store.state, { header, attention: new AttentionLayers(30, 9, 3), maskToken: null }));
    expect(store.state.doc).toBeNull();
    expect(store.state.analysis).not.toBeNull();
  });

  it("fits windows: inside the document, at most 512 tokens, never empty", () => {
    const l = defaultLongState();
    expect(fitLong({ ...l, start: 10, stop: 9000 }, 6000)).toMatchObject({ start: 10, stop: 522 });
    expect(fitLong({ ...l, start: 10, stop: 5 }, 6000)).toMatchObject({ start: 10, stop: 11 });
    expect(fitLong({ ...l, start: -4, stop: 50 }, 30)).toMatchObject({ start: 0, stop: 30 });
    expect(fitLong({ ...l, token: 29 }, 30).token).toBe(29);
    expect(fitLong({ ...l, token: 30 }, 30).token).toBeNull();
  });

  it("new inputs start at the first window with no token, keeping the statistic", () => {
    const store = createStore({ long: { start: 900, stop: 1000, token: 950, direction: "in", stat: "entropy" } });
    expect(newInputsLong(store.state)).toEqual({ ...defaultLongState(), stat: "entropy" });
  });

  it("a click on a head-stats cell selects that layer and only that head", () => {
    const store = createStore({ layer: 2, heads: [1, 3], weights: [0.5, 0.5] });
    store.update(selectHeadCell(7, 4));
    expect(store.state).toMatchObject({ layer: 7, heads: [4], weights: null });
  });
});

describe("the window's analysis", () => {
  it("cuts the document header to the window, with no layer loaded", () => {
    const d = doc(1000);
    d.header.mask = [5, 150, 700];
    const a = windowAnalysis(d, 100, 356);
    expect(a.header.tokens.length).toBe(256);
    expect(a.header.tokens[0].text).toBe("t100");
    expect(a.header.mask).toEqual([50]);
    expect(a.header.attention.shape).toEqual([30, 9, 256, 256]);
    expect(a.attention.T).toBe(256);
    expect(a.attention.missingLayers().length).toBe(30);
  });
});

describe("route answers", () => {
  it("decodes an array frame: shape, float16 values, extra header fields", () => {
    const values = [0.5, 0.25, 0.125, 1, 0, 0.75];
    const arr = decodeArray(arrayFrame([3, 2], values, { names: ["a", "b", "c"] }));
    expect(arr.shape).toEqual([3, 2]);
    expect(Array.from(arr.data)).toEqual(values);
    expect(arr.header.names).toEqual(["a", "b", "c"]);
    expect(() => decodeArray(new ArrayBuffer(4))).toThrow(/EXB1/);
    const cut = arrayFrame([4], [1, 2, 3, 4]).slice(0, -2);
    expect(() => decodeArray(cut)).toThrow(/truncated/);
  });

  it("tells a lazy analysis (header and id, no attention bytes) from a full frame", () => {
    const d = doc(3);
    const lazy = buildFrame({ ...d.header, analysis_id: "abc" } as never, []);
    const got = decodeAnalyzed(lazy);
    expect(got.mode).toBe("lazy");
    if (got.mode === "lazy") expect(got.id).toBe("abc");
    const full = buildFrame(
      { ...d.header, analysis_id: "f1", n_layers: 1, n_heads: 1, attention: { dtype: "float16", shape: [1, 1, 3, 3], layers: [0], mode: "full" } } as never,
      new Array(9).fill(0),
    );
    const g2 = decodeAnalyzed(full);
    expect(g2.mode).toBe("full");
    if (g2.mode === "full") {
      expect(g2.id).toBe("f1");
      expect(g2.frame.attention.T).toBe(3);
    }
    expect(() => decodeAnalyzed(buildFrame({ ...d.header, analysis_id: undefined } as never, []))).toThrow(/id/);
  });
});

describe("reader and stats", () => {
  it("lays out the text as typed, token spans with the gaps between them", () => {
    const text = "Hello,  world.\nBye";
    const toks = [
      { text: "<s>", start: 0, end: 0, special: true, segment: 0, masked: false, continues: false },
      { text: "Hello", start: 0, end: 5, special: false, segment: 0, masked: false, continues: false },
      { text: ",", start: 5, end: 6, special: false, segment: 0, masked: false, continues: false },
      { text: "world", start: 8, end: 13, special: false, segment: 0, masked: false, continues: false },
      { text: ".", start: 13, end: 14, special: false, segment: 0, masked: false, continues: false },
      { text: "Bye", start: 15, end: 18, special: false, segment: 0, masked: false, continues: false },
    ];
    const pieces = readerPieces({ text, text_b: null, tokens: toks });
    const joined = pieces.map((p) => ("gap" in p ? p.gap : p.special ? "" : p.text)).join("");
    expect(joined).toBe(text);
    expect(pieces.filter((p) => "token" in p).map((p) => ("token" in p ? p.token : -1))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("picks one statistic's [layers, heads] slice and its range", () => {
    const values = new Float32Array([0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60]); // [2 stats, 2 layers, 3 heads]
    const s = statOf({ names: ["first_token", "entropy"], values, layers: 2, heads: 3 }, "entropy");
    expect(Array.from(s!.values)).toEqual([10, 20, 30, 40, 50, 60]);
    expect([s!.min, s!.max]).toEqual([10, 60]);
    expect(statOf({ names: ["first_token"], values, layers: 2, heads: 3 }, "nope")).toBeNull();
  });

  it("caches fetched arrays by key, shares a request in flight, forgets failures", async () => {
    const lru = new Lru<number>(2);
    let loads = 0;
    const load = (v: number) => () => {
      loads++;
      return Promise.resolve(v);
    };
    const [a, b] = await Promise.all([lru.get("k", load(1)), lru.get("k", load(2))]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    await lru.get("k2", load(2));
    await lru.get("k3", load(3));
    expect(lru.has("k")).toBe(false);
    await expect(lru.get("bad", () => Promise.reject(new Error("x")))).rejects.toThrow();
    await Promise.resolve();
    expect(lru.has("bad")).toBe(false);
  });
});

describe("busy server", () => {
  it("waits the 503's retry_after (capped), and only for a 503", async () => {
    const { retryAfter } = await import("../../src/long/api");
    const { ApiError } = await import("../../src/api/client");
    expect(retryAfter(new ApiError("busy", "MemoryBudgetExceeded", 503, { retry_after: 2 }))).toBe(2);
    expect(retryAfter(new ApiError("busy", "MemoryBudgetExceeded", 503, { retry_after: 900 }))).toBe(30);
    expect(retryAfter(new ApiError("busy", "QueueFull", 503, null))).toBe(1);
    expect(retryAfter(new ApiError("gone", "UnknownAnalysis", 404, null))).toBeNull();
    expect(retryAfter(new Error("x"))).toBeNull();
  });
});
