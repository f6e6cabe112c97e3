// Decoding of the binary EXB1 analysis frame (see docs/API.md):
//   "EXB1" | uint32 LE header length N | N bytes UTF-8 JSON header | zero pad |
//   float16 LE attention at header.attention.offset, C order, shape [layers, heads, T, T].
// float16 is converted to float32 here (no reliance on Float16Array), lazily per (layer, head).
// The header's type is generated from the server's schema (src/api/types.ts).

import type { AnalysisHeader } from "../api/types";

export interface DecodedFrame {
  header: AnalysisHeader;
  attention: AttentionTensor;
}

const MAGIC = [0x45, 0x58, 0x42, 0x31]; // "EXB1"

/** Convert one IEEE 754 binary16 bit pattern to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

let lut: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!lut) {
    lut = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) lut[b] = halfToFloat(b);
  }
  return lut;
}

/** Convert a run of float16 bit patterns to float32. */
export function halfArrayToFloat32(src: ArrayLike<number>, dst = new Float32Array(src.length)): Float32Array {
  const t = halfTable();
  for (let k = 0; k < src.length; k++) dst[k] = t[src[k]];
  return dst;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class FrameError extends Error {
  override name = "FrameError";
}

/** The float16 attention of some layers: shape [layers.length, heads, T, T]. */
export class AttentionTensor {
  readonly nHeads: number;
  readonly T: number;
  readonly layers: readonly number[];
  private readonly raw: Uint16Array;
  private readonly cache = new Map<number, Float32Array>();

  constructor(raw: Uint16Array, shape: readonly number[], layers: readonly number[]) {
    if (shape.length !== 4) throw new FrameError(`attention shape ${JSON.stringify(shape)} is not 4-D`);
    const [nl, nh, t1, t2] = shape;
    if (t1 !== t2) throw new FrameError(`attention is ${t1} x ${t2}, not square`);
    if (layers.length !== nl) throw new FrameError(`attention has ${nl} layers but lists ${layers.length}`);
    if (raw.length !== nl * nh * t1 * t2) {
      throw new FrameError(`attention has ${raw.length} values, shape needs ${nl * nh * t1 * t2}`);
    }
    this.raw = raw;
    this.nHeads = nh;
    this.T = t1;
    this.layers = layers;
  }

  has(layer: number): boolean {
    return this.layers.includes(layer);
  }

  /** Head `h` of model layer `layer` as a row-major T x T Float32Array (cached; do not mutate). */
  head(layer: number, h: number): Float32Array {
    const li = this.layers.indexOf(layer);
    if (li < 0) throw new RangeError(`layer ${layer} is not in this payload`);
    if (h < 0 || h >= this.nHeads) throw new RangeError(`head ${h} out of range`);
    const key = li * this.nHeads + h;
    let m = this.cache.get(key);
    if (!m) {
      const n = this.T * this.T;
      m = halfArrayToFloat32(this.raw.subarray(key * n, (key + 1) * n));
      this.cache.set(key, m);
    }
    return m;
  }
}

/** Decode an EXB1 frame. Accepts the response's ArrayBuffer or any byte view of it. */
export function decodeFrame(input: ArrayBuffer | ArrayBufferView): DecodedFrame {
  const bytes =
    input instanceof ArrayBuffer
      ? new Uint8Array(input)
      : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < 8 || MAGIC.some((c, k) => bytes[k] !== c)) {
    throw new FrameError("not an EXB1 frame (bad magic)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(4, true);
  if (8 + n > bytes.length) throw new FrameError("EXB1 frame is truncated (header)");
  const header = JSON.parse(new TextDecoder("utf-8").decode(bytes.subarray(8, 8 + n))) as AnalysisHeader;
  const meta = header.attention;
  if (!meta || meta.dtype !== "float16") {
    throw new FrameError(`unsupported attention dtype ${meta?.dtype}`);
  }
  const count = meta.shape.reduce((a, b) => a * b, 1);
  const start = meta.offset;
  if (start < 8 + n || start + 2 * count > bytes.length) {
    throw new FrameError("EXB1 frame is truncated (attention)");
  }
  let raw: Uint16Array;
  const abs = bytes.byteOffset + start;
  if (littleEndian && abs % 2 === 0) {
    raw = new Uint16Array(bytes.buffer, abs, count);
  } else {
    raw = new Uint16Array(count);
    for (let k = 0; k < count; k++) raw[k] = view.getUint16(start + 2 * k, true);
  }
  return { header, attention: new AttentionTensor(raw, meta.shape, meta.layers) };
}

/**
 * The attention of one analysis, possibly gathered from several frames (one per layer when
 * the payload would be too large to send at once).
 */
export class AttentionLayers {
  private readonly parts: AttentionTensor[] = [];

  constructor(
    readonly nLayers: number,
    readonly nHeads: number,
    readonly T: number,
  ) {}

  /** The attention of one frame, sized by its header. */
  static of(frame: DecodedFrame): AttentionLayers {
    const h = frame.header;
    const out = new AttentionLayers(h.n_layers, h.n_heads, h.tokens.length);
    out.add(frame.attention);
    return out;
  }

  add(t: AttentionTensor): void {
    if (t.T !== this.T || t.nHeads !== this.nHeads) {
      throw new FrameError(`payload is ${t.nHeads} heads x ${t.T} tokens, expected ${this.nHeads} x ${this.T}`);
    }
    this.parts.push(t);
  }

  has(layer: number): boolean {
    return this.parts.some((p) => p.has(layer));
  }

  missingLayers(): number[] {
    const out: number[] = [];
    for (let l = 0; l < this.nLayers; l++) if (!this.has(l)) out.push(l);
    return out;
  }

  head(layer: number, h: number): Float32Array {
    const p = this.parts.find((q) => q.has(layer));
    if (!p) throw new RangeError(`layer ${layer} not loaded`);
    return p.head(layer, h);
  }
}
