// The web app's browser history: the URL follows the store (url.ts encodes it), one history
// entry per view change, so that Back and Forward step through views.
//
// - A change of the view or the inputs (model, text, layer, heads, weights, mask, threshold,
//   special switch, the lenses' mode/panel/detector, the compare view's input B) pushes an
//   entry (B's analysis arriving changes no URL). Rapid changes of the same control (a slider
//   drag, a held arrow key: the same parameters again within GROUP_MS of the last write)
//   replace it instead.
// - Changes made in one task (a model switch that also re-analyses) are written once, at the end
//   of the task (a microtask).
// - Changes of the corpus search only (corpus, last search, filters) replace the entry: Back
//   and Forward step through views, not searches.
// - The app's own normalisation of a link (the default model filled in, a view fitted to the
//   model) and the state after Back/Forward replace the entry (`start("replace")`, `popped`).
// - While stopped (a link naming a model the server does not serve), nothing is written: the
//   URL stays as the user gave it.
//
// - A text too long for the URL (url.ts, MAX_URL_TEXT_CHARS) is kept in the entry's state
//   (`history.state`) instead; a change of it is a change of the inputs like any other.
//
// Browsers ignore history updates beyond ~200 per 10 s; past URL_WRITES_PER_10S writes, a
// trailing write after THROTTLE_MS catches the last change.

import { entryState, entryTexts, URL_PARAMS_OF_VIEW, urlQuery, urlTexts, type UrlTexts } from "./url";
import type { State, Store } from "../../store";

/** The part of `window.history` and `location` that the app uses (a stand-in in unit tests). */
export interface HistoryPort {
  /** The current query string, with or without "?". */
  search(): string;
  /** The texts kept in the current entry's state (left out of its URL), or null. */
  texts(): UrlTexts | null;
  /** A new entry with this query and the texts left out of it (null: none). */
  push(query: string, texts: UrlTexts | null): void;
  replace(query: string, texts: UrlTexts | null): void;
}

export const GROUP_MS = 500;
const URL_WRITES_PER_10S = 120;
const THROTTLE_MS = 250;

const strip = (q: string) => (q.startsWith("?") ? q.slice(1) : q);

/**
 * The view/input parameters whose values differ between two query strings (with the texts their
 * entries keep out of the URL, if any), sorted.
 */
export function changedViewParams(a: string, b: string, ta: UrlTexts | null = null, tb: UrlTexts | null = null): string[] {
  const pa = withTexts(new URLSearchParams(a), ta);
  const pb = withTexts(new URLSearchParams(b), tb);
  return URL_PARAMS_OF_VIEW.filter((k) => pa.get(k) !== pb.get(k));
}

function withTexts(p: URLSearchParams, t: UrlTexts | null): URLSearchParams {
  if (t?.text) p.set("text", t.text);
  if (t?.textB) p.set("text_b", t.textB);
  return p;
}

const sameTexts = (a: UrlTexts | null, b: UrlTexts | null) => a === b || (a !== null && b !== null && a.text === b.text && a.textB === b.textB);

/** The browser's history and location. */
export function browserHistory(win: Window = window): HistoryPort {
  const url = (q: string) => (q ? `?${q}` : win.location.pathname) + win.location.hash;
  return {
    search: () => win.location.search,
    texts: () => entryTexts(win.history.state),
    push: (q, t) => win.history.pushState(entryState(t), "", url(q)),
    replace: (q, t) => win.history.replaceState(entryState(t), "", url(q)),
  };
}

type Mode = "auto" | "replace";

export class UrlHistory {
  private active = false;
  private written: string;
  /** The texts the written entry keeps in its state (null: none, or in its URL). */
  private writtenTexts: UrlTexts | null;
  /** The parameters the last push/replace of a view change changed, and when. */
  private lastKeys = "";
  private lastAt = -Infinity;
  private scheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writes: number[] = [];

  constructor(
    private readonly store: Store<State>,
    private readonly port: HistoryPort = browserHistory(),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.written = strip(port.search());
    this.writtenTexts = port.texts();
    store.subscribe(() => this.schedule());
  }

  /**
   * Write the URL from the store from now on. "replace": the first write replaces the current
   * entry (the app's normalisation of a link); "auto": it is a change like any other (pushed).
   */
  start(mode: Mode): void {
    this.active = true;
    this.written = strip(this.port.search());
    this.writtenTexts = this.port.texts();
    this.lastKeys = "";
    this.flush(mode);
  }

  /** Stop writing: the URL stays as it is until `start`. */
  stop(): void {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Back/Forward moved to another entry: the URL is that entry's (call before applying it). */
  popped(): void {
    this.written = strip(this.port.search());
    this.writtenTexts = this.port.texts();
    this.lastKeys = "";
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (!this.active || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush("auto");
    });
  }

  private flush(mode: Mode): void {
    if (!this.active || this.timer) return;
    const q = urlQuery(this.store.state);
    const texts = urlTexts(this.store.state);
    if (q === this.written && sameTexts(texts, this.writtenTexts)) return;
    const t = this.now();
    this.writes = this.writes.filter((w) => t - w < 10_000);
    if (this.writes.length >= URL_WRITES_PER_10S) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush(mode);
      }, THROTTLE_MS);
      return;
    }
    const keys = changedViewParams(this.written, q, this.writtenTexts, texts).join(",");
    const grouped = keys !== "" && keys === this.lastKeys && t - this.lastAt < GROUP_MS;
    const push = mode === "auto" && keys !== "" && !grouped;
    if (mode === "auto" && keys !== "") {
      this.lastKeys = keys;
      this.lastAt = t;
    }
    this.writes.push(t);
    this.written = q;
    this.writtenTexts = texts;
    if (push) this.port.push(q, texts);
    else this.port.replace(q, texts);
  }
}
