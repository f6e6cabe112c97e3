// Search results: one row per match (rank, score, the sentence around the match). The matched
// token is highlighted, the token it attends to most (outward, for the searched heads) is
// underlined; every token shows its annotation (POS, tag, DEP and head, lemma, entity) in a
// tooltip on hover, followed by the metadata of the match's document (the .jsonl / Parquet
// fields besides the text: id, source, ...), which the rank number also shows on hover.
// Renders into a given container; no global state.

import type { CorpusToken, SearchMatch } from "../api/types";
import type { InfoTooltip } from "./infoTooltip";
import { documentMeta, tokenMeta } from "./labels";

/** Tokens shown on each side of the match (and of its max-attention token) before cutting. */
const CONTEXT_TOKENS = 14;

interface TokenRef {
  token: CorpusToken;
  match: SearchMatch;
  index: number;
}

export class ResultsView {
  readonly el: HTMLDivElement;
  private readonly refs = new WeakMap<Element, TokenRef>();
  private readonly docRefs = new WeakMap<Element, SearchMatch>();

  constructor(container: HTMLElement, private readonly tooltip: InfoTooltip) {
    const doc = container.ownerDocument;
    this.el = doc.createElement("div");
    this.el.className = "search-results";
    this.el.dataset.testid = "search-results";
    container.append(this.el);
    this.el.addEventListener("mouseover", (ev) => this.onOver(ev));
    this.el.addEventListener("mouseleave", () => this.tooltip.hide());
    this.el.addEventListener("scroll", () => this.tooltip.hide(), { passive: true });
  }

  clear(): void {
    this.el.replaceChildren();
    this.tooltip.hide();
  }

  update(matches: readonly SearchMatch[]): void {
    this.tooltip.hide();
    const doc = this.el.ownerDocument;
    const best = Math.max(1e-6, ...matches.map((m) => m.score));
    this.el.replaceChildren(
      ...matches.map((m) => {
        const row = doc.createElement("div");
        row.className = "search-result";
        row.dataset.testid = "search-result";
        row.dataset.rank = String(m.rank);
        row.dataset.score = String(m.score);
        row.dataset.sentence = String(m.sentence_id);
        row.dataset.position = String(m.position);
        const rank = doc.createElement("span");
        rank.className = "sr-rank";
        rank.textContent = String(m.rank + 1);
        if (m.document && Object.keys(m.document).length) {
          row.dataset.document = JSON.stringify(m.document);
          rank.classList.add("has-doc");
          this.docRefs.set(rank, m);
        }
        const score = doc.createElement("span");
        score.className = "sr-score";
        score.title = `similarity (cosine) ${m.score.toFixed(4)}`;
        const bar = doc.createElement("span");
        bar.className = "sr-score-bar";
        const fill = doc.createElement("span");
        fill.style.width = `${Math.round(100 * Math.max(0, Math.min(1, m.score / best)))}%`;
        bar.append(fill);
        const num = doc.createElement("span");
        num.className = "sr-score-num";
        num.textContent = m.score.toFixed(3);
        score.append(num, bar);
        row.append(rank, score, this.sentence(m));
        return row;
      }),
    );
  }

  private sentence(m: SearchMatch): HTMLElement {
    const doc = this.el.ownerDocument;
    const el = doc.createElement("span");
    el.className = "sr-sentence";
    const T = m.tokens.length;
    const out = m.max_attention ? m.max_attention.out : -1;
    const anchors = out >= 0 ? [m.position, out] : [m.position];
    let lo = Math.max(0, Math.min(...anchors) - CONTEXT_TOKENS);
    let hi = Math.min(T - 1, Math.max(...anchors) + CONTEXT_TOKENS);
    // Do not cut a word: extend to the first token of lo's word and the last of hi's.
    while (lo > 0 && m.tokens[lo].start < m.tokens[lo - 1].end && !m.tokens[lo - 1].special) lo--;
    while (hi < T - 1 && m.tokens[hi + 1].start < m.tokens[hi].end && !m.tokens[hi + 1].special) hi++;
    const firstText = m.tokens.findIndex((t) => !t.special);
    let lastText = -1;
    m.tokens.forEach((t, i) => (t.special ? null : (lastText = i)));
    if (lo > firstText && firstText >= 0) el.append(this.gap("\u2026 "));
    let prevEnd = -1;
    for (let i = lo; i <= hi; i++) {
      const t = m.tokens[i];
      const isMatch = i === m.position;
      const isMax = i === out;
      if (t.special && !isMatch && !isMax) continue;
      if (!t.special) {
        if (prevEnd >= 0 && t.start > prevEnd) el.append(this.gap(m.text.slice(prevEnd, t.start)));
        prevEnd = Math.max(prevEnd, t.end);
      } else if (prevEnd >= 0) {
        el.append(this.gap(" "));
      }
      const span = doc.createElement("span");
      span.className = "ctok";
      const text = t.special || t.end <= t.start ? t.text : m.text.slice(t.start, t.end);
      span.textContent = text;
      if (t.special) span.classList.add("special");
      if (isMatch) {
        span.classList.add("matched");
        span.dataset.testid = "matched-token";
      }
      if (isMax) {
        span.classList.add("maxatt");
        if (!isMatch) span.dataset.testid = "max-attention-token";
        else span.dataset.maxAttention = "true";
      }
      span.dataset.index = String(i);
      if (t.pos) span.dataset.pos = t.pos;
      if (t.dep) span.dataset.dep = t.dep;
      if (t.ent_type) span.dataset.ent = t.ent_type;
      this.refs.set(span, { token: t, match: m, index: i });
      el.append(span);
      if (t.special) el.append(this.gap(" "));
    }
    if (hi < lastText) el.append(this.gap(" \u2026"));
    return el;
  }

  private gap(text: string): Text {
    return this.el.ownerDocument.createTextNode(text);
  }

  private onOver(ev: Event): void {
    const rank = (ev.target as Element | null)?.closest?.(".sr-rank");
    const doc = rank ? this.docRefs.get(rank) : undefined;
    if (rank && doc) {
      this.tooltip.show(`match #${doc.rank + 1}`, documentMeta(doc.document), rank, "its document");
      return;
    }
    const target = (ev.target as Element | null)?.closest?.(".ctok");
    if (!target) {
      this.tooltip.hide();
      return;
    }
    const ref = this.refs.get(target);
    if (!ref) return;
    const { token, match, index } = ref;
    const rows = [...tokenMeta(token, match.tokens), ...documentMeta(match.document)];
    const notes: string[] = [];
    if (index === match.position) notes.push(`match #${match.rank + 1} \u00b7 score ${match.score.toFixed(3)}`);
    const ma = match.max_attention;
    if (ma && index === ma.out) notes.push(`the match attends to it most (${ma.out_weight.toFixed(2)})`);
    this.tooltip.show(token.text, rows, target, notes.join(" \u00b7 "));
  }
}
