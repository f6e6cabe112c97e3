// The DOM helpers of every view: an element with its attributes and children in one call.
//   h("button", { type: "button", class: "primary", "data-testid": "analyze-button" }, "Analyze")

/** Attributes; undefined, null and false leave the attribute out, true sets it empty. */
export type Attrs = Record<string, string | number | boolean | null | undefined>;

function setAttrs(e: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  e.append(...children);
  return e;
}

/** An SVG element (in `doc`, default the page's document). */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  text?: string,
  doc: Document = document,
): SVGElementTagNameMap[K] {
  const e = doc.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(e, attrs);
  if (text !== undefined) e.textContent = text;
  return e;
}
