// The reading view of a long document (data-testid `long-reader`): the document's text as token
// spans (`span.tk`, data-index = token position), the text between tokens as it was typed. A
// click selects a token; every token is then coloured by the attention the selected token gives
// to it (direction "out": its row) or receives from it (direction "in": its column), for the
// selected layer and heads. Tokens of the brushed window are underlined.

import { h } from "../dom";
import type { AnalysisHeader } from "../api/types";
import type { Direction } from "../store";
import { css, heat, inkOn, scaleMax, scaled, type Window } from "./maths";

export interface ReaderEvents {
  select(token: number | null): void;
  direction(d: Direction): void;
}

/** The pieces of a document: token spans in text order, with the text between them. */
export function readerPieces(hd: Pick<AnalysisHeader, "text" | "text_b" | "tokens">): ({ gap: string } | { token: number; text: string; special: boolean })[] {
  const out: ({ gap: string } | { token: number; text: string; special: boolean })[] = [];
  const pos = [0, 0];
  let seg = -1;
  hd.tokens.forEach((t, i) => {
    const src = (t.segment === 1 ? hd.text_b : hd.text) ?? "";
    if (t.segment !== seg) {
      if (seg >= 0) {
        const rest = ((seg === 1 ? hd.text_b : hd.text) ?? "").slice(pos[seg]);
        if (rest) out.push({ gap: rest });
        pos[seg] = Infinity;
        out.push({ gap: "\n\n" });
      }
      seg = t.segment;
    }
    if (t.special && t.start === t.end) {
      out.push({ token: i, text: t.text, special: true });
      return;
    }
    const p = pos[t.segment];
    if (t.start > p) out.push({ gap: src.slice(p, t.start) });
    out.push({ token: i, text: src.slice(Math.max(t.start, p), t.end) || t.text, special: t.special });
    pos[t.segment] = Math.max(p, t.end);
  });
  if (seg >= 0) {
    const rest = ((seg === 1 ? hd.text_b : hd.text) ?? "").slice(pos[seg]);
    if (rest) out.push({ gap: rest });
  }
  return out;
}

export class Reader {
  readonly el: HTMLElement;
  private readonly body: HTMLDivElement;
  private readonly status: HTMLSpanElement;
  private readonly dirButtons: Record<Direction, HTMLButtonElement>;
  private spans: HTMLSpanElement[] = [];
  private selected: number | null = null;
  private window: Window = { start: 0, stop: 0 };

  constructor(private readonly events: ReaderEvents) {
    const dir = (d: Direction, label: string, title: string) => {
      const b = h("button", { type: "button", class: "long-dir", "data-testid": `long-direction-${d}`, "aria-pressed": "false", title }, label);
      b.addEventListener("click", () => this.events.direction(d));
      return b;
    };
    this.dirButtons = {
      out: dir("out", "gives", "Colour tokens by the attention the selected token gives to them (its row)"),
      in: dir("in", "receives", "Colour tokens by the attention the selected token receives from them (its column)"),
    };
    this.status = h("span", { class: "long-status", "data-testid": "long-reader-status" }, "Click a token to colour the document by its attention.");
    this.body = h("div", { class: "long-text" });
    this.el = h(
      "section",
      { class: "long-reader", "data-testid": "long-reader" },
      h("div", { class: "long-reader-bar" }, h("h3", {}, "Reading view"), h("span", { class: "long-dir-group", role: "group", "aria-label": "Attention the selected token" }, "Attention the token ", this.dirButtons.out, this.dirButtons.in), this.status),
      this.body,
    );
    this.body.addEventListener("click", (ev) => {
      const t = (ev.target as HTMLElement).closest<HTMLElement>("span.tk");
      if (!t) return;
      const i = Number(t.dataset.index);
      this.events.select(i === this.selected ? null : i);
    });
  }

  /** A new document. */
  setDocument(hd: AnalysisHeader): void {
    this.spans = new Array<HTMLSpanElement>(hd.tokens.length);
    const frag = document.createDocumentFragment();
    for (const p of readerPieces(hd)) {
      if ("gap" in p) frag.append(p.gap);
      else {
        const s = h("span", { class: p.special ? "tk special" : "tk", "data-index": p.token }, p.text);
        this.spans[p.token] = s;
        frag.append(s);
      }
    }
    this.body.replaceChildren(frag);
    this.selected = null;
    this.window = { start: 0, stop: 0 };
    this.el.dataset.tokens = String(hd.tokens.length);
  }

  setDirection(d: Direction): void {
    for (const k of ["out", "in"] as const) {
      this.dirButtons[k].classList.toggle("selected", k === d);
      this.dirButtons[k].setAttribute("aria-pressed", String(k === d));
    }
    this.el.dataset.direction = d;
  }

  /** Underline the tokens of the brushed window. */
  setWindow(w: Window): void {
    const old = this.window;
    this.window = w;
    for (let i = old.start; i < old.stop; i++) this.spans[i]?.classList.remove("in-window");
    for (let i = w.start; i < w.stop; i++) this.spans[i]?.classList.add("in-window");
  }

  /** The selected token (scrolled into view when `reveal`). */
  setSelected(token: number | null, reveal = false): void {
    if (this.selected !== null) this.spans[this.selected]?.classList.remove("selected");
    this.selected = token;
    this.el.dataset.token = token === null ? "" : String(token);
    if (token === null) {
      this.colour(null);
      this.status.textContent = "Click a token to colour the document by its attention.";
      return;
    }
    const s = this.spans[token];
    s?.classList.add("selected");
    if (reveal) s?.scrollIntoView?.({ block: "nearest" });
  }

  loading(text: string): void {
    this.el.dataset.ready = "false";
    this.status.textContent = text;
  }

  /** Colour every token by `values[i]` (null: no colours). */
  colour(values: Float32Array | null, label = ""): void {
    const t0 = performance.now();
    const max = values ? scaleMax(values, 0.99, (i) => i === this.selected) : 0;
    this.spans.forEach((s, i) => {
      if (!s) return;
      const t = values ? scaled(values[i], max) : 0;
      const bg = t > 0.02 ? css(heat(t)) : "";
      if (s.style.backgroundColor !== bg) s.style.backgroundColor = bg;
      const ink = t > 0.02 ? inkOn(t) : "";
      if (s.style.color !== ink) s.style.color = ink;
      if (values) s.title = `token ${i}: ${values[i].toFixed(4)}`;
      else s.removeAttribute("title");
    });
    this.el.dataset.ready = values ? "true" : "false";
    if (values) this.status.textContent = `${label} (${(performance.now() - t0).toFixed(0)} ms)`;
  }
}
