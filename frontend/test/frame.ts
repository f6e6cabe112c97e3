// Test helpers: build EXB1 frames by hand (independently of the decoder under test).
import type { AnalysisHeader, TokenInfo } from "../src/payload";

/** float32 -> float16 bits, round to nearest even (enough for building test frames). */
export function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Assemble "EXB1" | u32 LE n | header JSON | zero pad to 8 | float16 LE values. */
export function buildFrame(header: Omit<AnalysisHeader, "attention"> & { attention: Omit<AnalysisHeader["attention"], "offset"> }, bits: ArrayLike<number>): ArrayBuffer {
  // The offset depends on the header length, which depends on the offset's digits: iterate.
  let offset = 0;
  let json = "";
  for (let k = 0; k < 4; k++) {
    json = JSON.stringify({ ...header, attention: { ...header.attention, offset } });
    const n = new TextEncoder().encode(json).length;
    const next = Math.ceil((8 + n) / 8) * 8;
    if (next === offset) break;
    offset = next;
  }
  const hb = new TextEncoder().encode(json);
  const buf = new ArrayBuffer(offset + 2 * bits.length);
  const bytes = new Uint8Array(buf);
  bytes.set([0x45, 0x58, 0x42, 0x31], 0);
  const dv = new DataView(buf);
  dv.setUint32(4, hb.length, true);
  bytes.set(hb, 8);
  for (let k = 0; k < bits.length; k++) dv.setUint16(offset + 2 * k, bits[k], true);
  return buf;
}

export function tokens(texts: string[], special: number[] = []): TokenInfo[] {
  let pos = 0;
  return texts.map((text, i) => {
    const sp = special.includes(i);
    const t: TokenInfo = { text, start: sp ? pos : pos, end: sp ? pos : pos + text.length, special: sp, segment: 0, masked: false };
    if (!sp) pos += text.length + 1;
    return t;
  });
}

/** A frame of random row-stochastic attention (causal when asked) for L layers, H heads. */
export function randomFrame(
  texts: string[],
  special: number[],
  L: number,
  H: number,
  opts: { causal?: boolean; seed?: number; kind?: "bidirectional" | "autoregressive"; model?: string } = {},
): ArrayBuffer {
  const T = texts.length;
  let s = opts.seed ?? 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const bits = new Uint16Array(L * H * T * T);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const row = new Float64Array(T);
        let sum = 0;
        for (let j = 0; j < T; j++) {
          if (opts.causal && j > i) continue;
          row[j] = rnd() ** 4;
          sum += row[j];
        }
        for (let j = 0; j < T; j++) bits[((l * H + h) * T + i) * T + j] = floatToHalf(row[j] / sum);
      }
  return buildFrame(
    {
      model: opts.model ?? "test",
      kind: opts.kind ?? (opts.causal ? "autoregressive" : "bidirectional"),
      text: texts.filter((_, i) => !special.includes(i)).join(" "),
      text_b: null,
      mask: [],
      n_layers: L,
      n_heads: H,
      tokens: tokens(texts, special),
      predictions: texts.map((t) => [
        { token: t.toUpperCase(), prob: 0.5 },
        { token: "x", prob: 0.25 },
      ]),
      predictions_unavailable: null,
      attention: { dtype: "float16", shape: [L, H, T, T], layers: Array.from({ length: L }, (_, l) => l) },
    },
    bits,
  );
}
