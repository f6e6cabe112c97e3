// Head discovery: a layers x heads heatmap of how often each head's max attention falls on a
// linguistic relation over the corpus (GET /api/corpora/{name}/heads), for one relation at a
// time. Rows are the attention view's layers (block - 1), columns heads; a cell's tooltip gives
// the score; clicking a cell asks the host to show that layer and head. Renders into a given
// container; no global state.

import { interpolateBlues, select } from "d3";
import type { HeadRanking } from "../corpus";
import { InfoTooltip } from "./infoTooltip";

export interface HeadRankingEvents {
  /** A cell was clicked: the attention view's layer (block - 1) and the head. */
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
  layer: number; // view layer
  block: number;
  head: number;
  score: number;
  count: number | null;
}

export function relationName(key: string): string {
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
    const doc = container.ownerDocument;
    this.el = doc.createElement("div");
    this.el.className = "head-ranking";
    this.el.dataset.testid = "head-ranking";
    const head = doc.createElement("div");
    head.className = "cp-sec-head";
    const title = doc.createElement("span");
    title.className = "cp-sec-title";
    title.textContent = "Head discovery";
    const label = doc.createElement("label");
    label.className = "cp-inline";
    label.append("max attention on ");
    this.select = doc.createElement("select");
    this.select.dataset.testid = "head-relation-select";
    this.select.setAttribute("aria-label", "Relation");
    this.select.addEventListener("change", () => {
      this.relation = this.select.value;
      this.render();
      this.events.onRelation?.(this.relation);
    });
    label.append(this.select);
    head.append(title, label);
    this.desc = doc.createElement("div");
    this.desc.className = "hr-desc";
    this.message = doc.createElement("div");
    this.message.className = "cp-empty";
    this.message.hidden = true;
    const body = doc.createElement("div");
    body.className = "hr-body";
    this.svg = doc.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.svg.classList.add("hr-svg");
    const side = doc.createElement("div");
    side.className = "hr-side";
    this.scale = doc.createElement("div");
    this.scale.className = "hr-scale";
    this.top = doc.createElement("div");
    this.top.className = "hr-top";
    side.append(this.scale, this.top);
    body.append(this.svg, side);
    this.el.append(head, this.desc, this.message, body);
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
    if (kind === "busy") {
      const sp = this.el.ownerDocument.createElement("span");
      sp.className = "spinner small";
      this.message.append(sp, " ");
    }
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
    const doc = this.el.ownerDocument;
    this.select.replaceChildren(
      ...names.map((n) => {
        const o = doc.createElement("option");
        o.value = n;
        o.textContent = relationName(n);
        return o;
      }),
    );
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

  get currentRelation(): string {
    return this.relation;
  }

  private cells(): Cell[] {
    const r = this.ranking;
    const rel = r?.relations[this.relation];
    if (!r || !rel) return [];
    const out: Cell[] = [];
    r.layers.forEach((block, k) => {
      const row = rel.scores[k] ?? [];
      for (let h = 0; h < r.heads; h++) {
        out.push({ layer: block - 1, block, head: h, score: row[h] ?? 0, count: rel.counts?.[k]?.[h] ?? null });
      }
    });
    return out;
  }

  private render(): void {
    const r = this.ranking;
    if (!r) return;
    const rel = r.relations[this.relation];
    const doc = this.el.ownerDocument;
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
    const svg = select(this.svg)
      .attr("width", width)
      .attr("height", height)
      .attr("viewBox", `0 0 ${width} ${height}`)
      .attr("role", "img")
      .attr("aria-label", `Heads ranked by max attention on the ${relationName(this.relation)}`);
    svg.selectAll("*").remove();
    // Axes: head numbers on top, layer numbers on the left, with their titles.
    const hx = svg.append("g").attr("class", "hr-axis hr-x");
    const step = cw < 16 ? 2 : 1;
    for (let h = 0; h < H; h += step) {
      hx.append("text")
        .attr("x", MARGIN.left + h * cw + cw / 2)
        .attr("y", MARGIN.top - 6)
        .attr("text-anchor", "middle")
        .text(String(h));
    }
    svg
      .append("text")
      .attr("class", "hr-axis-title")
      .attr("x", 2)
      .attr("y", MARGIN.top - 6)
      .text("head \u2192");
    const ly = svg.append("g").attr("class", "hr-axis hr-y");
    const lstep = ch < 11 ? 2 : 1;
    r.layers.forEach((block, k) => {
      if (k % lstep) return;
      ly.append("text")
        .attr("class", "hr-layer-label")
        .attr("data-layer", block - 1)
        .attr("x", MARGIN.left - 6)
        .attr("y", MARGIN.top + k * ch + ch / 2)
        .attr("dy", "0.35em")
        .attr("text-anchor", "end")
        .text(String(block - 1));
    });
    svg
      .append("text")
      .attr("class", "hr-axis-title")
      .attr("transform", `translate(12,${MARGIN.top + (nL * ch) / 2}) rotate(-90)`)
      .attr("text-anchor", "middle")
      .text("layer");
    const index = new Map(r.layers.map((b, k) => [b, k]));
    svg
      .append("g")
      .attr("class", "hr-cells")
      .selectAll("rect")
      .data(cells)
      .join("rect")
      .attr("class", "hr-cell")
      .attr("data-testid", (c) => `head-cell-${c.layer}-${c.head}`)
      .attr("data-layer", (c) => c.layer)
      .attr("data-block", (c) => c.block)
      .attr("data-head", (c) => c.head)
      .attr("data-score", (c) => c.score.toFixed(4))
      .attr("x", (c) => MARGIN.left + c.head * cw + 1)
      .attr("y", (c) => MARGIN.top + index.get(c.block)! * ch + 1)
      .attr("width", cw - 2)
      .attr("height", ch - 2)
      .attr("rx", 2)
      .attr("fill", (c) => color(c.score))
      .on("mouseenter", (ev: MouseEvent, c) => this.showTip(ev.currentTarget as Element, c, rel.eligible))
      .on("click", (_ev, c) => this.events.onSelect?.(c.layer, c.head));
    this.paintSelection();

    // Colour scale and the top heads.
    this.scale.replaceChildren();
    const bar = doc.createElement("div");
    bar.className = "hr-gradient";
    const stops = Array.from({ length: 6 }, (_, k) => `${color((vmax * (k / 5) ** 2))} ${k * 20}%`);
    bar.style.background = `linear-gradient(90deg, ${stops.join(", ")})`;
    const ticks = doc.createElement("div");
    ticks.className = "hr-ticks";
    const lo = doc.createElement("span");
    lo.textContent = "0%";
    const hi = doc.createElement("span");
    hi.textContent = `${(vmax * 100).toFixed(0)}%`;
    ticks.append(lo, hi);
    this.scale.append(bar, ticks);

    const best = [...cells].sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head).slice(0, TOP_SHOWN);
    const cap = doc.createElement("div");
    cap.className = "hr-top-title";
    cap.textContent = "Top heads";
    this.top.replaceChildren(
      cap,
      ...best.map((c, k) => {
        const b = doc.createElement("button");
        b.type = "button";
        b.className = "hr-chip";
        b.dataset.testid = `head-top-${k}`;
        b.dataset.layer = String(c.layer);
        b.dataset.head = String(c.head);
        const sw = doc.createElement("i");
        sw.style.background = color(c.score);
        const name = doc.createElement("span");
        name.textContent = `layer ${c.layer} \u00b7 head ${c.head}`;
        const v = doc.createElement("span");
        v.className = "hr-chip-score";
        v.textContent = `${(c.score * 100).toFixed(1)}%`;
        b.append(sw, name, v);
        b.addEventListener("click", () => this.events.onSelect?.(c.layer, c.head));
        return b;
      }),
    );
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
    rows.push(["block", String(c.block)]);
    this.tooltip.show(`Layer ${c.layer} \u00b7 head ${c.head}`, rows, anchor, "click to show this head");
  }
}
