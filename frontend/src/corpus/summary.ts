// The colour summary (exBERT's figure): one row per match, one column per offset around the
// matched token (-window..+window), each cell the token's text on the colour of its POS, DEP or
// entity label; a legend of the colours below. Collapsed it shows the top rows, expanded all.
// Renders into a given container; no global state.

import type { SearchMatch, SearchSummary } from "../api/types";
import { displayToken } from "../attention/view";
import { OTHER_COLOR, textColor } from "./colors";
import type { InfoTooltip } from "./infoTooltip";
import { byFrequency, FIELD_NAMES, NONE, SPECIAL, summaryCounts, tokenLabel, tokenMeta, type SummaryField } from "./labels";

/** Rows shown while collapsed. */
const COLLAPSED_ROWS = 10;

export interface SummaryData {
  summary: SearchSummary;
  matches: readonly SearchMatch[];
  field: SummaryField;
  colors: Map<string, string>;
}

export class SummaryView {
  readonly el: HTMLDivElement;
  private readonly table: HTMLTableElement;
  private readonly legend: HTMLDivElement;
  private readonly toggle: HTMLButtonElement;
  private readonly note: HTMLSpanElement;
  private expanded = false;
  private data: SummaryData | null = null;

  constructor(container: HTMLElement, private readonly tooltip: InfoTooltip) {
    const doc = container.ownerDocument;
    this.el = doc.createElement("div");
    this.el.className = "summary-view";
    const head = doc.createElement("div");
    head.className = "cp-sec-head";
    const title = doc.createElement("span");
    title.className = "cp-sec-title";
    title.textContent = "Colour summary";
    this.note = doc.createElement("span");
    this.note.className = "cp-sec-note";
    this.toggle = doc.createElement("button");
    this.toggle.type = "button";
    this.toggle.className = "small";
    this.toggle.dataset.testid = "summary-toggle";
    this.toggle.addEventListener("click", () => {
      this.expanded = !this.expanded;
      this.render();
    });
    head.append(title, this.note, this.toggle);
    const scroller = doc.createElement("div");
    scroller.className = "summary-scroll";
    this.table = doc.createElement("table");
    this.table.className = "summary-matrix";
    this.table.dataset.testid = "summary-matrix";
    scroller.append(this.table);
    this.legend = doc.createElement("div");
    this.legend.className = "color-legend";
    this.legend.dataset.testid = "summary-legend";
    this.el.append(head, scroller, this.legend);
    container.append(this.el);
    this.table.addEventListener("mouseover", (ev) => this.onOver(ev));
    this.table.addEventListener("mouseleave", () => this.tooltip.hide());
  }

  clear(): void {
    this.data = null;
    this.render();
  }

  update(data: SummaryData): void {
    this.data = data;
    this.render();
  }

  private render(): void {
    const doc = this.el.ownerDocument;
    this.tooltip.hide();
    const d = this.data;
    this.el.hidden = d === null;
    if (!d) {
      this.table.replaceChildren();
      this.legend.replaceChildren();
      return;
    }
    const rows = d.summary.rows;
    const offsets = d.summary.offsets;
    const shown = this.expanded ? rows.length : Math.min(rows.length, COLLAPSED_ROWS);
    this.table.dataset.field = d.field;
    this.table.dataset.expanded = String(this.expanded);
    this.table.dataset.rows = String(rows.length);
    this.note.textContent = `${rows.length} match${rows.length === 1 ? "" : "es"} \u00d7 offsets ${fmtOffset(offsets[0] ?? 0)}\u2026${fmtOffset(offsets[offsets.length - 1] ?? 0)}, coloured by ${FIELD_NAMES[d.field]}`;
    this.toggle.hidden = rows.length <= COLLAPSED_ROWS;
    this.toggle.textContent = this.expanded ? `Show top ${COLLAPSED_ROWS}` : `Show all ${rows.length}`;
    this.toggle.setAttribute("aria-expanded", String(this.expanded));

    const thead = doc.createElement("thead");
    const hr = doc.createElement("tr");
    const corner = doc.createElement("th");
    corner.className = "sm-rank";
    corner.textContent = "#";
    hr.append(corner);
    for (const o of offsets) {
      const th = doc.createElement("th");
      th.textContent = o === 0 ? "match" : fmtOffset(o);
      if (o === 0) th.className = "sm-zero";
      hr.append(th);
    }
    thead.append(hr);
    const tbody = doc.createElement("tbody");
    for (let r = 0; r < shown; r++) {
      const tr = doc.createElement("tr");
      tr.dataset.testid = "summary-row";
      tr.dataset.row = String(r);
      const rank = doc.createElement("th");
      rank.className = "sm-rank";
      rank.textContent = String((d.matches[r]?.rank ?? r) + 1);
      tr.append(rank);
      rows[r].forEach((c, k) => {
        const td = doc.createElement("td");
        td.className = "sm-cell";
        td.dataset.row = String(r);
        td.dataset.offset = String(offsets[k]);
        if (offsets[k] === 0) td.classList.add("sm-zero");
        const label = tokenLabel(c, d.field);
        if (c && label !== null) {
          const bg = d.colors.get(label) ?? OTHER_COLOR;
          td.dataset.label = label;
          td.style.background = bg;
          td.style.color = textColor(bg);
          td.textContent = displayToken(c.text, 12);
          if (c.special) td.classList.add("special");
          if (label === NONE) td.classList.add("none");
        } else {
          td.classList.add("empty");
        }
        tr.append(td);
      });
      tbody.append(tr);
    }
    this.table.replaceChildren(thead, tbody);

    // Legend: the labels of the summary, most frequent first (special / none last).
    const counts = summaryCounts(rows, d.field);
    const labels = byFrequency(counts).sort((a, b) => Number(isAside(a)) - Number(isAside(b)));
    this.legend.dataset.field = d.field;
    this.legend.replaceChildren(
      ...labels.map((label) => {
        const item = doc.createElement("span");
        item.className = "lg-item";
        item.dataset.label = label;
        const sw = doc.createElement("i");
        sw.style.background = d.colors.get(label) ?? OTHER_COLOR;
        const name = doc.createElement("span");
        name.textContent = label;
        const n = doc.createElement("span");
        n.className = "lg-count";
        n.textContent = String(counts.get(label));
        item.append(sw, name, n);
        return item;
      }),
    );
  }

  private onOver(ev: Event): void {
    const td = (ev.target as Element | null)?.closest?.("td.sm-cell") as HTMLElement | null;
    const d = this.data;
    if (!td || !d || td.classList.contains("empty")) {
      this.tooltip.hide();
      return;
    }
    const r = Number(td.dataset.row);
    const k = d.summary.offsets.indexOf(Number(td.dataset.offset));
    const cell = d.summary.rows[r]?.[k];
    if (!cell) return;
    const m = d.matches[r];
    const full = m?.tokens[cell.position];
    if (!m || !full) return; // cells are made from the match's own tokens
    const rows = tokenMeta(full, m.tokens);
    const off = cell.offset === 0 ? "the match" : `offset ${fmtOffset(cell.offset)}`;
    this.tooltip.show(cell.text, rows, td, `match #${m.rank + 1} \u00b7 ${off}`);
  }
}

function isAside(label: string): boolean {
  return label === SPECIAL || label === NONE;
}

function fmtOffset(o: number): string {
  return o > 0 ? `+${o}` : o < 0 ? `\u2212${-o}` : "0";
}
