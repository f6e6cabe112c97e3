// The figures of one search result, coloured alike: the colour summary, the histograms of the
// matched tokens and of their max-attention tokens, and the switch of their field (POS / DEP /
// entity). Used by the app's corpus panel and by the notebook widget.

import type { SearchResult } from "../api/types";
import { h } from "../dom";
import { resultColors } from "./colors";
import { HistogramView } from "./histogram";
import { InfoTooltip } from "./infoTooltip";
import { FIELD_NAMES, histogramBars, histogramCounts, SPECIAL, SUMMARY_FIELDS, type SummaryField } from "./labels";
import { compactList, layerName } from "./search";
import { SummaryView } from "./summary";

export interface SearchFiguresParts {
  /** Where the POS / DEP / Entity switch goes. */
  switchIn: HTMLElement;
  summaryIn: HTMLElement;
  matchedIn: HTMLElement;
  maxIn: HTMLElement;
}

export class SearchFigures {
  private readonly buttons = new Map<SummaryField, HTMLButtonElement>();
  private readonly summary: SummaryView;
  private readonly histMatched: HistogramView;
  private readonly histMax: HistogramView;
  private current: SummaryField = "pos";
  private result: SearchResult | null = null;

  constructor(parts: SearchFiguresParts, private readonly events: { onField?(f: SummaryField): void } = {}, tooltip?: InfoTooltip) {
    const label = h("span", { class: "ctl-name" }, "Colour by");
    const switchEl = h("div", { class: "segmented", role: "group", "aria-label": "Colour by", "data-testid": "summary-field" });
    for (const f of SUMMARY_FIELDS) {
      const b = h(
        "button",
        {
          type: "button",
          "data-testid": `summary-field-${f}`,
          "data-value": f,
          title: `Colour the summary and the histograms by ${FIELD_NAMES[f]}`,
        },
        FIELD_NAMES[f],
      );
      b.addEventListener("click", () => {
        if (this.current === f) return;
        this.setField(f);
        this.events.onField?.(f);
      });
      this.buttons.set(f, b);
      switchEl.append(b);
    }
    parts.switchIn.classList.add("cp-switch");
    parts.switchIn.append(label, switchEl);
    const tip = tooltip ?? new InfoTooltip(parts.summaryIn, "token-meta-tooltip");
    this.summary = new SummaryView(parts.summaryIn, tip);
    this.histMatched = new HistogramView(parts.matchedIn, "histogram-matched", "Matched tokens");
    this.histMax = new HistogramView(parts.maxIn, "histogram-max-attention", "Their max-attention tokens");
    this.markField();
    this.clear();
  }

  setField(f: SummaryField): void {
    if (f === this.current) return;
    this.current = f;
    this.markField();
    this.paint();
  }

  private markField(): void {
    for (const [k, b] of this.buttons) {
      b.classList.toggle("on", k === this.current);
      b.setAttribute("aria-pressed", String(k === this.current));
    }
  }

  show(result: SearchResult): void {
    this.result = result;
    this.paint();
  }

  clear(): void {
    this.result = null;
    this.summary.clear();
    this.histMatched.clear();
    this.histMax.clear();
  }

  private paint(): void {
    const r = this.result;
    if (!r) return;
    const f = this.current;
    const matches = r.matches ?? [];
    const colors = resultColors({ matches, summary: r.summary ?? { window: 0, offsets: [], rows: [] } }, f);
    if (r.summary?.rows) this.summary.update({ summary: r.summary, matches, field: f, colors });
    else this.summary.clear();
    const n = matches.length;
    const name = FIELD_NAMES[f];
    this.histMatched.update({
      bars: histogramBars(histogramCounts(matches, "matched", f)),
      colors,
      total: n,
      note: `${name} of the ${n} matched token${n === 1 ? "" : "s"}`,
      empty: "no matches",
    });
    const withMax = matches.filter((m) => m.max_attention).length;
    const heads = r.attention_heads;
    const which = heads && heads.length && r.by === "context" ? `heads ${compactList(heads)}` : "all heads";
    const maxCounts = histogramCounts(matches, "max_attention", f);
    const special = maxCounts.get(SPECIAL) ?? 0;
    this.histMax.update({
      bars: histogramBars(maxCounts),
      colors,
      total: withMax,
      note: `${name} of the token each match attends to most (${layerName(r.layer)}, ${which}${r.special_attention ? "" : ", special tokens skipped"})`,
      empty: r.max_attention_unavailable ?? "no attention stored for this layer",
      footnote:
        withMax && special / withMax >= 0.5
          ? `${special} of ${withMax} matches attend most to a special token ([CLS], [SEP], \u2026), where many heads park their attention.`
          : undefined,
    });
  }
}
