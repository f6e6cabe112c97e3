// Head discovery: a layers x heads heatmap of how often each head's max attention falls on a
// linguistic relation over the corpus (GET /api/corpora/{name}/heads), for one relation at a
// time. Rows are layers (0-based, the attention view's numbering, as the API sends them), columns heads; a cell's tooltip gives
// the score; clicking a cell asks the host to show that layer and head. Renders into a given
// container; no global state.

import { interpolateBlues, select } from "d3";
import type { HeadRanking } from "../api/types";
import { h, svg } from "../dom";
import { InfoTooltip } from "./infoTooltip";
import { LAYER_NOTE } from "./search";

export interface HeadRankingEvents {
  /** A cell was clicked: the layer (0-based, the attention view's) and the head. */
  onSelect?(layer: number, head: number): void;
  onRelation?(relation: string): void;
}

export interface HeadRankingSelection {
  /** The attention view's layer. */
  layer: number;
  /** Selected heads (null = all). */
  heads: readonly number[] | null;
}

const RELATION_NAMES: Record<string, string> = {
  dep_head: "dependency head",
  prev_token: "previous token",
  next_token: "next token",
  same_entity: "same entity",
  self: "the token itself",
};

const MARGIN = { top: 22, right: 8, bottom: 8, left: 58 };
const TOP_SHOWN = 5;

interface Cell {
  layer: number; // 0-based, the attention view's layer
  row: number;
  head: number;
  score: number;
  count: number | null;
}

function relationName(key: string): string {
  return RELATION_NAMES[key] ?? key.replace(/_/g, " ");
}

export class HeadRankingView {
  readonly el: HTMLDivElement;
  private readonly select: HTMLSelectElement;
  private readonly desc: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private readonly scale: HTMLDivElement;
  private readonly top: HTMLDivElement;
  private readonly message: HTMLDivElement;
  private readonly tooltip: InfoTooltip;
  private ranking: HeadRanking | null = null;
  private relation = "dep_head";
  private selection: HeadRankingSelection | null = null;

  constructor(container: HTMLElement, private readonly events: HeadRankingEvents = {}) {
    this.select = h("select", { "data-testid": "head-relation-select", "aria-label": "Relation" });
    this.select.addEventListener("change", () => {
      this.relation = this.select.value;
      this.render();
      this.events.onRelation?.(this.relation);
    });
    const head = h(
      "div",
      { class: "cp-sec-head" },
      h("span", { class: "cp-sec-title" }, "Head discovery"),
      h("label", { class: "cp-inline" }, "max attention on ", this.select),
    );
    this.desc = h("div", { class: "hr-desc" });
    this.message = h("div", { class: "cp-empty", hidden: true });
    this.svg = svg("svg", { class: "hr-svg" });
    this.scale = h("div", { class: "hr-scale" });
    this.top = h("div", { class: "hr-top" });
    const body = h("div", { class: "hr-body" }, this.svg, h("div", { class: "hr-side" }, this.scale, this.top));
    this.el = h("div", { class: "head-ranking", "data-testid": "head-ranking" }, head, this.desc, this.message, body);
    container.append(this.el);
    this.tooltip = new InfoTooltip(container, "head-ranking-tooltip");
    this.svg.addEventListener("mouseleave", () => this.tooltip.hide());
  }

  /** A message instead of the heatmap (loading, error, no corpus). */
  showMessage(text: string, kind: "info" | "error" | "busy" = "info"): void {
    this.ranking = null;
    this.message.hidden = false;
    this.message.className = `cp-empty ${kind === "error" ? "cp-error" : ""}`;
    this.message.dataset.testid = kind === "error" ? "head-ranking-error" : "head-ranking-message";
    this.message.replaceChildren();
    if (kind === "busy") this.message.append(h("span", { class: "spinner small" }), " ");
    this.message.append(text);
    this.svg.replaceChildren();
    this.svg.style.display = "none";
    this.scale.replaceChildren();
    this.top.replaceChildren();
    this.desc.textContent = "";
    this.select.disabled = true;
  }

  update(ranking: HeadRanking, relation: string): void {
    this.ranking = ranking;
    const names = Object.keys(ranking.relations);
    this.relation = names.includes(relation) ? relation : (names[0] ?? relation);
    this.select.replaceChildren(...names.map((n) => h("option", { value: n }, relationName(n))));
    this.select.value = this.relation;
    this.select.disabled = names.length === 0;
    this.message.hidden = true;
    this.render();
  }

  /** The heads shown in the attention view (outlined in the heatmap). */
  setSelection(s: HeadRankingSelection | null): void {
    this.selection = s;
    this.paintSelection();
  }

  private cells(): Cell[] {
    const r = this.ranking;
    const rel = r?.relations[this.relation];
    if (!r || !rel) return [];
    const out: Cell[] = [];
    r.layers.forEach((layer, k) => {
      const row = rel.scores[k] ?? [];
      for (let head = 0; head < r.heads; head++) {
        out.push({ layer, row: k, head, score: row[head] ?? 0, count: rel.counts?.[k]?.[head] ?? null });
      }
    });
    return out;
  }

  private render(): void {
    const r = this.ranking;
    if (!r) return;
    const rel = r.relations[this.relation];
    if (!rel) {
      this.showMessage("This corpus has no head ranking for that relation.");
      return;
    }
    this.desc.textContent =
      `Share of tokens whose strongest attention (per head) goes to ${rel.description ?? relationName(this.relation)}` +
      (rel.eligible !== undefined ? ` \u00b7 ${rel.eligible.toLocaleString("en")} tokens have one` : "") +
      ". Click a cell to show that head.";
    const cells = this.cells();
    const nL = r.layers.length;
    const H = r.heads;
    const avail = Math.max(200, (this.el.clientWidth || 520) - 190);
    const cw = Math.max(12, Math.min(30, Math.floor((avail - MARGIN.left - MARGIN.right) / Math.max(1, H))));
    const ch = Math.max(9, Math.min(24, Math.floor(300 / Math.max(1, nL))));
    const width = MARGIN.left + H * cw + MARGIN.right;
    const height = MARGIN.top + nL * ch + MARGIN.bottom;
    const vmax = Math.max(1e-9, ...cells.map((c) => c.score));
    const color = (v: number) => interpolateBlues(0.04 + 0.96 * Math.sqrt(Math.max(0, v) / vmax));
    this.svg.style.display = "";
    const chart = select(this.svg)
      .attr("width", width)
      .attr("height", height)
      .attr("viewBox", `0 0 ${width} ${height}`)
      .attr("role", "img")
      .attr("aria-label", `Heads ranked by max attention on the ${relationName(this.relation)}`);
    chart.selectAll("*").remove();
    // Axes: head numbers on top, layer numbers on the left, with their titles.
    const hx = chart.append("g").attr("class", "hr-axis hr-x");
    const step = cw < 16 ? 2 : 1;
    for (let head = 0; head < H; head += step) {
      hx.append("text")
        .attr("x", MARGIN.left + head * cw + cw / 2)
        .attr("y", MARGIN.top - 6)
        .attr("text-anchor", "middle")
        .text(String(head));
    }
    chart
      .append("text")
      .attr("class", "hr-axis-title")
      .attr("x", 2)
      .attr("y", MARGIN.top - 6)
      .text("head \u2192");
    const ly = chart.append("g").attr("class", "hr-axis hr-y");
    const lstep = ch < 11 ? 2 : 1;
    r.layers.forEach((layer, k) => {
      if (k % lstep) return;
      ly.append("text")
        .attr("class", "hr-layer-label")
        .attr("data-layer", layer)
        .attr("x", MARGIN.left - 6)
        .attr("y", MARGIN.top + k * ch + ch / 2)
        .attr("dy", "0.35em")
        .attr("text-anchor", "end")
        .text(String(layer));
    });
    chart
      .append("text")
      .attr("class", "hr-axis-title")
      .attr("transform", `translate(12,${MARGIN.top + (nL * ch) / 2}) rotate(-90)`)
      .attr("text-anchor", "middle")
      .text("layer")
      .append("title")
      .text(LAYER_NOTE);
    chart
      .append("g")
      .attr("class", "hr-cells")
      .selectAll("rect")
      .data(cells)
      .join("rect")
      .attr("class", "hr-cell")
      .attr("data-testid", (c) => `head-cell-${c.layer}-${c.head}`)
      .attr("data-layer", (c) => c.layer)
      .attr("data-head", (c) => c.head)
      .attr("data-score", (c) => c.score.toFixed(4))
      .attr("x", (c) => MARGIN.left + c.head * cw + 1)
      .attr("y", (c) => MARGIN.top + c.row * ch + 1)
      .attr("width", cw - 2)
      .attr("height", ch - 2)
      .attr("rx", 2)
      .attr("fill", (c) => color(c.score))
      .on("mouseenter", (ev: MouseEvent, c) => this.showTip(ev.currentTarget as Element, c, rel.eligible))
      .on("click", (_ev, c) => this.events.onSelect?.(c.layer, c.head));
    this.paintSelection();

    // Colour scale and the top heads.
    const stops = Array.from({ length: 6 }, (_, k) => `${color((vmax * (k / 5) ** 2))} ${k * 20}%`);
    const bar = h("div", { class: "hr-gradient" });
    bar.style.background = `linear-gradient(90deg, ${stops.join(", ")})`;
    this.scale.replaceChildren(bar, h("div", { class: "hr-ticks" }, h("span", {}, "0%"), h("span", {}, `${(vmax * 100).toFixed(0)}%`)));
    const best = [...cells].sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head).slice(0, TOP_SHOWN);
    const chip = (c: Cell, k: number) => {
      const sw = h("i");
      sw.style.background = color(c.score);
      const b = h(
        "button",
        { type: "button", class: "hr-chip", "data-testid": `head-top-${k}`, "data-layer": c.layer, "data-head": c.head },
        sw,
        h("span", {}, `layer ${c.layer} \u00b7 head ${c.head}`),
        h("span", { class: "hr-chip-score" }, `${(c.score * 100).toFixed(1)}%`),
      );
      b.addEventListener("click", () => this.events.onSelect?.(c.layer, c.head));
      return b;
    };
    this.top.replaceChildren(h("div", { class: "hr-top-title" }, "Top heads"), ...best.map(chip));
  }

  private paintSelection(): void {
    const s = this.selection;
    select(this.svg)
      .selectAll<SVGRectElement, Cell>("rect.hr-cell")
      .classed("selected", (c) => s !== null && s.heads !== null && c.layer === s.layer && s.heads.includes(c.head))
      .classed("in-layer", (c) => s !== null && c.layer === s.layer);
    select(this.svg)
      .selectAll<SVGTextElement, unknown>("text.hr-layer-label")
      .classed("current", function () {
        return s !== null && Number((this as SVGTextElement).getAttribute("data-layer")) === s.layer;
      });
  }

  private showTip(anchor: Element, c: Cell, eligible: number | undefined): void {
    const rows: [string, string][] = [[relationName(this.relation), `${(c.score * 100).toFixed(1)}%`]];
    if (c.count !== null && eligible !== undefined) rows.push(["tokens", `${c.count.toLocaleString("en")} of ${eligible.toLocaleString("en")}`]);
    this.tooltip.show(`Layer ${c.layer} \u00b7 head ${c.head}`, rows, anchor, "click to show this head");
  }
}
