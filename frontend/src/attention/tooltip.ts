// The prediction tooltip: a token's top-k predictions ("at this position" for bidirectional
// models, "next token" for autoregressive ones), or the reason why there are none.

import type { ModelKind, Prediction, TokenInfo } from "../api/types";
import { displayToken } from "./view";

export interface TooltipContent {
  index: number;
  token: TokenInfo;
  kind: ModelKind;
  predictions: readonly Prediction[] | null;
  unavailable: string | null;
  pinned: boolean;
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
   * Place the tooltip beside the token's row, to the right of `column` (the attention SVG) so
   * that it does not cover the edges, or left of it when there is no room.
   */
  private place(anchor: Element | null, column: Element | null): void {
    const win = this.el.ownerDocument.defaultView;
    if (!anchor || !win) return;
    const r = anchor.getBoundingClientRect();
    const c = column ? column.getBoundingClientRect() : r;
    const w = this.el.offsetWidth || 250;
    const h = this.el.offsetHeight || 160;
    let x = c.right + 8;
    if (x + w > win.innerWidth - 8) x = Math.max(8, c.left - w - 8);
    let y = r.top + r.height / 2 - 24;
    if (y + h > win.innerHeight - 8) y = Math.max(8, win.innerHeight - h - 8);
    this.el.style.left = `${Math.round(x)}px`;
    this.el.style.top = `${Math.round(Math.max(8, y))}px`;
  }

  hide(): void {
    this.el.hidden = true;
  }
}
