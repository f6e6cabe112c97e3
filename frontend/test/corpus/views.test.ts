// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { HeadRankingView } from "../../src/corpus/headRanking";
import { CorpusPanel } from "../../src/corpus/panel";
import { fixtureRanking, fixtureResult } from "../fixtures/corpus";

const qa = (root: ParentNode, sel: string) => Array.from(root.querySelectorAll(sel));
const tid = (name: string) => `[data-testid="${name}"]`;
const click = (el: Element | null) => el!.dispatchEvent(new MouseEvent("click", { bubbles: true }));

beforeEach(() => document.body.replaceChildren());

describe("CorpusPanel", () => {
  it("shows one result per match with its matched and max-attention tokens", () => {
    const panel = new CorpusPanel(document.body);
    panel.showResult(fixtureResult(), "3 nearest");
    const results = qa(document, tid("search-result"));
    expect(results).toHaveLength(3);
    for (const r of results) expect(qa(r, tid("matched-token"))).toHaveLength(1);
    expect(results[0].querySelector(tid("matched-token"))!.textContent).toBe("dog");
    expect(results[1].querySelector(tid("matched-token"))!.textContent).toBe("cat");
    // max attention of match 1 on [CLS] (a special token, shown because it is the target)
    expect(results[0].querySelector(tid("max-attention-token"))!.textContent).toBe("[CLS]");
    expect(results[1].querySelector(tid("max-attention-token"))!.textContent).toBe("saw");
    // the sentence keeps its spacing
    expect(results[1].querySelector(".sr-sentence")!.textContent).toBe("Holmes saw a cat");
    // special tokens only when they are the max-attention target
    expect(results[0].querySelector(".sr-sentence")!.textContent).toBe("[CLS] The dog barked .");
    expect(results[0].querySelector('.ctok[data-index="3"]')!.getAttribute("data-pos")).toBe("VERB");
  });

  it("shows a token's annotation on hover", () => {
    new CorpusPanel(document.body).showResult(fixtureResult(), "");
    const tok = document.querySelector(`${tid("search-result")}:nth-child(2) ${tid("matched-token")}`)!;
    tok.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = document.querySelector(tid("token-meta-tooltip")) as HTMLElement;
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("NOUN (NN)");
    expect(tip.textContent).toContain("dobj");
    expect(tip.textContent).toContain("Lemma");
  });

  it("draws the colour summary and switches its field", () => {
    const fields: string[] = [];
    const panel = new CorpusPanel(document.body, { onField: (f) => fields.push(f) });
    panel.showResult(fixtureResult(), "");
    const matrix = document.querySelector(tid("summary-matrix"))!;
    expect(qa(matrix, tid("summary-row"))).toHaveLength(3);
    expect(qa(matrix, "thead th").map((t) => t.textContent)).toEqual(["#", "\u22122", "\u22121", "match", "+1", "+2"]);
    const zero = matrix.querySelector('tr[data-row="0"] td[data-offset="0"]') as HTMLElement;
    expect(zero.textContent).toBe("dog");
    expect(zero.dataset.label).toBe("NOUN");
    const posColor = zero.style.background;
    const legendPos = qa(document, `${tid("summary-legend")} .lg-item`).map((e) => e.getAttribute("data-label"));
    expect(legendPos).toContain("NOUN");
    click(document.querySelector(tid("summary-field-dep")));
    expect(fields).toEqual(["dep"]);
    expect(matrix.getAttribute("data-field")).toBe("dep");
    const zeroDep = matrix.querySelector('tr[data-row="0"] td[data-offset="0"]') as HTMLElement;
    expect(zeroDep.dataset.label).toBe("nsubj");
    expect(zeroDep.style.background).not.toBe(posColor);
    const legendDep = qa(document, `${tid("summary-legend")} .lg-item`).map((e) => e.getAttribute("data-label"));
    expect(legendDep).toContain("nsubj");
    expect(legendDep).not.toContain("NOUN");
    // cells beyond the sentence are empty
    expect(matrix.querySelector('tr[data-row="2"] td[data-offset="-2"]')!.classList.contains("empty")).toBe(true);
  });

  it("collapses a long summary to its top rows and expands it", () => {
    const r = fixtureResult();
    const many = { ...r, matches: [], summary: { ...r.summary, rows: Array.from({ length: 14 }, () => r.summary.rows[0]) } };
    new CorpusPanel(document.body).showResult(many, "");
    const matrix = document.querySelector(tid("summary-matrix"))!;
    expect(qa(matrix, tid("summary-row"))).toHaveLength(10);
    const toggle = document.querySelector(tid("summary-toggle")) as HTMLButtonElement;
    expect(toggle.hidden).toBe(false);
    click(toggle);
    expect(qa(matrix, tid("summary-row"))).toHaveLength(14);
    click(toggle);
    expect(qa(matrix, tid("summary-row"))).toHaveLength(10);
  });

  it("draws both histograms with coloured bars", () => {
    const panel = new CorpusPanel(document.body);
    panel.showResult(fixtureResult(), "");
    const bars = (name: string) =>
      qa(document, `${tid(name)} rect.bar`).map((b) => [b.getAttribute("data-label"), b.getAttribute("data-count")]);
    expect(bars("histogram-matched")).toEqual([["NOUN", "2"], ["PROPN", "1"]]);
    expect(bars("histogram-max-attention")).toEqual([["VERB", "2"], ["(special)", "1"]]);
    const fill = document.querySelector(`${tid("histogram-matched")} rect.bar`)!.getAttribute("fill");
    const cell = document.querySelector(`${tid("summary-matrix")} td[data-label="NOUN"]`) as HTMLElement;
    expect(cell.style.background).toBe(hexToRgb(fill!));
    panel.setField("ent");
    expect(bars("histogram-matched")).toEqual([["(none)", "2"], ["PERSON", "1"]]);
  });

  it("says when no corpus fits the model", () => {
    const panel = new CorpusPanel(document.body);
    panel.setCorpora([], "", "No corpus for this model.");
    expect((document.querySelector(tid("corpus-note")) as HTMLElement).textContent).toContain("No corpus");
    expect((document.querySelector(".cp-query-row") as HTMLElement).hidden).toBe(true);
  });
});

describe("HeadRankingView", () => {
  it("draws layers x heads cells in the view's layer numbering and selects on click", () => {
    const picks: [number, number][] = [];
    const rels: string[] = [];
    const view = new HeadRankingView(document.body, { onSelect: (l, h) => picks.push([l, h]), onRelation: (r) => rels.push(r) });
    view.update(fixtureRanking(), "dep_head");
    const cells = qa(document, `${tid("head-ranking")} rect.hr-cell`);
    expect(cells).toHaveLength(6);
    expect(new Set(cells.map((c) => c.getAttribute("data-layer")))).toEqual(new Set(["1", "3"]));
    const best = document.querySelector('rect.hr-cell[data-layer="3"][data-head="2"]')!;
    expect(best.getAttribute("data-score")).toBe("0.9000");
    click(best);
    expect(picks).toEqual([[3, 2]]);
    expect(document.querySelector(tid("head-top-0"))!.textContent).toContain("layer 3 \u00b7 head 2");
    best.dispatchEvent(new MouseEvent("mouseenter"));
    const tip = document.querySelector(tid("head-ranking-tooltip")) as HTMLElement;
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("90.0%");
    expect(tip.textContent).toContain("90 of 100");
    // selection outline
    view.setSelection({ layer: 3, heads: [2] });
    expect(best.classList.contains("selected")).toBe(true);
    // another relation
    const sel = document.querySelector(tid("head-relation-select")) as HTMLSelectElement;
    sel.value = "prev_token";
    sel.dispatchEvent(new Event("change"));
    expect(rels).toEqual(["prev_token"]);
    expect(document.querySelector('rect.hr-cell[data-layer="1"][data-head="0"]')!.getAttribute("data-score")).toBe("1.0000");
  });
});

function hexToRgb(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
}
