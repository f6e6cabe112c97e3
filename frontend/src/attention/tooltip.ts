// The prediction tooltip: a token's top-k predictions ("at this position" for bidirectional
// models, "next token" for autoregressive ones), or the reason why there are none.

import type { ModelKind, Prediction, TokenInfo } from "../api/types";
import { rectOf, visibleBounds, type Rect } from "./bounds";
import { displayToken } from "./view";

export interface TooltipContent {
  index: number;
  token: TokenInfo;
  kind: ModelKind;
  predictions: readonly Prediction[] | null;
  unavailable: string | null;
  pinned: boolean;
}

export type { Rect } from "./bounds";
export { visibleBounds } from "./bounds";

const MARGIN = 8;

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Where a tooltip of `size` goes (its top-left corner, viewport coordinates): beside the view
 * (`column`) at the row of `anchor`, else below the rects to `avoid` (the head thumbnails), else
 * left of the view, else beside the token itself (over the edges); always inside `bounds` (with a
 * margin), preferring a place that covers neither `avoid` nor the token.
 */
export function placeTooltip(size: { w: number; h: number }, anchor: Rect, column: Rect, bounds: Rect, avoid: readonly Rect[]): { x: number; y: number } {
  const m = MARGIN;
  const rowY = (anchor.top + anchor.bottom) / 2 - 24;
  const tries: { x: number; y: number }[] = [
    { x: column.right + m, y: rowY },
    ...avoid.map((a) => ({ x: column.right + m, y: a.bottom + m })),
    { x: column.left - size.w - m, y: rowY },
    { x: anchor.right + m, y: rowY },
    { x: anchor.left - size.w - m, y: rowY },
  ];
  const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(v, Math.max(lo, hi)));
  const fitted = tries.map((t) => {
    const x = clamp(t.x, bounds.left + m, bounds.right - size.w - m);
    const y = clamp(t.y, bounds.top + m, bounds.bottom - size.h - m);
    const box = { left: x, top: y, right: x + size.w, bottom: y + size.h };
    const covered = [...avoid, anchor].reduce((sum, a) => sum + overlap(box, a), 0);
    return { x, y, covered, moved: Math.abs(x - t.x) > 0.5 };
  });
  const best =
    fitted.find((f) => f.covered === 0 && !f.moved) ??
    fitted.find((f) => f.covered === 0) ??
    fitted.reduce((b, f) => (f.covered < b.covered ? f : b));
  return { x: best.x, y: best.y };
}

export class PredictionTooltip {
  readonly el: HTMLDivElement;

  constructor(container: HTMLElement) {
    const el = container.ownerDocument.createElement("div");
    el.className = "prediction-tooltip";
    el.dataset.testid = "prediction-tooltip";
    el.setAttribute("role", "tooltip");
    el.hidden = true;
    container.append(el);
    this.el = el;
  }

  show(c: TooltipContent, anchor: Element | null, column: Element | null = null): void {
    const doc = this.el.ownerDocument;
    const el = this.el;
    el.replaceChildren();
    const title = doc.createElement("div");
    title.className = "tt-title";
    const tok = doc.createElement("span");
    tok.className = "tt-token";
    tok.textContent = displayToken(c.token.text, 30);
    const meta = doc.createElement("span");
    meta.className = "tt-meta";
    meta.textContent = `#${c.index}${c.token.masked ? " \u00b7 masked" : ""}${c.pinned ? " \u00b7 pinned" : ""}`;
    title.append(tok, meta);
    const sub = doc.createElement("div");
    sub.className = "tt-sub";
    sub.textContent = c.kind === "autoregressive" ? "Top predictions for the next token" : "Top predictions at this position";
    el.append(title, sub);
    if (c.predictions === null || c.predictions === undefined) {
      const na = doc.createElement("div");
      na.className = "tt-unavailable";
      na.dataset.testid = "predictions-unavailable";
      na.textContent = c.unavailable ?? "no predictions for this model";
      el.append(na);
    } else {
      const list = doc.createElement("ol");
      list.className = "tt-list";
      for (const p of c.predictions) {
        const li = doc.createElement("li");
        const name = doc.createElement("span");
        name.className = "tt-pred";
        name.textContent = JSON.stringify(p.token).slice(1, -1);
        const bar = doc.createElement("span");
        bar.className = "tt-bar";
        const fill = doc.createElement("span");
        fill.style.width = `${Math.max(1, Math.round(p.prob * 100))}%`;
        bar.append(fill);
        const prob = doc.createElement("span");
        prob.className = "tt-prob";
        prob.textContent = `${(p.prob * 100).toFixed(1)}%`;
        li.append(name, bar, prob);
        list.append(li);
      }
      if (c.predictions.length === 0) {
        const na = doc.createElement("div");
        na.className = "tt-unavailable";
        na.textContent = "no predictions for this token";
        el.append(na);
      }
      el.append(list);
    }
    el.hidden = false;
    this.place(anchor, column);
  }

  /**
   * Place the tooltip beside the token's row, inside the area where it can be seen (the viewport
   * cut by every clipping ancestor: a notebook's output area, a panel with CSS containment),
   * never over the head thumbnails (the `.heads-grid` beside the view) nor over the token itself.
   */
  private place(anchor: Element | null, column: Element | null): void {
    const el = this.el;
    const win = el.ownerDocument.defaultView;
    if (!anchor || !win) return;
    const bounds = visibleBounds(el, win);
    el.style.width = "";
    const natural = el.offsetWidth || 250;
    const room = bounds.right - bounds.left - 2 * MARGIN;
    if (natural > room && room > 0) el.style.width = `${Math.max(120, Math.floor(room))}px`;
    const size = { w: el.offsetWidth || natural, h: el.offsetHeight || 160 };
    const grid = column?.closest(".panes")?.querySelector(".heads-grid");
    const avoid = grid ? [rectOf(grid)] : [];
    const at = placeTooltip(size, rectOf(anchor), rectOf(column ?? anchor), bounds, avoid);
    // Positioned `fixed`, but an ancestor with a transform, filter or containment (JupyterLab's
    // panels) is then its containing block: correct by where it actually landed.
    el.style.left = `${Math.round(at.x)}px`;
    el.style.top = `${Math.round(at.y)}px`;
    const r = el.getBoundingClientRect();
    if (Math.abs(r.left - at.x) > 0.5 || Math.abs(r.top - at.y) > 0.5) {
      el.style.left = `${Math.round(2 * at.x - r.left)}px`;
      el.style.top = `${Math.round(2 * at.y - r.top)}px`;
    }
  }

  hide(): void {
    this.el.hidden = true;
  }
}
