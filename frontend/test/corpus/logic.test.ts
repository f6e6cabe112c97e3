import { describe, expect, it } from "vitest";
import type { CorpusInfo } from "../../src/api/types";
import { assignColors, NONE_COLOR, OTHER_COLOR, PALETTE, resultColors, SPECIAL_COLOR, textColor } from "../../src/corpus/colors";
import {
  byFrequency,
  histogramBars,
  histogramCounts,
  NONE,
  OTHER,
  SPECIAL,
  summaryCounts,
  tokenLabel,
  tokenMeta,
} from "../../src/corpus/labels";
import {
  compactList,
  corporaForModel,
  layerName,
  searchFilters,
  searchLayer,
  storedLayers,
  type SearchLayer,
} from "../../src/corpus/search";
import { corpusInfo, fixtureResult } from "../fixtures/corpus";

const info = (name: string, model: string, layers: CorpusInfo["layers"] = ["embeddings", 0, 1, 2], context = [0, 1, 2]): CorpusInfo =>
  corpusInfo(name, model, layers, context);

describe("corpora and layers", () => {
  it("keeps only the corpora of the selected model", () => {
    const all = [info("a", "minilm-l6"), info("b", "smollm2-135m"), info("c", "minilm-l6")];
    expect(corporaForModel(all, "minilm-l6").map((c) => c.name)).toEqual(["a", "c"]);
    expect(corporaForModel(all, "gpt2")).toEqual([]);
  });

  it("searches the view's layer i at the same layer i (one numbering) when it is stored", () => {
    const all: SearchLayer[] = ["embeddings", 0, 1, 2, 3, 4, 5];
    expect(searchLayer(0, all)).toEqual({ wanted: 0, layer: 0, exact: true });
    expect(searchLayer(5, all)).toMatchObject({ wanted: 5, layer: 5, exact: true });
  });

  it("uses the nearest stored layer otherwise (the embeddings before layer 0; ties: the lower one)", () => {
    const stored: SearchLayer[] = ["embeddings", 2, 5, 8, 11, 14, 17, 20, 23, 26, 29];
    expect(searchLayer(3, stored)).toEqual({ wanted: 3, layer: 2, exact: false });
    expect(searchLayer(4, stored)).toMatchObject({ wanted: 4, layer: 5, exact: false });
    expect(searchLayer(29, stored)).toMatchObject({ wanted: 29, layer: 29, exact: true });
    expect(searchLayer(0, stored)).toMatchObject({ wanted: 0, layer: "embeddings", exact: false });
    expect(searchLayer(1, [0, 2])).toMatchObject({ wanted: 1, layer: 0, exact: false }); // tie
    expect(searchLayer(8, [1, 3])).toMatchObject({ wanted: 8, layer: 3, exact: false });
    expect(searchLayer(2, [])).toMatchObject({ layer: null, exact: false });
    expect(searchLayer(2, ["embeddings"])).toMatchObject({ layer: "embeddings", exact: false });
  });

  it("reads the stored layers of each kind of search and names them", () => {
    const c = info("a", "m", ["embeddings", 5], [5]);
    expect(storedLayers(c, "embedding")).toEqual(["embeddings", 5]);
    expect(storedLayers(c, "context")).toEqual([5]);
    expect(layerName(3)).toBe("layer 3");
    expect(layerName("embeddings")).toBe("embeddings");
  });
});

describe("labels and colours", () => {
  it("labels special tokens and missing annotations", () => {
    const t = { special: false, pos: "NOUN", dep: "nsubj", ent_type: "" };
    expect(tokenLabel(t, "pos")).toBe("NOUN");
    expect(tokenLabel(t, "dep")).toBe("nsubj");
    expect(tokenLabel(t, "ent")).toBe(NONE);
    expect(tokenLabel({ special: true, pos: null, dep: null, ent_type: null }, "pos")).toBe(SPECIAL);
    expect(tokenLabel(null, "pos")).toBeNull();
  });

  it("gives POS and entity labels fixed colours, the same in every result", () => {
    const a = assignColors("pos", new Map([["NOUN", 5], ["VERB", 2]]));
    const b = assignColors("pos", new Map([["VERB", 9], ["NOUN", 1], ["ADJ", 3]]));
    expect(a.get("NOUN")).toBe(b.get("NOUN"));
    expect(a.get("VERB")).toBe(b.get("VERB"));
    expect(a.get("NOUN")).not.toBe(a.get("VERB"));
    const e = assignColors("ent", new Map([["PERSON", 1], ["GPE", 1], [NONE, 7]]));
    expect(e.get(NONE)).toBe(NONE_COLOR);
    expect(e.get("PERSON")).not.toBe(e.get("GPE"));
  });

  it("gives the most frequent other labels distinct palette colours, then 'other'", () => {
    const counts = new Map<string, number>();
    for (let k = 0; k < 25; k++) counts.set(`dep${String(k).padStart(2, "0")}`, 100 - k);
    counts.set(SPECIAL, 3);
    const c = assignColors("dep", counts);
    const first20 = byFrequency(counts).filter((l) => l !== SPECIAL).slice(0, 20);
    expect(new Set(first20.map((l) => c.get(l))).size).toBe(20);
    expect(first20.every((l) => (PALETTE as readonly string[]).includes(c.get(l)!))).toBe(true);
    expect(c.get("dep00")).toBe(PALETTE[0]);
    expect(c.get("dep24")).toBe(OTHER_COLOR);
    expect(c.get(SPECIAL)).toBe(SPECIAL_COLOR);
  });

  it("unknown tags of another tag set do not reuse the colours of known ones", () => {
    const c = assignColors("pos", new Map([["NOUN", 4], ["FOO", 3], ["BAR", 1]]));
    expect(c.get("FOO")).not.toBe(c.get("NOUN"));
    expect(c.get("BAR")).not.toBe(c.get("NOUN"));
    expect(c.get("FOO")).not.toBe(c.get("BAR"));
  });

  it("picks readable text colours", () => {
    expect(textColor("#ffffff")).toBe("#1c2433");
    expect(textColor("#f6f7f9")).toBe("#1c2433");
    expect(textColor("#1f2f52")).toBe("#ffffff");
    expect(textColor("#4e79a7")).toBe("#ffffff");
    expect(textColor("nonsense")).toBe("#1c2433");
  });

  it("colours summary and histograms of one result alike", () => {
    const r = fixtureResult();
    const colors = resultColors(r, "pos");
    for (const row of r.summary.rows) for (const cell of row) if (cell) expect(colors.has(tokenLabel(cell, "pos")!)).toBe(true);
    for (const label of histogramCounts(r.matches, "max_attention", "pos").keys()) expect(colors.has(label)).toBe(true);
  });
});

describe("histograms", () => {
  it("counts the matched tokens and their max-attention tokens", () => {
    const r = fixtureResult();
    expect(Object.fromEntries(histogramCounts(r.matches, "matched", "pos"))).toEqual({ NOUN: 2, PROPN: 1 });
    expect(Object.fromEntries(histogramCounts(r.matches, "matched", "ent"))).toEqual({ [NONE]: 2, PERSON: 1 });
    // max attention: [CLS] of the first match, "saw" of the other two
    expect(Object.fromEntries(histogramCounts(r.matches, "max_attention", "pos"))).toEqual({ [SPECIAL]: 1, VERB: 2 });
    const none = r.matches.map((m) => ({ ...m, max_attention: null }));
    expect(histogramCounts(none, "max_attention", "pos").size).toBe(0);
  });

  it("sorts bars by count then label, and folds a long tail into 'other'", () => {
    const counts = new Map([["b", 2], ["a", 2], ["c", 5], ["d", 1]]);
    expect(histogramBars(counts)).toEqual([
      { label: "c", count: 5 },
      { label: "a", count: 2 },
      { label: "b", count: 2 },
      { label: "d", count: 1 },
    ]);
    expect(histogramBars(counts, 3)).toEqual([
      { label: "c", count: 5 },
      { label: "a", count: 2 },
      { label: OTHER, count: 3 },
    ]);
  });

  it("counts the summary's cells over all offsets", () => {
    const r = fixtureResult();
    const c = summaryCounts(r.summary.rows, "pos");
    const cells = r.summary.rows.flat().filter(Boolean).length;
    expect([...c.values()].reduce((a, b) => a + b, 0)).toBe(cells);
  });
});

describe("filters, metadata, head lists", () => {
  it("turns the filter inputs into the API's filters", () => {
    expect(searchFilters({ pos: "", dep: " ", ent: "" })).toBeNull();
    expect(searchFilters({ pos: "VERB, AUX", dep: "", ent: "PERSON" })).toEqual({ pos: "VERB,AUX", ent_type: "PERSON" });
  });

  it("describes a token's annotation", () => {
    const r = fixtureResult();
    const m = r.matches[1];
    const meta = Object.fromEntries(tokenMeta(m.tokens[4], m.tokens));
    expect(meta.POS).toBe("NOUN (NN)");
    expect(meta.DEP).toBe("dobj \u2192 saw");
    expect(meta.Lemma).toBe("cat");
    expect(Object.fromEntries(tokenMeta(m.tokens[1], m.tokens)).Entity).toBe("PERSON (B)");
    expect(tokenMeta(m.tokens[0])).toEqual([["", "special token"]]);
  });

  it("writes head lists compactly", () => {
    expect(compactList([0, 1, 2, 3, 7, 9, 10])).toBe("0\u20133, 7, 9, 10");
    expect(compactList([5])).toBe("5");
  });
});
