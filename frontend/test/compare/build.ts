// Test helpers of the compare view: analyses built by hand (attention given per layer and head,
// float16 like the server's), with optional predictions.
import type { Prediction } from "../../src/api/types";
import { AttentionLayers, AttentionTensor } from "../../src/attention/frame";
import type { Analysis } from "../../src/store";
import { floatToHalf, tokens } from "../fixtures/frame";

/** Uniform attention over the first i+1 tokens (causal) for every row. */
export function causal(T: number): number[] {
  const m: number[] = [];
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) m.push(j <= i ? 1 / (i + 1) : 0);
  return m;
}

/** Each token attends to itself only. */
export function identity(T: number): number[] {
  const m: number[] = [];
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) m.push(i === j ? 1 : 0);
  return m;
}

export interface Built {
  texts: string[];
  /** [layer][head] -> T*T values (row-major); a missing layer is left out of the payload. */
  heads: (number[][] | null)[];
  special?: number[];
  masked?: number[];
  predictions?: Prediction[][] | null;
  maskToken?: string | null;
  model?: string;
  text?: string;
}

export function analysis(b: Built): Analysis {
  const T = b.texts.length;
  const L = b.heads.length;
  const H = b.heads.find((x) => x)?.length ?? 1;
  const toks = tokens(b.texts, b.special ?? []).map((t, i) => ({ ...t, masked: (b.masked ?? []).includes(i) }));
  const header = {
    analysis_id: "x",
    model: b.model ?? "m",
    kind: "bidirectional" as const,
    text: b.text ?? b.texts.join(" "),
    text_b: null,
    mask: b.masked ?? [],
    n_layers: L,
    n_heads: H,
    tokens: toks,
    predictions: b.predictions ?? null,
    predictions_unavailable: b.predictions ? null : "no head",
    attention: { dtype: "float16" as const, shape: [L, H, T, T], layers: [...Array(L).keys()], mode: "full" as const, offset: 0 },
  };
  const attention = new AttentionLayers(L, H, T);
  b.heads.forEach((hs, l) => {
    if (!hs) return;
    const raw = Uint16Array.from(hs.flat(), floatToHalf);
    attention.add(new AttentionTensor(raw, [1, H, T, T], [l]));
  });
  return { header, attention, maskToken: b.maskToken === undefined ? "[MASK]" : b.maskToken, id: "x" };
}

export const pred = (token: string, prob: number, token_id = token.length * 1000 + token.charCodeAt(0)): Prediction => ({ token, prob, token_id });
