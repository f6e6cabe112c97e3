// Export of the attention view as a standalone, publication-quality SVG (and PNG drawn from it).
//
// The live view draws tokens as HTML inside <foreignObject> (selectable, accessible), which
// other SVG programs (Inkscape, Illustrator, LaTeX) and <img> rendering cannot use. The exporter
// reads what is on screen (the drawn edges with their widths and opacities, the visible tokens
// with their classes, the weight bars) and writes it again with plain SVG: one <path> per drawn
// edge, each token as a <text>, colours as attributes (no stylesheet, no CSS variables), a title
// with the model, layer and heads, and a legend. What you see is what you export.

import { svg as svgEl, type Attrs } from "../dom";
import { shapeOf, type State } from "../store";
import { headColor } from "./heads";
import { selectedHeads, selectedWeights } from "./selection";
import { CONTINUATION_MARK, GEOMETRY } from "./view";

const FONT = "Helvetica, Arial, 'DejaVu Sans', 'Liberation Sans', sans-serif";

const COLOURS = {
  ink: "#1c2433",
  muted: "#6b7588",
  blue: "#2563eb",
  blueDark: "#1e40af",
  orange: "#ea7317",
  red: "#c2410c",
  teal: "#0f766e",
  special: "#8a94a6",
  future: "#c9ced8",
};

export interface ExportOptions {
  /** "white" (default), "transparent", or any CSS colour. */
  background?: string;
  /** Replace the title's first line (default: "<model> · layer <l> (layers 0–<n-1>)"). */
  title?: string;
  /** Draw the legend below the view (default true). */
  legend?: boolean;
}

/** What the exporter needs to know beyond the drawn view: the labels. */
export interface ExportContext {
  model: string;
  layer: number;
  nLayers: number;
  /** Selected heads, ascending. */
  heads: readonly number[];
  nHeads: number;
  /** Weights of the selected heads, same order (as the user entered them). */
  weights: readonly number[];
  threshold: number;
  hideSpecial: boolean;
  /** Each head's edges in its own colour (absent: false). */
  colorByHead?: boolean;
  /** The first token's edges removed (absent: false). */
  hideFirst?: boolean;
  /** What the edges show: raw attention (absent), or its rollout or flow through the layers. */
  mode?: "raw" | "rollout" | "flow";
}

/** The labels of the state on screen. */
export function exportContext(s: State): ExportContext {
  const { layers, heads } = shapeOf(s);
  return {
    model: s.analysis?.header.model ?? "",
    layer: s.layer,
    nLayers: layers,
    heads: selectedHeads(s, heads),
    nHeads: heads,
    weights: selectedWeights(s, heads),
    threshold: s.threshold,
    hideSpecial: s.hideSpecial,
    colorByHead: s.colorByHead,
    hideFirst: s.hideFirst,
    ...(s.lens && s.lens.attentionMode !== "raw" ? { mode: s.lens.attentionMode } : {}),
  };
}

interface TokenOut {
  side: "left" | "right";
  index: number;
  y: number;
  rowTop: number;
  rowH: number;
  text: string;
  orig: string;
  /** The continuation mark ("##") of a word piece, or "". */
  cont: string;
  classes: DOMTokenList;
  bar: number;
}

const MARGIN = 16;
const TITLE_H = 50;
const LEGEND_H = 56;
const HEADS_KEY_H = 22;

/** "Colour by head": a swatch per selected head (as many as fit on one line). */
function headsKey(el: (tag: keyof SVGElementTagNameMap, attrs?: Attrs, text?: string) => SVGElement, heads: readonly number[], y: number): SVGElement {
  const g = el("g", { class: "heads-key" });
  g.append(el("text", { x: MARGIN, y: y + 4 }, "head"));
  let x = MARGIN + 40;
  for (const hd of heads) {
    if (x > GEOMETRY.WIDTH - 20) {
      g.append(el("text", { x, y: y + 4 }, "\u2026"));
      break;
    }
    g.append(el("rect", { x, y: y - 4, width: 14, height: 9, rx: 2, fill: headColor(hd), "data-head": hd }));
    g.append(el("text", { x: x + 17, y: y + 4 }, String(hd)));
    x += 24 + String(hd).length * 6;
  }
  return g;
}

function px(v: string | null | undefined): number {
  const n = parseFloat(v ?? "");
  return Number.isFinite(n) ? n : 0;
}

function fmt(x: number, digits = 2): string {
  return String(+x.toFixed(digits));
}

/** The title's second line: heads, weights, threshold, special tokens. */
export function describeView(ctx: ExportContext): string {
  const all = ctx.heads.length === ctx.nHeads;
  let heads = all ? `all ${ctx.nHeads} heads` : `${ctx.heads.length === 1 ? "head" : "heads"} ${ctx.heads.join(", ")}`;
  const w = ctx.weights;
  const equal = w.every((x) => Math.abs(x - w[0]) < 1e-9);
  if (!equal) heads += ` (weights ${w.map((x) => fmt(x, 3)).join(", ")})`;
  if (heads.length > 70) heads = heads.slice(0, 69) + "\u2026";
  const mode = ctx.mode === "rollout" ? "attention rollout of " : ctx.mode === "flow" ? "attention flow of " : "";
  return (
    `${mode}${heads}${ctx.colorByHead && !ctx.mode ? " (coloured by head)" : ""} \u00b7 edges cover ${Math.round(ctx.threshold * 100)}% of each row` +
    ` \u00b7 special tokens ${ctx.hideSpecial ? "hidden" : "shown"}${ctx.hideFirst ? " \u00b7 first token hidden" : ""}`
  );
}

/** Build the export SVG element from the live attention view `view` (an AttentionView's svg). */
export function buildExportSvg(view: SVGSVGElement, ctx: ExportContext, opts: ExportOptions = {}): SVGSVGElement {
  const doc = view.ownerDocument;
  const { COL_W, TOP, PAD, RIGHT_X, WIDTH, BAR_W } = GEOMETRY;
  const el = (tag: keyof SVGElementTagNameMap, attrs: Attrs = {}, text?: string): SVGElement => svgEl(tag, attrs, text, doc);

  const viewH = px(view.getAttribute("height")) || TOP;
  const font = px(view.style.getPropertyValue("--token-font")) || 13;
  const focused = view.classList.contains("focused");
  const showLegend = opts.legend !== false;
  const byHead = ctx.colorByHead === true;
  const width = WIDTH + 2 * PAD + 2 * MARGIN;
  const height = TITLE_H + viewH + (showLegend ? LEGEND_H + (byHead ? HEADS_KEY_H : 0) : MARGIN);

  // (the serializer writes xmlns itself for an element in the SVG namespace)
  const svg = el("svg", {
    version: "1.1",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "font-family": FONT,
  }) as SVGSVGElement;
  const bg = opts.background ?? "white";
  if (bg && bg !== "transparent" && bg !== "none") {
    svg.append(el("rect", { class: "background", x: 0, y: 0, width, height, fill: bg }));
  }

  // Title: model and layer, then heads and the view's settings.
  const title = el("g", { class: "title" });
  title.append(
    el(
      "text",
      { x: MARGIN, y: MARGIN + 12, "font-size": 15, "font-weight": 700, fill: COLOURS.ink },
      opts.title ?? `${ctx.model} \u00b7 layer ${ctx.layer} (layers 0\u2013${Math.max(0, ctx.nLayers - 1)})`,
    ),
    el("text", { x: MARGIN, y: MARGIN + 30, "font-size": 11, fill: COLOURS.muted }, describeView(ctx)),
  );
  svg.append(title);

  // The view itself, in its own coordinates (x from -PAD, y from 0).
  const body = el("g", { class: "attention", transform: `translate(${MARGIN + PAD},${TITLE_H})` });
  svg.append(body);
  const heads = el("g", { class: "col-heads", "font-size": 10, fill: COLOURS.muted, "letter-spacing": "0.06em" });
  heads.append(
    el("text", { x: COL_W - 6, y: 14, "text-anchor": "end" }, "FROM"),
    el("text", { x: RIGHT_X + 6, y: 14 }, "TO"),
  );
  body.append(heads);

  // Tokens as laid out on screen (hidden special tokens are skipped).
  const tokens: TokenOut[] = [];
  for (const div of Array.from(view.querySelectorAll<HTMLElement>("div.token"))) {
    if (div.hidden) continue;
    const m = /^token-(left|right)-(\d+)$/.exec(div.dataset.testid ?? "");
    if (!m) continue;
    const rowTop = px(div.style.top);
    const rowH = px(div.style.height);
    tokens.push({
      side: m[1] as "left" | "right",
      index: Number(m[2]),
      rowTop,
      rowH,
      y: TOP + rowTop + rowH / 2,
      text: div.querySelector(".txt")?.textContent ?? "",
      orig: div.querySelector(".orig")?.textContent ?? "",
      cont: div.querySelector(".cont")?.textContent ?? "",
      classes: div.classList,
      bar: px((div.querySelector(".bar") as HTMLElement | null)?.style.width),
    });
  }

  // Weight bars of the focused (pinned) token, under the token texts.
  const bars = el("g", { class: "bars", fill: COLOURS.blue, "fill-opacity": 0.22 });
  for (const t of tokens) {
    if (t.bar <= 0 || t.classes.contains("future")) continue;
    const w = Math.min(BAR_W, t.bar);
    const x = t.side === "left" ? COL_W - 1 - w : RIGHT_X + 1;
    bars.append(el("rect", { x: fmt(x), y: fmt(TOP + t.rowTop + 2), width: fmt(w), height: fmt(Math.max(1, t.rowH - 4)), rx: 2 }));
  }
  if (bars.childNodes.length) body.append(bars);

  // Edges: one path per drawn edge, as drawn.
  const edges = el("g", { class: "edges", fill: "none", stroke: COLOURS.blue, "stroke-linecap": "round" });
  let maxW = 0;
  let nEdges = 0;
  for (const p of Array.from(view.querySelectorAll<SVGPathElement>("path.edge"))) {
    const hover = p.classList.contains("hover");
    const pinned = p.classList.contains("pinned");
    const weight = px(p.getAttribute("data-weight"));
    maxW = Math.max(maxW, weight);
    const attrs: Record<string, string | number> = {
      class: "edge",
      d: p.getAttribute("d") ?? "",
      "stroke-width": p.getAttribute("stroke-width") ?? "1",
      "stroke-opacity": focused && !hover && !pinned ? "0.05" : (p.getAttribute("stroke-opacity") ?? "0.5"),
      "data-from": p.getAttribute("data-from") ?? "",
      "data-to": p.getAttribute("data-to") ?? "",
      "data-weight": p.getAttribute("data-weight") ?? "",
    };
    const head = p.getAttribute("data-head");
    if (head !== null) {
      attrs.stroke = p.getAttribute("data-color") ?? headColor(Number(head));
      attrs["data-head"] = head;
    } else if (pinned) attrs.stroke = COLOURS.orange;
    else if (hover) attrs.stroke = COLOURS.blueDark;
    edges.append(el("path", attrs));
    nEdges++;
  }
  body.append(edges);
  svg.setAttribute("data-edges", String(nEdges));

  // Token texts.
  const texts = el("g", { class: "tokens", "font-size": fmt(font, 1), fill: COLOURS.ink });
  const present = { segB: false, masked: false, special: false, cont: false };
  for (const t of tokens) {
    const c = t.classes;
    const attrs: Record<string, string | number> = {
      class: `token ${t.side}`,
      x: t.side === "left" ? COL_W - 7 : RIGHT_X + 7,
      y: fmt(t.y + font * 0.35),
      "data-index": t.index,
    };
    if (t.side === "left") attrs["text-anchor"] = "end";
    if (c.contains("future") || c.contains("dropped")) attrs.fill = COLOURS.future;
    else if (c.contains("masked")) attrs.fill = COLOURS.red;
    else if (c.contains("pinned")) attrs.fill = COLOURS.orange;
    else if (c.contains("special")) attrs.fill = COLOURS.special;
    else if (c.contains("seg-b")) attrs.fill = COLOURS.teal;
    if (c.contains("masked") || c.contains("pinned")) attrs["font-weight"] = 700;
    if (c.contains("special") && !c.contains("masked")) attrs["font-style"] = "italic";
    present.segB ||= c.contains("seg-b");
    present.masked ||= c.contains("masked");
    present.special ||= c.contains("special") && !c.contains("masked");
    present.cont ||= t.cont !== "";
    const text = el("text", attrs);
    if (t.cont) {
      text.append(el("tspan", { class: "cont", "font-size": fmt(font * 0.8, 1), "font-weight": 400, fill: COLOURS.muted }, t.cont));
    }
    text.append(el("tspan", {}, t.text));
    if (t.orig) {
      text.append(
        el("tspan", { dx: 4, "font-size": fmt(font * 0.8, 1), "font-weight": 400, fill: COLOURS.muted, "text-decoration": "line-through" }, t.orig),
      );
    }
    texts.append(text);
  }
  body.append(texts);

  if (showLegend) {
    const y0 = TITLE_H + viewH + 18;
    const legend = el("g", { class: "legend", "font-size": 11, fill: COLOURS.muted });
    legend.append(el("text", { x: MARGIN, y: y0 + 4 }, "attention weight"));
    let x = MARGIN + 100;
    for (const r of [0.25, 0.5, 1]) {
      legend.append(
        el("line", {
          x1: x,
          y1: y0,
          x2: x + 28,
          y2: y0,
          stroke: byHead ? COLOURS.muted : COLOURS.blue,
          "stroke-width": fmt(0.6 + 4.4 * r),
          "stroke-opacity": fmt(0.12 + 0.78 * r, 3),
          "stroke-linecap": "round",
        }),
        el("text", { x: x + 34, y: y0 + 4 }, maxW > 0 ? fmt(maxW * r) : fmt(r)),
      );
      x += 76;
    }
    legend.append(el("text", { x, y: y0 + 4 }, `${nEdges} edges`));
    const keys: [string, string][] = [];
    if (present.segB) keys.push([COLOURS.teal, "second sentence"]);
    if (present.masked) keys.push([COLOURS.red, "masked"]);
    if (present.special) keys.push([COLOURS.special, "special token"]);
    if (present.cont) keys.push([COLOURS.muted, `${CONTINUATION_MARK} piece of the word above`]);
    const y1 = y0 + 22;
    legend.append(el("text", { x: MARGIN, y: y1 + 4 }, "line: token i (from) attends to token j (to)"));
    let kx = MARGIN + 250;
    for (const [colour, name] of keys) {
      legend.append(el("rect", { x: kx, y: y1 - 4, width: 9, height: 9, rx: 2, fill: colour }));
      legend.append(el("text", { x: kx + 13, y: y1 + 4 }, name));
      kx += 22 + name.length * 6;
    }
    if (byHead) legend.append(headsKey(el, ctx.heads, y1 + 22));
    svg.append(legend);
  }
  return svg;
}

/** The export SVG as a standalone XML document string. */
export function exportSvg(view: SVGSVGElement, ctx: ExportContext, opts: ExportOptions = {}): string {
  const svg = buildExportSvg(view, ctx, opts);
  const xml = new (view.ownerDocument.defaultView ?? window).XMLSerializer().serializeToString(svg);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
}
