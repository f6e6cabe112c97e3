// The drawn edges outside the canvas: the test accessor's list (`exbertEdges()` on the view's
// SVG) and the <path> elements of an export, both from the edge data (the same attributes as
// the view's own SVG paths: class, data-from/to/weight/head/color, stroke width and opacity).

import { edgeStyle, weightScale } from "./canvasEdges";
import { headColor } from "./heads";
import type { Edge } from "./math";

/** A token whose edges are highlighted: those it gives (left) or receives (right). */
export interface FocusLike {
  side: "left" | "right";
  index: number;
}

/** A drawn edge as the test accessor `exbertEdges()` lists it. */
export interface EdgeRecord {
  from: number;
  to: number;
  weight: number;
  head?: number;
  /** The edge belongs to the hovered / the pinned token. */
  hover: boolean;
  pinned: boolean;
}

/** Whether an edge is one of f's: given by a left token, received by a right one. */
export const matchFocus = (f: FocusLike | null) => (e: Edge) =>
  f !== null && (f.side === "left" ? e.from === f.index : e.to === f.index);

export function edgeRecords(edges: readonly Edge[], hover: FocusLike | null, pinned: FocusLike | null): EdgeRecord[] {
  const isHover = matchFocus(hover);
  const isPinned = matchFocus(pinned);
  return edges.map((e) => ({
    from: e.from,
    to: e.to,
    weight: e.weight,
    ...(e.head === undefined ? {} : { head: e.head }),
    hover: isHover(e),
    pinned: isPinned(e),
  }));
}

/** One <path class="edge"> per edge (`d` from `pathOf`), as the view's SVG mode draws them. */
export function edgePaths(
  doc: Document,
  edges: readonly Edge[],
  pathOf: (e: Edge) => string,
  hover: FocusLike | null,
  pinned: FocusLike | null,
): DocumentFragment {
  const byHead = edges.length > 0 && edges[0].head !== undefined;
  const { w0, w1, o0, o1 } = edgeStyle(byHead);
  const scale = weightScale(edges);
  const isHover = matchFocus(hover);
  const isPinned = matchFocus(pinned);
  const frag = doc.createDocumentFragment();
  for (const e of edges) {
    const p = doc.createElementNS("http://www.w3.org/2000/svg", "path");
    const cls = ["edge", e.head === undefined ? "" : "by-head", isHover(e) ? "hover" : "", isPinned(e) ? "pinned" : ""];
    p.setAttribute("class", cls.filter(Boolean).join(" "));
    p.setAttribute("data-from", String(e.from));
    p.setAttribute("data-to", String(e.to));
    p.setAttribute("d", pathOf(e));
    if (e.head !== undefined) {
      p.setAttribute("data-head", String(e.head));
      p.setAttribute("data-color", headColor(e.head));
      p.style.stroke = headColor(e.head);
    }
    p.setAttribute("data-weight", e.weight.toFixed(4));
    p.setAttribute("stroke-width", (w0 + w1 * e.weight * scale).toFixed(2));
    p.setAttribute("stroke-opacity", (o0 + o1 * e.weight * scale).toFixed(3));
    frag.append(p);
  }
  return frag;
}
