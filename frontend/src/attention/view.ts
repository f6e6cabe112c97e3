// The attention view: tokens in a left and a right column, attention drawn as cubic curves from
// each left token i (attending) to right tokens j (attended to). Renders into a given container,
// reuses its SVG between updates. No global state. Each token column is HTML inside a
// <foreignObject> (tokens are ordinary HTML elements: selection, accessibility, hover, click).
// The edges are SVG paths joined by (from, to) while there are at most SVG_MAX_EDGES of them;
// beyond, they are painted on a canvas under the columns (edgeCanvas.ts: MiniLM at 512 tokens
// keeps ~80k edges, too many for the DOM). The export always has one <path> per edge (exportView).
//
// Test hooks, the same in both modes: the SVG carries `data-edge-count` (edges drawn),
// `data-edge-mode` ("svg" | "canvas") and `data-focus` ("left:3", "right:5" or "" : the hovered,
// else the pinned token), and the element has `exbertEdges()`, which lists the drawn edges as
// { from, to, weight, head?, hover, pinned } (built on call: cheap until used).

import { linkHorizontal, select, type Selection } from "d3";
import { edgeStyle, weightScale } from "./canvasEdges";
import { visibleBounds } from "./bounds";
import { EdgeCanvas } from "./edgeCanvas";
import { edgePaths, edgeRecords, matchFocus, type EdgeRecord } from "./edgeList";
import { headColor } from "./heads";
import type { Edge } from "./math";
import type { ModelKind, TokenInfo } from "../api/types";

export type { EdgeRecord } from "./edgeList";
export type Side = "left" | "right";
export interface Focus {
  side: Side;
  index: number;
}

export interface AttentionViewData {
  tokens: readonly TokenInfo[];
  /** Indices of the tokens to show, in order; the others (hidden special tokens) are hidden. */
  visible: readonly number[];
  /** Per token: its edges were removed (hidden first token: shown muted). */
  dropped?: readonly boolean[];
  /** The displayed T x T matrix (after head combination and hiding); used for weight bars. */
  matrix: ArrayLike<number>;
  /** The edges to draw (already thresholded). */
  edges: readonly Edge[];
  kind: ModelKind;
  pinned: Focus | null;
  /** Shown in place of a masked token's text (default "[MASK]"). */
  maskToken?: string | null;
}

export interface AttentionViewEvents {
  /** Pointer entered (focus) or left (null) a token. `anchor` is the token's element. */
  onHover?(focus: Focus | null, anchor: HTMLElement | null): void;
  onClick?(focus: Focus): void;
  onDoubleClick?(focus: Focus): void;
}

const XHTML = "http://www.w3.org/1999/xhtml";
const COL_W = 150;
const GAP = 250;
const TOP = 30;
const PAD = 8;
const RIGHT_X = COL_W + GAP;
const WIDTH = RIGHT_X + COL_W;
const BAR_W = 40;

/** Up to this many edges are SVG paths; more are painted on a canvas. */
export const SVG_MAX_EDGES = 1500;

/** The mark before a word piece that continues the word above it (WordPiece's, as bertviz). */
export const CONTINUATION_MARK = "##";

/** The view's geometry (SVG user units), for the SVG exporter (exportSvg.ts). */
export const GEOMETRY = { COL_W, GAP, TOP, PAD, RIGHT_X, WIDTH, BAR_W } as const;

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

const edgeKey = (e: Edge) => (e.head === undefined ? `${e.from}-${e.to}` : `${e.head}:${e.from}-${e.to}`);

type Col = Selection<HTMLDivElement, unknown, null, undefined>;

export class AttentionView {
  readonly svg: SVGSVGElement;
  private readonly root: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly gEdges: Selection<SVGGElement, unknown, null, undefined>;
  private readonly foLeft: Selection<SVGForeignObjectElement, unknown, null, undefined>;
  private readonly foRight: Selection<SVGForeignObjectElement, unknown, null, undefined>;
  private readonly colLeft: Col;
  private readonly colRight: Col;
  private data: AttentionViewData | null = null;
  private hover: Focus | null = null;
  private rowY = new Map<number, number>();
  private layout = "";
  /** Whether some edge may carry a hover/pinned class (skips a pass over all edges if not). */
  private edgesMarked = false;
  /** The edges drawn (both ends shown), and whether on the canvas. */
  private drawn: Edge[] = [];
  private onCanvas = false;
  private height = TOP;
  private drawnTokens: readonly TokenInfo[] | null = null;
  private tokensKey = "";
  /** The token rows carry no focus classes nor bars (applyFocus can skip them). */
  private tokensClear = false;
  private readonly canvas: EdgeCanvas;
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
    svg.setAttribute("role", "group");
    svg.setAttribute("aria-label", "attention between tokens");
    container.appendChild(svg);
    this.svg = svg;
    this.root = select(svg);
    const heads = this.root.append("g").attr("class", "col-heads");
    heads.append("text").attr("x", COL_W - 6).attr("y", 14).attr("text-anchor", "end").text("from");
    heads.append("text").attr("x", RIGHT_X + 6).attr("y", 14).text("to");
    this.gEdges = this.root.append("g").attr("class", "edges");
    this.canvas = new EdgeCanvas(doc, () => this.visibleRange());
    svg.appendChild(this.canvas.fo);
    this.canvas.fo.style.display = "none";
    (svg as SVGSVGElement & { exbertEdges?: () => EdgeRecord[] }).exbertEdges = () => this.edgeRecords();
    const column = (side: Side, x: number) => {
      const fo = this.root.append("foreignObject").attr("x", x).attr("y", TOP).attr("width", COL_W).attr("height", 0);
      const div = fo.append(() => doc.createElementNS(XHTML, "div") as HTMLDivElement).attr("class", `tok-col ${side}`);
      return [fo, div] as const;
    };
    [this.foLeft, this.colLeft] = column("left", 0);
    [this.foRight, this.colRight] = column("right", RIGHT_X);
    this.root.attr("width", WIDTH + 2 * PAD).attr("viewBox", `${-PAD} 0 ${WIDTH + 2 * PAD} ${TOP}`);
  }

  /** Redraw for new data. Hover state is kept when the hovered token is still shown. */
  update(data: AttentionViewData): void {
    this.data = data;
    const n = data.visible.length;
    const rowH = Math.max(14, Math.min(24, Math.floor(560 / Math.max(1, n))));
    const font = Math.min(13, rowH - 3);
    const height = TOP + n * rowH + PAD;
    this.height = height;
    const layout = `${rowH}:${data.visible.join(",")}`;
    const layoutChanged = layout !== this.layout;
    this.layout = layout;
    if (layoutChanged) {
      this.root
        .attr("height", height)
        .attr("viewBox", `${-PAD} 0 ${WIDTH + 2 * PAD} ${height}`)
        .style("--token-font", `${font}px`);
      this.rowY = new Map();
      data.visible.forEach((i, k) => this.rowY.set(i, TOP + k * rowH + rowH / 2));
      this.foLeft.attr("height", n * rowH);
      this.foRight.attr("height", n * rowH);
    }
    if (this.hover && !this.rowY.has(this.hover.index)) this.hover = null;
    // The tokens only change with the analysis or the drawing options (a layer change keeps them:
    // rewriting 2T rows would cost a relayout of every token).
    const tokensKey = [layout, data.dropped?.join() ?? "", data.maskToken ?? ""].join("|");
    if (data.tokens !== this.drawnTokens || tokensKey !== this.tokensKey) {
      this.drawTokens(this.colLeft, "left", rowH);
      this.drawTokens(this.colRight, "right", rowH);
      this.drawnTokens = data.tokens;
      this.tokensKey = tokensKey;
      this.tokensClear = false;
    }
    this.drawEdges(layoutChanged, height);
    this.applyFocus();
  }

  /** The page scrolled or was resized (repaints the canvas edges if they no longer cover the
   * part of the view in sight). */
  viewportChanged(): void {
    if (this.onCanvas) this.canvas.viewportChanged();
  }

  /** The part of the view in sight, [top, bottom] in view y (the whole of a detached view). */
  private visibleRange(): [number, number] {
    const win = this.svg.ownerDocument.defaultView;
    const h = this.height;
    if (!win || !this.svg.isConnected) return [0, h];
    const r = this.svg.getBoundingClientRect();
    if (!(r.height > 0)) return [0, h];
    const k = h / r.height;
    const b = visibleBounds(this.svg, win);
    return [(b.top - r.top) * k, (b.bottom - r.top) * k];
  }

  /** Set the pinned token (or null) without a full redraw. */
  setPinned(p: Focus | null): void {
    if (this.data) {
      this.data = { ...this.data, pinned: p };
      this.applyFocus();
    }
  }

  /** The element of a token (for anchoring a tooltip). */
  tokenElement(f: Focus): HTMLElement | null {
    return this.svg.querySelector(`[data-testid="token-${f.side}-${f.index}"]`);
  }

  private drawTokens(col: Col, side: Side, rowH: number): void {
    const data = this.data!;
    const items: TokenDatum[] = data.tokens.map((token, index) => ({ index, side, token }));
    const rowY = this.rowY;
    const mask = data.maskToken ?? "[MASK]";
    const sel = col
      .selectAll<HTMLDivElement, TokenDatum>("div.token")
      .data(items, (d) => String(d.index))
      .join((enter) => {
        const t = enter.append("xhtml:div").attr("data-testid", (d) => `token-${side}-${d.index}`);
        t.append("xhtml:span").attr("class", "bar");
        t.append("xhtml:span").attr("class", "cont").attr("aria-hidden", "true");
        t.append("xhtml:span").attr("class", "txt");
        t.append("xhtml:span").attr("class", "orig");
        t.on("mouseenter", (ev: MouseEvent, d) => this.setHover({ side: d.side, index: d.index }, ev.currentTarget as HTMLElement))
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
          d.token.continues ? "continues" : "",
          data.dropped?.[d.index] ? "dropped" : "",
        ]
          .filter(Boolean)
          .join(" "),
      )
      .property("hidden", (d) => !rowY.has(d.index))
      .attr(
        "title",
        (d) =>
          `#${d.index} ${JSON.stringify(d.token.text)}${d.token.continues ? " (continues the word above)" : ""}` +
          `${d.token.masked ? " (masked)" : ""}${data.dropped?.[d.index] ? " (edges hidden)" : ""}`,
      )
      .style("top", (d) => (rowY.has(d.index) ? `${rowY.get(d.index)! - TOP - rowH / 2}px` : null))
      .style("height", `${rowH}px`);
    sel.select(".cont").text((d) => (d.token.continues && !d.token.masked ? CONTINUATION_MARK : ""));
    sel.select(".txt").text((d) => (d.token.masked ? mask : displayToken(d.token.text)));
    sel.select(".orig").text((d) => (d.token.masked ? displayToken(d.token.text, 10) : ""));
  }

  /** An edge's SVG path (d3's horizontal link). A token's edge to itself would be a flat line
   * with an empty bounding box (reported as invisible by hit-testing tools); half a pixel of slope
   * keeps it a real box. */
  private pathOf(e: Edge): string {
    const y = this.rowY;
    return this.link([[COL_W + 2, y.get(e.from)!], [RIGHT_X - 2, y.get(e.to)! + (e.from === e.to ? 0.5 : 0)]]) ?? "";
  }

  private drawEdges(layoutChanged: boolean, height: number): void {
    const data = this.data!;
    const rowY = this.rowY;
    const drawn = data.edges.filter((e) => rowY.has(e.from) && rowY.has(e.to));
    this.drawn = drawn;
    const onCanvas = drawn.length > SVG_MAX_EDGES;
    this.svg.setAttribute("data-edge-count", String(drawn.length));
    this.svg.setAttribute("data-edge-mode", onCanvas ? "canvas" : "svg");
    if (onCanvas) {
      if (!this.onCanvas) this.gEdges.selectAll("path.edge").remove();
      this.onCanvas = true;
      this.edgesMarked = false;
      this.canvas.fo.style.display = "";
      const T = data.tokens.length;
      const y = new Float64Array(T).fill(NaN);
      for (const [i, v] of rowY) y[i] = v;
      this.canvas.draw(drawn, { x1: COL_W + 2, x2: RIGHT_X - 2, y }, T, { x: COL_W, w: GAP, h: height });
      return;
    }
    if (this.onCanvas) {
      this.canvas.fo.style.display = "none";
      this.canvas.clear();
    }
    this.onCanvas = false;
    const scale = weightScale(drawn);
    const path = (e: Edge) => this.pathOf(e);
    // Geometry and endpoints only change on enter or when the rows moved; weights always.
    const sel = this.gEdges
      .selectAll<SVGPathElement, Edge>("path.edge")
      .data(drawn, edgeKey)
      .join(
        (enter) => {
          const p = enter
            .append("path")
            .attr("class", (e) => (e.head === undefined ? "edge" : "edge by-head"))
            .attr("data-from", (e) => e.from)
            .attr("data-to", (e) => e.to)
            .attr("d", path);
          p.filter((e) => e.head !== undefined)
            .attr("data-head", (e) => e.head!)
            .attr("data-color", (e) => headColor(e.head!))
            .style("stroke", (e) => headColor(e.head!));
          return p;
        },
        (update) => (layoutChanged ? update.attr("d", path) : update),
      );
    // Heads' own edges overlap: thinner and lighter, in head order (stable, the last on top).
    const byHead = drawn.length > 0 && drawn[0].head !== undefined;
    const { w0, w1, o0, o1 } = edgeStyle(byHead);
    sel
      .attr("data-weight", (e) => e.weight.toFixed(4))
      .attr("stroke-width", (e) => (w0 + w1 * e.weight * scale).toFixed(2))
      .attr("stroke-opacity", (e) => (o0 + o1 * e.weight * scale).toFixed(3));
    if (byHead) sel.order();
  }

  /** The drawn edges, for tests (see the header). */
  private edgeRecords(): EdgeRecord[] {
    return edgeRecords(this.drawn, this.hover, this.data?.pinned ?? null);
  }

  /**
   * The view as an SVG with one <path class="edge"> per drawn edge, for the exporter
   * (exportSvg.ts reads paths, tokens and bars from it): the live SVG itself when its edges are
   * paths, else a copy with the canvas replaced by the paths the SVG mode would draw.
   */
  exportView(): SVGSVGElement {
    if (!this.onCanvas) return this.svg;
    const clone = this.svg.cloneNode(true) as SVGSVGElement;
    clone.querySelector(".edge-canvas")?.remove();
    const paths = edgePaths(this.svg.ownerDocument, this.drawn, (e) => this.pathOf(e), this.hover, this.data?.pinned ?? null);
    clone.querySelector("g.edges")?.append(paths);
    return clone;
  }

  private setHover(f: Focus | null, anchor: HTMLElement | null): void {
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
    this.root.classed("focused", primary !== null);
    this.svg.setAttribute("data-focus", primary ? `${primary.side}:${primary.index}` : "");
    if (this.onCanvas) this.canvas.focus(hover, pinned);
    else if (primary !== null || this.edgesMarked) {
      this.gEdges
        .selectAll<SVGPathElement, Edge>("path.edge")
        .classed("hover", matchFocus(hover))
        .classed("pinned", matchFocus(pinned));
      this.edgesMarked = primary !== null;
    }

    // Weight bars: the focused token's attention to (or from) every shown token, by row max.
    const T = data.tokens.length;
    const m = data.matrix;
    const bars = new Float32Array(T);
    if (primary) {
      const at = (k: number) => (primary.side === "left" ? m[primary.index * T + k] : m[k * T + primary.index]);
      let mx = 0;
      for (const k of data.visible) mx = Math.max(mx, at(k));
      if (mx > 0) for (const k of data.visible) bars[k] = at(k) / mx;
    }
    const barSide: Side | null = primary ? (primary.side === "left" ? "right" : "left") : null;
    const causal = data.kind === "autoregressive";
    // (no focus now nor at the last pass over unchanged tokens: nothing to clear on 2T rows)
    if (primary === null && this.tokensClear) return;
    this.tokensClear = primary === null;
    const tokens = this.root.selectAll<HTMLDivElement, TokenDatum>("div.token");
    tokens
      .classed("hovered", (d) => hover !== null && hover.side === d.side && hover.index === d.index)
      .classed("pinned", (d) => pinned !== null && pinned.side === d.side && pinned.index === d.index)
      .classed(
        "future",
        (d) => causal && primary !== null && primary.side === "left" && d.side === "right" && d.index > primary.index,
      );
    tokens
      .select<HTMLSpanElement>("span.bar")
      .style("width", (d) => (d.side === barSide && bars[d.index] > 0 ? `${(bars[d.index] * BAR_W).toFixed(1)}px` : "0px"));
  }
}
