import { describe, expect, it } from "vitest";
import { AttentionLayers, decodeFrame, FrameError, halfArrayToFloat32, halfToFloat } from "../../src/attention/frame";
import { buildFrame, floatToHalf, tokens } from "../fixtures/frame";

const header = (L: number, H: number, T: number, layers?: number[]) => ({
  analysis_id: "a1",
  model: "m",
  kind: "bidirectional" as const,
  text: "héllo wörld",
  text_b: null,
  mask: [],
  n_layers: L,
  n_heads: H,
  tokens: tokens(Array.from({ length: T }, (_, i) => `t${i}`)),
  predictions: null,
  predictions_unavailable: "no lm head",
  attention: { dtype: "float16" as const, mode: "full" as const, shape: [layers?.length ?? L, H, T, T], layers: layers ?? Array.from({ length: L }, (_, l) => l) },
});

describe("float16", () => {
  it("decodes known bit patterns, including subnormals and specials", () => {
    expect(halfToFloat(0x0000)).toBe(0);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0x3800)).toBe(0.5);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(halfToFloat(0x0400)).toBe(2 ** -14); // smallest normal
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x3555)).toBe(0.333251953125);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it("the table conversion agrees with the scalar one everywhere", () => {
    const all = new Uint16Array(65536).map((_, k) => k);
    const f = halfArrayToFloat32(all);
    const bad: number[] = [];
    for (let k = 0; k < 65536; k += 1) {
      const b = Math.fround(halfToFloat(k));
      if (!(Object.is(f[k], b) || (Number.isNaN(b) && Number.isNaN(f[k])))) bad.push(k);
    }
    expect(bad).toEqual([]);
  });

  it("the test encoder round-trips through the decoder", () => {
    for (const x of [0, 1, 0.5, 0.25, 2 ** -24, 3 * 2 ** -24, 2 ** -14, 0.1, 65504, -3.5]) {
      expect(halfToFloat(floatToHalf(x))).toBeCloseTo(x, 3);
    }
  });
});

describe("decodeFrame", () => {
  it("decodes header and attention of a hand-built frame", () => {
    const L = 2, H = 2, T = 3;
    const bits = new Uint16Array(L * H * T * T);
    // layer 1, head 0: known values
    const known = [0x0000, 0x3c00, 0x3800, 0x0001, 0x03ff, 0x0400, 0x3555, 0x7bff, 0xc000];
    known.forEach((b, k) => (bits[(1 * H + 0) * T * T + k] = b));
    bits[(0 * H + 1) * T * T + 4] = 0x3400; // layer 0, head 1, [1,1] = 0.25
    const buf = buildFrame(header(L, H, T), bits);
    const { header: hd, attention } = decodeFrame(buf);
    expect(hd.text).toBe("héllo wörld");
    expect(hd.tokens).toHaveLength(3);
    expect(hd.predictions).toBeNull();
    expect(hd.attention.offset % 8).toBe(0);
    expect(attention.T).toBe(3);
    expect(attention.nHeads).toBe(2);
    expect(Array.from(attention.head(1, 0))).toEqual([
      0, 1, 0.5, 2 ** -24, Math.fround(1023 * 2 ** -24), 2 ** -14, 0.333251953125, 65504, -2,
    ]);
    expect(attention.head(0, 1)[4]).toBe(0.25);
    expect(attention.head(0, 0).every((v) => v === 0)).toBe(true);
    expect(attention.head(1, 0)).toBe(attention.head(1, 0)); // cached
  });

  it("decodes from an unaligned byte view", () => {
    const bits = new Uint16Array([0x3c00, 0x3800, 0x3400, 0x3000]);
    const buf = buildFrame(header(1, 1, 2), bits);
    const shifted = new Uint8Array(buf.byteLength + 1);
    shifted.set(new Uint8Array(buf), 1);
    const { attention } = decodeFrame(shifted.subarray(1));
    expect(Array.from(attention.head(0, 0))).toEqual([1, 0.5, 0.25, 0.125]);
  });

  it("maps a partial payload's layers to model layer indices", () => {
    const bits = new Uint16Array(1 * 1 * 2 * 2).fill(0x3800);
    const { attention } = decodeFrame(buildFrame(header(6, 1, 2, [4]), bits));
    expect(attention.has(4)).toBe(true);
    expect(attention.has(0)).toBe(false);
    expect(attention.head(4, 0)[0]).toBe(0.5);
    expect(() => attention.head(0, 0)).toThrow(RangeError);
    const layers = new AttentionLayers(6, 1, 2);
    layers.add(attention);
    expect(layers.missingLayers()).toEqual([0, 1, 2, 3, 5]);
  });

  it("rejects bad magic and truncated frames", () => {
    const buf = buildFrame(header(1, 1, 2), new Uint16Array(4));
    const bad = new Uint8Array(buf.slice(0));
    bad[0] = 0x58;
    expect(() => decodeFrame(bad)).toThrow(FrameError);
    expect(() => decodeFrame(buf.slice(0, buf.byteLength - 2))).toThrow(/truncated/);
  });
});
