// The head detectors (data-testid `head-scores`): a layers x heads heatmap of one detector's
// scores (the mean attention mass a head puts on its pattern: previous token, induction,
// duplicate token, first token, self, local), a picker (`head-detector-select`, store
// `lens.detector`), and the "Run induction probe" button (`induction-probe-button`) when the host
// offers the probe. Cells: `rect.hd-cell` with data-layer, data-head, data-value ("" where the
// pattern applies to no token); a click selects that layer and head.

import { DEFAULT_PROBE_LENGTH } from "../api/limits";
import { h, svg } from "../dom";
import { probLegend } from "./logitLens";
import { probColor } from "./maths";
import type { HeadScoresData } from "./source";

const CELL = 18;
const LEFT = 30;
const TOP = 18;

export interface HeadScoresEvents {
  select(layer: number, head: number): void;
  detector(name: string): void;
  /** Absent: no probe button. */
  probe?(): Promise<void>;
}

/** What each detector measures (the picker's titles). */
export const DETECTOR_TITLES: Record<string, string> = {
  previous_token: "attention from each token to the one before it",
  induction: "from a token in a repeated sequence's second copy to the token after its first occurrence (Olsson et al. 2022)",
  duplicate_token: "from a token to its earlier occurrences",
  first_token: "attention on the first token (the attention sink)",
  self: "attention of each token to itself",
  local: "attention within two tokens either side",
};

/** The top `n` (layer, head, score) of a detector, best first (null scores left out). */
export function topHeads(d: HeadScoresData, name: string, n = 3): { layer: number; head: number; score: number }[] {
  const out: { layer: number; head: number; score: number }[] = [];
  (d.scores[name] ?? []).forEach((row, l) => row.forEach((v, hd) => v !== null && Number.isFinite(v) && out.push({ layer: l, head: hd, score: v })));
  return out.sort((a, b) => b.score - a.score).slice(0, n);
}

export class HeadScoresView {
  readonly el: HTMLDivElement;
  private readonly select: HTMLSelectElement;
  private readonly grid: SVGSVGElement;
  private readonly caption: HTMLDivElement;
  private readonly status: HTMLSpanElement;
  private data: HeadScoresData | null = null;
  private shown = "";

  constructor(private readonly events: HeadScoresEvents) {
    this.select = h("select", { "data-testid": "head-detector-select", "aria-label": "Detector" });
    this.select.addEventListener("change", () => this.events.detector(this.select.value));
    this.grid = svg("svg", { class: "hd-grid" });
    this.grid.addEventListener("click", (ev) => {
      const r = (ev.target as Element).closest("rect.hd-cell") as SVGRectElement | null;
      if (r) this.events.select(Number(r.dataset.layer), Number(r.dataset.head));
    });
    this.caption = h("div", { class: "lens-caption" });
    this.status = h("span", { class: "lens-status" });
    const bar: HTMLElement[] = [h("label", { class: "ctl" }, h("span", { class: "ctl-name" }, "Detector"), this.select)];
    const probe = events.probe;
    if (probe) {
      const b = h(
        "button",
        {
          type: "button",
          "data-testid": "induction-probe-button",
          title: `Analyse ${DEFAULT_PROBE_LENGTH} random tokens repeated twice: induction heads light up on the second copy`,
        },
        "Run induction probe",
      );
      b.addEventListener("click", () => {
        b.disabled = true;
        this.status.textContent = "running the induction probe\u2026";
        probe().then(
          () => (this.status.textContent = ""),
          (err: unknown) => (this.status.textContent = `The probe failed: ${(err as Error)?.message ?? err}`),
        ).finally(() => (b.disabled = false));
      });
      bar.push(b);
    }
    bar.push(this.status);
    bar.push(probLegend(true));
    this.el = h("div", { class: "head-scores", "data-testid": "head-scores" }, h("div", { class: "hd-bar" }, ...bar), this.caption, this.grid);
  }

  loading(): void {
    this.data = null;
    this.el.dataset.state = "loading";
    this.grid.replaceChildren();
    this.caption.replaceChildren(h("span", { class: "spinner small" }), " Scoring the heads\u2026");
  }

  message(text: string): void {
    this.data = null;
    this.el.dataset.state = "message";
    this.grid.replaceChildren();
    this.caption.textContent = text;
  }

  /** Show detector `name` of `d` (the first one when `d` has no such detector). */
  show(d: HeadScoresData, name: string, layer: number, heads: readonly number[] | null): void {
    const det = d.names.includes(name) ? name : (d.names[0] ?? "");
    if (d !== this.data || det !== this.shown) {
      this.data = d;
      this.shown = det;
      this.select.replaceChildren(...d.names.map((n) => h("option", { value: n, title: DETECTOR_TITLES[n] ?? "" }, n.replace(/_/g, " "))));
      this.select.value = det;
      this.draw(d, det);
    }
    for (const r of this.grid.querySelectorAll<SVGRectElement>("rect.hd-cell")) {
      const on = Number(r.dataset.layer) === layer && (heads === null || heads.includes(Number(r.dataset.head)));
      r.classList.toggle("selected", on);
    }
  }

  private draw(d: HeadScoresData, name: string): void {
    const rows = d.scores[name] ?? [];
    const W = LEFT + d.heads * CELL + 2;
    const H = TOP + d.layers * CELL + 2;
    Object.entries({ width: W, height: H, viewBox: `0 0 ${W} ${H}` }).forEach(([k, v]) => this.grid.setAttribute(k, String(v)));
    const out: SVGElement[] = [];
    for (let hd = 0; hd < d.heads; hd++) {
      const t = svg("text", { class: "hd-axis", x: LEFT + hd * CELL + CELL / 2, y: TOP - 5, "text-anchor": "middle" });
      t.textContent = String(hd);
      out.push(t);
    }
    for (let l = 0; l < d.layers; l++) {
      const t = svg("text", { class: "hd-axis", x: LEFT - 5, y: TOP + l * CELL + CELL / 2 + 4, "text-anchor": "end" });
      t.textContent = String(l);
      out.push(t);
      for (let hd = 0; hd < d.heads; hd++) {
        const v = rows[l]?.[hd] ?? null;
        const r = svg("rect", {
          class: "hd-cell",
          x: LEFT + hd * CELL,
          y: TOP + l * CELL,
          width: CELL - 1,
          height: CELL - 1,
          fill: probColor(v),
          "data-layer": l,
          "data-head": hd,
          "data-value": v === null ? "" : v.toFixed(4),
        });
        const title = svg("title", {});
        title.textContent = `layer ${l}, head ${hd}: ${v === null ? "no token to score" : v.toFixed(3)}`;
        r.appendChild(title);
        out.push(r);
      }
    }
    this.grid.replaceChildren(...out);
    const top = topHeads(d, name)
      .map((t) => `${t.layer}.${t.head} (${t.score.toFixed(2)})`)
      .join(", ");
    this.caption.textContent =
      `${name.replace(/_/g, " ")}: ${DETECTOR_TITLES[name] ?? ""}. Rows: layers; columns: heads; colour: ` +
      `score 0..1 (grey: the pattern applies to no token). Click a cell to open that head.` +
      (top ? ` Top: ${top}.` : "");
    this.el.dataset.state = "ready";
    this.el.dataset.detector = name;
  }
}
