// Where an element can be seen: the viewport cut by its clipping ancestors (for the tooltip's
// place and the part of the attention view whose edges are painted).

export interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export const rectOf = (e: Element): Rect => {
  const r = e.getBoundingClientRect();
  return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
};

function intersect(a: Rect, b: Rect): Rect {
  return { left: Math.max(a.left, b.left), top: Math.max(a.top, b.top), right: Math.min(a.right, b.right), bottom: Math.min(a.bottom, b.bottom) };
}

const CLIPS = /(auto|scroll|hidden|clip)/;

/**
 * The part of the viewport where an element inside `el`'s container can be seen: the viewport
 * cut by each ancestor that clips (overflow other than visible, paint containment), crossing
 * shadow roots (the notebook widget renders into one).
 */
export function visibleBounds(el: Element, win: Window): Rect {
  let b: Rect = { left: 0, top: 0, right: win.innerWidth, bottom: win.innerHeight };
  let node: Node | null = el.parentNode;
  const doc = el.ownerDocument;
  while (node) {
    if (node.nodeType === Node.ELEMENT_NODE) {
      const e = node as Element;
      // (the overflow of <html> and <body> is the viewport's)
      if (e === doc.documentElement || e === doc.body) break;
      const cs = win.getComputedStyle(e);
      const contain = cs.contain || "";
      if (CLIPS.test(cs.overflowX) || CLIPS.test(cs.overflowY) || /paint|strict|content/.test(contain)) {
        const next = intersect(b, rectOf(e));
        // an empty cut (a box of no size, or scrolled out of view) leaves nothing to aim at
        if (next.right > next.left && next.bottom > next.top) b = next;
      }
      node = e.parentNode;
    } else {
      // a shadow root continues at its host
      node = (node as Partial<ShadowRoot>).host ?? node.parentNode;
    }
  }
  return b;
}

