// A small floating tooltip (title + "name value" rows) for the corpus views: token metadata in
// the search results and the colour summary, scores in the head-ranking heatmap. One element,
// placed next to the hovered element, kept inside the window.

export class InfoTooltip {
  readonly el: HTMLDivElement;

  constructor(container: HTMLElement, testid: string) {
    const el = container.ownerDocument.createElement("div");
    el.className = "info-tooltip";
    el.dataset.testid = testid;
    el.setAttribute("role", "tooltip");
    el.hidden = true;
    container.append(el);
    this.el = el;
  }

  show(title: string, rows: readonly (readonly [string, string])[], anchor: Element, sub = ""): void {
    const doc = this.el.ownerDocument;
    const head = doc.createElement("div");
    head.className = "it-title";
    head.textContent = title;
    this.el.replaceChildren(head);
    if (sub) {
      const s = doc.createElement("div");
      s.className = "it-sub";
      s.textContent = sub;
      this.el.append(s);
    }
    if (rows.length) {
      const dl = doc.createElement("dl");
      for (const [k, v] of rows) {
        const dt = doc.createElement("dt");
        dt.textContent = k;
        const dd = doc.createElement("dd");
        dd.textContent = v;
        if (k) dl.append(dt, dd);
        else {
          dd.className = "it-wide";
          dl.append(dd);
        }
      }
      this.el.append(dl);
    }
    this.el.hidden = false;
    this.place(anchor);
  }

  hide(): void {
    this.el.hidden = true;
  }

  private place(anchor: Element): void {
    const win = this.el.ownerDocument.defaultView;
    if (!win) return;
    const r = anchor.getBoundingClientRect();
    const w = this.el.offsetWidth || 220;
    const h = this.el.offsetHeight || 100;
    let x = r.left + r.width / 2 - w / 2;
    x = Math.min(Math.max(8, x), win.innerWidth - w - 8);
    let y = r.bottom + 8;
    if (y + h > win.innerHeight - 8) y = r.top - h - 8;
    this.el.style.left = `${Math.round(x)}px`;
    this.el.style.top = `${Math.round(Math.max(8, y))}px`;
  }
}
