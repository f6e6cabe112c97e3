// A horizontal D3 bar chart of label counts (POS / DEP / entity of the matched tokens, or of the
// tokens they attend to most). Bars are coloured like the colour summary. Renders into a given
// container; no global state.

import { max, scaleLinear, select } from "d3";
import { OTHER_COLOR } from "./colors";
import type { Bar } from "./labels";

const BAR_H = 17;
const BAR_GAP = 5;
const LABEL_W = 92;
const VALUE_W = 44;
const TOP = 4;

export interface HistogramData {
  bars: readonly Bar[];
  colors: Map<string, string>;
  /** Sub-title (what is counted). */
  note: string;
  /** Total of the counts (for the share shown in each bar's title). */
  total?: number;
  /** Shown instead of the bars when there is nothing to count. */
  empty?: string;
  /** A remark under the bars. */
  footnote?: string;
}

export class HistogramView {
  readonly el: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLSpanElement;
  private readonly empty: HTMLDivElement;
  private readonly foot: HTMLDivElement;
  private data: HistogramData | null = null;

  constructor(container: HTMLElement, testid: string, title: string) {
    const doc = container.ownerDocument;
    this.el = doc.createElement("div");
    this.el.className = "histogram";
    this.el.dataset.testid = testid;
    const head = doc.createElement("div");
    head.className = "cp-sec-head";
    const t = doc.createElement("span");
    t.className = "cp-sec-title";
    t.textContent = title;
    this.note = doc.createElement("span");
    this.note.className = "cp-sec-note";
    head.append(t, this.note);
    this.svg = doc.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.svg.classList.add("histogram-svg");
    this.empty = doc.createElement("div");
    this.empty.className = "cp-empty";
    this.foot = doc.createElement("div");
    this.foot.className = "hist-foot";
    this.el.append(head, this.svg, this.empty, this.foot);
    container.append(this.el);
  }

  clear(): void {
    this.data = null;
    this.el.hidden = true;
  }

  update(data: HistogramData): void {
    this.data = data;
    this.el.hidden = false;
    this.render();
  }

  render(): void {
    const d = this.data;
    if (!d) return;
    this.note.textContent = d.note;
    const bars = d.bars;
    this.empty.textContent = bars.length ? "" : (d.empty ?? "nothing to count");
    this.empty.hidden = bars.length > 0;
    this.foot.textContent = d.footnote ?? "";
    this.foot.hidden = !d.footnote;
    this.svg.style.display = bars.length ? "" : "none";
    this.el.dataset.bars = String(bars.length);
    const width = Math.max(240, Math.floor(this.el.clientWidth || 320));
    const height = TOP + bars.length * (BAR_H + BAR_GAP);
    const total = d.total ?? bars.reduce((s, b) => s + b.count, 0);
    const x = scaleLinear()
      .domain([0, max(bars, (b) => b.count) ?? 1])
      .range([0, Math.max(20, width - LABEL_W - VALUE_W)]);
    const svg = select(this.svg).attr("width", width).attr("height", height).attr("viewBox", `0 0 ${width} ${height}`);
    svg.attr("role", "img").attr("aria-label", `${d.note}: ${bars.map((b) => `${b.label} ${b.count}`).join(", ")}`);
    const rows = svg
      .selectAll<SVGGElement, Bar>("g.bar-row")
      .data(bars, (b) => b.label)
      .join((enter) => {
        const g = enter.append("g").attr("class", "bar-row");
        g.append("title");
        g.append("text").attr("class", "bar-label");
        g.append("rect").attr("class", "bar").attr("rx", 3);
        g.append("text").attr("class", "bar-value");
        return g;
      });
    rows
      .attr("transform", (_, i) => `translate(0,${TOP + i * (BAR_H + BAR_GAP)})`)
      .attr("data-label", (b) => b.label)
      .attr("data-count", (b) => b.count);
    rows.select("title").text((b) => `${b.label}: ${b.count} of ${total} (${pct(b.count, total)})`);
    rows
      .select("text.bar-label")
      .attr("x", LABEL_W - 8)
      .attr("y", BAR_H / 2)
      .attr("dy", "0.35em")
      .attr("text-anchor", "end")
      .text((b) => (b.label.length > 13 ? b.label.slice(0, 12) + "\u2026" : b.label));
    rows
      .select("rect.bar")
      .attr("x", LABEL_W)
      .attr("y", 0)
      .attr("height", BAR_H)
      .attr("width", (b) => Math.max(2, x(b.count)))
      .attr("fill", (b) => d.colors.get(b.label) ?? OTHER_COLOR)
      .attr("data-label", (b) => b.label)
      .attr("data-count", (b) => b.count);
    rows
      .select("text.bar-value")
      .attr("x", (b) => LABEL_W + Math.max(2, x(b.count)) + 6)
      .attr("y", BAR_H / 2)
      .attr("dy", "0.35em")
      .text((b) => String(b.count));
  }
}

function pct(n: number, total: number): string {
  return total > 0 ? `${Math.round((100 * n) / total)}%` : "0%";
}
