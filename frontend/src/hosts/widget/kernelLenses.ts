// The widget's lenses, asked of the kernel when the view first needs them (a lens panel opened,
// the rollout mode chosen): nothing is computed with the analysis (src/exbert/notebook/lenses.py).
//
//   view -> kernel  {type: "lens", id, part: "logit_lens" | "head_scores" | "rollout" | "flow"}
//   kernel -> view  {type: "lens", id, part, key: {text, text_b, mask, n_tokens} | null, result}
//                   (+ one buffer: the rollout's float16 array frame)
//
// The kernel answers for the analysis it holds: an answer whose `key` is not the analysis the
// question was about (the kernel moved on to a newer one) is ignored, and the question rejected;
// the view asks again for the analysis it then shows. Answers are kept for the latest analysis
// asked about only (a layer change that brings a new frame of the same analysis asks nothing).

import { EmbeddedLenses, isFor, type Arrays, type EmbeddedLensInfo, type LensArrays, type LensParts, type Part } from "../../lenses/embedded";
import type { HeadScoresData, LogitLensData } from "../../lenses/source";
import type { Analysis } from "../../store";

export type LensPartName = "logit_lens" | "head_scores" | "rollout" | "flow";

export interface LensAnswer {
  type: "lens";
  id: string;
  part: LensPartName;
  key: EmbeddedLensInfo["key"] | null;
  result: unknown;
}

interface Answer {
  result: unknown;
  bytes: ArrayBuffer | ArrayBufferView | null;
}

/** The message sent when an answer belongs to an analysis the view no longer shows. */
export const SUPERSEDED = "the kernel has moved on to another analysis";

function keyOf(a: Analysis): string {
  const h = a.header;
  return JSON.stringify([h.text, h.text_b ?? null, h.mask ?? [], h.tokens.length]);
}

let views = 0;

export class KernelLensParts implements LensParts {
  private readonly prefix = `${Date.now().toString(36)}-${++views}-`;
  private next = 0;
  private readonly pending = new Map<string, { a: Analysis; part: LensPartName; key: string; resolve: (v: Answer) => void; reject: (e: Error) => void }>();
  private cache: { key: string; parts: Map<LensPartName, Promise<Answer>> } | null = null;
  /** Questions sent to the kernel (tests). */
  sent = 0;

  /** `send` passes a message to the kernel (the widget model's `send`). */
  constructor(private readonly send: (content: { type: "lens"; id: string; part: LensPartName }) => void) {}

  private ask(a: Analysis, part: LensPartName): Promise<Answer> {
    const key = keyOf(a);
    if (this.cache?.key !== key) this.cache = { key, parts: new Map() };
    let p = this.cache.parts.get(part);
    if (!p) {
      const id = this.prefix + String(++this.next);
      p = new Promise<Answer>((resolve, reject) => this.pending.set(id, { a, part, key, resolve, reject }));
      this.cache.parts.set(part, p);
      this.sent++;
      this.send({ type: "lens", id, part });
    }
    return p;
  }

  /** A custom message from the kernel: returns whether it was a lens answer (of this view). */
  receive(content: unknown, buffers?: readonly (ArrayBuffer | ArrayBufferView)[]): boolean {
    const m = content as Partial<LensAnswer> | null;
    if (!m || typeof m !== "object" || m.type !== "lens" || typeof m.id !== "string") return false;
    const q = this.pending.get(m.id);
    if (!q) return false;
    this.pending.delete(m.id);
    // key null: the kernel has no lenses to give (an error in `result`), for whatever analysis
    if (m.key && !isFor({ key: m.key }, q.a)) {
      if (this.cache?.key === q.key) this.cache.parts.delete(q.part);
      q.reject(new Error(SUPERSEDED));
      return true;
    }
    q.resolve({ result: m.result, bytes: buffers && buffers.length ? buffers[0] : null });
    return true;
  }

  async logitLens(a: Analysis): Promise<Part<LogitLensData>> {
    return (await this.ask(a, "logit_lens")).result as Part<LogitLensData>;
  }

  async headScores(a: Analysis): Promise<Part<HeadScoresData>> {
    return (await this.ask(a, "head_scores")).result as Part<HeadScoresData>;
  }

  async arrays(a: Analysis, mode: "rollout" | "flow"): Promise<LensArrays> {
    const got = await this.ask(a, mode);
    return { meta: got.result as Arrays, bytes: got.bytes };
  }
}

/** The widget's LensSource: its parts asked of the kernel through `send`; feed the kernel's
 * custom messages to `parts.receive`. */
export function kernelLensSource(send: ConstructorParameters<typeof KernelLensParts>[0]): { source: EmbeddedLenses; parts: KernelLensParts } {
  const parts = new KernelLensParts(send);
  return { source: new EmbeddedLenses(parts), parts };
}
