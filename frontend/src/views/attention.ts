// The attention view: tokens in a left and a right column, attention drawn as cubic curves from
// each left token i (attending) to right tokens j (attended to). Renders into a given container,
// reuses its SVG between updates and joins edges by (from, to). No global state.

import { linkHorizontal, select, type Selection } from "d3";
import type { Edge } from "../math";
import type { ModelKind, TokenInfo } from "../payload";

export type Side = "left" | "right";
export interface Focus {
  side: Side;
  index: number;
}

export interface AttentionViewData {
  tokens: readonly TokenInfo[];
  /** Indices of the tokens to show, in order (hidden special tokens left out). */
  visible: readonly number[];
  /** The displayed T x T matrix (after head combination and hiding); used for weight bars. */
  matrix: ArrayLike<number>;
  /** The edges to draw (already thresholded). */
  edges: readonly Edge[];
  kind: ModelKind;
  pinned: Focus | null;
}

export interface AttentionViewEvents {
  /** Pointer entered (focus) or left (null) a token. `anchor` is the token's element. */
  onHover?(focus: Focus | null, anchor: SVGGElement | null): void;
  onClick?(focus: Focus): void;
  onDoubleClick?(focus: Focus): void;
}

const COL_W = 150;
const GAP = 250;
const TOP = 30;
const PAD = 8;
const RIGHT_X = COL_W + GAP;
const WIDTH = RIGHT_X + COL_W;

interface TokenDatum {
  index: number;
  side: Side;
  token: TokenInfo;
}

/** How a token is shown: leading spaces dropped, whitespace made visible, long ones cut. */
export function displayToken(text: string, max = 18): string {
  let t = text.replace(/^[\s\u0120\u2581]+/, "");
  if (t === "") t = text.length ? "\u2423" : "\u2205";
  t = t.replace(/\n/g, "\u23ce").replace(/\t/g, "\u21e5");
  return t.length > max ? t.slice(0, max - 1) + "\u2026" : t;
}

const edgeKey = (e: Edge) => `${e.from}-${e.to}`;

export class AttentionView {
  readonly svg: SVGSVGElement;
  private readonly root: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly gEdges: Selection<SVGGElement, unknown, null, undefined>;
  private readonly gLeft: Selection<SVGGElement, unknown, null, undefined>;
  private readonly gRight: Selection<SVGGElement, unknown, null, undefined>;
  private data: AttentionViewData | null = null;
  private hover: Focus | null = null;
  private rowY = new Map<number, number>();
  private readonly link = linkHorizontal<[[number, number], [number, number]], [number, number]>()
    .source((d) => d[0])
    .target((d) => d[1]);

  constructor(
    container: HTMLElement,
    private readonly events: AttentionViewEvents = {},
  ) {
    const doc = container.ownerDocument;
    const svg = doc.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("data-testid", "attention-view");
    svg.setAttribute("class", "attention-view");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "attention between tokens");
    container.appendChild(svg);
    this.svg = svg;
    this.root = select(svg);
    const heads = this.root.append("g").attr("class", "col-heads");
    heads.append("text").attr("x", COL_W - 6).attr("y", 14).attr("text-anchor", "end").text("from");
    heads.append("text").attr("x", RIGHT_X + 6).attr("y", 14).text("to");
    this.gEdges = this.root.append("g").attr("class", "edges");
    this.gLeft = this.root.append("g").attr("class", "tokens left");
    this.gRight = this.root.append("g").attr("class", "tokens right");
    this.root.attr("width", WIDTH + 2 * PAD).attr("viewBox", `${-PAD} 0 ${WIDTH + 2 * PAD} ${TOP}`);
  }

  /** Redraw for new data. Hover state is kept when the hovered token is still shown. */
  update(data: AttentionViewData): void {
    this.data = data;
    const n = data.visible.length;
    const rowH = Math.max(14, Math.min(24, Math.floor(560 / Math.max(1, n))));
    const font = Math.min(13, rowH - 3);
    const height = TOP + n * rowH + PAD;
    this.root
      .attr("height", height)
      .attr("viewBox", `${-PAD} 0 ${WIDTH + 2 * PAD} ${height}`)
      .style("--token-font", `${font}px`);
    this.rowY = new Map();
    data.visible.forEach((i, k) => this.rowY.set(i, TOP + k * rowH + rowH / 2));
    if (this.hover && !this.rowY.has(this.hover.index)) this.hover = null;

    this.drawTokens(this.gLeft, "left", rowH);
    this.drawTokens(this.gRight, "right", rowH);
    this.drawEdges();
    this.applyFocus();
  }

  /** Set the pinned token (or null) without a full redraw. */
  setPinned(p: Focus | null): void {
    if (this.data) {
      this.data = { ...this.data, pinned: p };
      this.applyFocus();
    }
  }

  private drawTokens(
    g: Selection<SVGGElement, unknown, null, undefined>,
    side: Side,
    rowH: number,
  ): void {
    const data = this.data!;
    const items: TokenDatum[] = data.visible.map((i) => ({ index: i, side, token: data.tokens[i] }));
    const x0 = side === "left" ? 0 : RIGHT_X;
    const sel = g
      .selectAll<SVGGElement, TokenDatum>("g.token")
      .data(items, (d) => String(d.index))
      .join((enter) => {
        const t = enter.append("g").attr("data-testid", (d) => `token-${side}-${d.index}`);
        t.append("rect").attr("class", "bg");
        t.append("rect").attr("class", "bar");
        t.append("text");
        t.append("title");
        t.on("mouseenter", (ev: MouseEvent, d) => this.setHover({ side: d.side, index: d.index }, ev.currentTarget as SVGGElement))
          .on("mouseleave", () => this.setHover(null, null))
          .on("click", (_ev, d) => this.events.onClick?.({ side: d.side, index: d.index }))
          .on("dblclick", (ev: MouseEvent, d) => {
            ev.preventDefault();
            this.events.onDoubleClick?.({ side: d.side, index: d.index });
          });
        return t;
      });
    sel
      .attr("class", (d) =>
        [
          "token",
          side,
          d.token.special ? "special" : "",
          d.token.masked ? "masked" : "",
          d.token.segment === 1 ? "seg-b" : "",
        ]
          .filter(Boolean)
          .join(" "),
      )
      .attr("transform", (d) => `translate(0,${this.rowY.get(d.index)! - rowH / 2})`);
    sel
      .select("rect.bg")
      .attr("x", x0)
      .attr("width", COL_W)
      .attr("height", rowH - 2)
      .attr("y", 1)
      .attr("rx", 3);
    sel
      .select("rect.bar")
      .attr("x", side === "left" ? COL_W : x0)
      .attr("y", 2)
      .attr("height", rowH - 4)
      .attr("width", 0);
    sel
      .select("text")
      .attr("x", side === "left" ? COL_W - 6 : x0 + 6)
      .attr("y", rowH / 2)
      .attr("dy", "0.35em")
      .attr("text-anchor", side === "left" ? "end" : "start")
      .text((d) => displayToken(d.token.text));
    sel.select("title").text((d) => `#${d.index} ${JSON.stringify(d.token.text)}${d.token.masked ? " (masked)" : ""}`);
  }

  private drawEdges(): void {
    const data = this.data!;
    let max = 0;
    for (const e of data.edges) if (e.weight > max) max = e.weight;
    const scale = max > 0 ? 1 / max : 0;
    const x1 = COL_W + 2;
    const x2 = RIGHT_X - 2;
    const rowY = this.rowY;
    const link = this.link;
    this.gEdges
      .selectAll<SVGPathElement, Edge>("path.edge")
      .data(data.edges.filter((e) => rowY.has(e.from) && rowY.has(e.to)), edgeKey)
      .join((enter) => enter.append("path").attr("class", "edge"))
      .attr("d", (e) => link([[x1, rowY.get(e.from)!], [x2, rowY.get(e.to)!]]))
      .attr("data-from", (e) => e.from)
      .attr("data-to", (e) => e.to)
      .attr("data-weight", (e) => e.weight.toFixed(4))
      .attr("stroke-width", (e) => (0.6 + 4.4 * e.weight * scale).toFixed(2))
      .attr("stroke-opacity", (e) => (0.12 + 0.78 * e.weight * scale).toFixed(3));
  }

  private setHover(f: Focus | null, anchor: SVGGElement | null): void {
    this.hover = f;
    this.applyFocus();
    this.events.onHover?.(f, anchor);
  }

  /** Highlight hovered/pinned edges, grey out future tokens, show weight bars. */
  private applyFocus(): void {
    const data = this.data;
    if (!data) return;
    const hover = this.hover;
    const pinned = data.pinned;
    const primary = hover ?? pinned;
    const match = (f: Focus | null) => (e: Edge) =>
      f !== null && (f.side === "left" ? e.from === f.index : e.to === f.index);
    const isHover = match(hover);
    const isPinned = match(pinned);
    this.root.classed("focused", primary !== null);
    this.gEdges
      .selectAll<SVGPathElement, Edge>("path.edge")
      .classed("hover", isHover)
      .classed("pinned", isPinned);

    const T = data.tokens.length;
    const m = data.matrix;
    const weights = new Map<string, number>();
    if (primary) {
      let mx = 0;
      for (const k of data.visible) {
        const v = primary.side === "left" ? m[primary.index * T + k] : m[k * T + primary.index];
        if (v > mx) mx = v;
      }
      for (const k of data.visible) {
        const v = primary.side === "left" ? m[primary.index * T + k] : m[k * T + primary.index];
        if (v > 0 && mx > 0) weights.set(`${primary.side === "left" ? "right" : "left"}-${k}`, v / mx);
      }
    }
    const causal = data.kind === "autoregressive";
    const tokens = this.root.selectAll<SVGGElement, TokenDatum>("g.token");
    tokens
      .classed("hovered", (d) => hover !== null && hover.side === d.side && hover.index === d.index)
      .classed("pinned", (d) => pinned !== null && pinned.side === d.side && pinned.index === d.index)
      .classed(
        "future",
        (d) => causal && primary !== null && primary.side === "left" && d.side === "right" && d.index > primary.index,
      );
    tokens
      .select<SVGRectElement>("rect.bar")
      .attr("width", (d) => (weights.get(`${d.side}-${d.index}`) ?? 0) * 40)
      .attr("x", (d) => (d.side === "left" ? COL_W - (weights.get(`${d.side}-${d.index}`) ?? 0) * 40 : RIGHT_X));
  }
}
