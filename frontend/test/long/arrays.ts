// Test helper: the EXB1 array frames of the lazy-analysis routes, built by hand (independently of
// the decoder under test): header {"dtype": "float16", "shape", "offset", ...extra}.
import type { LongDoc } from "../../src/store";
import { floatToHalf, tokens } from "../fixtures/frame";

export function arrayFrame(shape: number[], values: ArrayLike<number>, extra: Record<string, unknown> = {}): ArrayBuffer {
  let offset = 0;
  let json = "";
  for (let k = 0; k < 4; k++) {
    json = JSON.stringify({ ...extra, dtype: "float16", shape, offset });
    const next = Math.ceil((8 + new TextEncoder().encode(json).length) / 8) * 8;
    if (next === offset) break;
    offset = next;
  }
  const hb = new TextEncoder().encode(json);
  const buf = new ArrayBuffer(offset + 2 * values.length);
  const bytes = new Uint8Array(buf);
  bytes.set([0x45, 0x58, 0x42, 0x31], 0);
  const dv = new DataView(buf);
  dv.setUint32(4, hb.length, true);
  bytes.set(hb, 8);
  for (let k = 0; k < values.length; k++) dv.setUint16(offset + 2 * k, floatToHalf(values[k]), true);
  return buf;
}

/** A lazy analysis' document of T tokens named `${prefix}w${i}` (no attention bytes). */
export function lazyDoc(id: string, dims: { L: number; H: number; T: number }, prefix = ""): LongDoc {
  const { L, H, T } = dims;
  const texts = Array.from({ length: T }, (_, i) => `${prefix}w${i}`);
  const header = {
    analysis_id: id,
    model: "smollm2-135m",
    kind: "autoregressive" as const,
    text: texts.join(" "),
    text_b: null,
    mask: [],
    n_layers: L,
    n_heads: H,
    tokens: tokens(texts),
    predictions: null,
    predictions_unavailable: "x",
    attention: { dtype: "float16" as const, shape: [L, H, T, T], layers: [], offset: 0, mode: "lazy" as const },
  };
  return { id, header, maskToken: null };
}
