// The lazy-analysis routes of the server (docs/API.md, "Analyses by id"): every answer is an EXB1
// frame whose JSON header has {"dtype": "float16", "shape": [...], "offset": N} and float16 data.
// Nothing here re-runs the model: the server answers from the analysis it keeps under `id`
// (404 UnknownAnalysis once it has been evicted: analyse the text again).
//
//   GET /api/analyses/{id}/blocks?layer=&bins=&heads=       -> [heads, bins, bins]
//   GET /api/analyses/{id}/window?layer=&start=&stop=&heads= -> [heads, W, W]
//   GET /api/analyses/{id}/rows?layer=&heads=&rows=&weights=&direction=out|in -> [rows, T]
//   GET /api/analyses/{id}/stats                             -> [S, L, H], header "names"
//   GET /api/analyses/{id}/attention?layers=                 -> the analysis frame (full mode)

import { ApiError, request } from "../api/client";
import type { AnalysisHeader } from "../api/types";
import { decodeFrame, halfArrayToFloat32, type DecodedFrame } from "../attention/frame";

/** A float array as the routes send it (row-major, C order): float16 bits, float32 on demand. */
export class Arr {
  private floats: Float32Array | null = null;

  constructor(
    readonly shape: number[],
    readonly raw: Uint16Array,
    readonly header: Record<string, unknown>,
  ) {}

  get data(): Float32Array {
    this.floats ??= halfArrayToFloat32(this.raw);
    return this.floats;
  }
}


const MAGIC = [0x45, 0x58, 0x42, 0x31]; // "EXB1"

/** The JSON header of an EXB1 frame and where it ends. */
export function readFrameHeader(buf: ArrayBuffer): { header: Record<string, unknown>; end: number } {
  const bytes = new Uint8Array(buf);
  if (bytes.length < 8 || MAGIC.some((c, k) => bytes[k] !== c)) throw new Error("not an EXB1 frame (bad magic)");
  const n = new DataView(buf).getUint32(4, true);
  if (8 + n > bytes.length) throw new Error("EXB1 frame is truncated (header)");
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, end: 8 + n };
}

/** Decode an array frame: float16 data of `shape` at `offset` (top level, or under "attention"). */
export function decodeArray(buf: ArrayBuffer): Arr {
  const { header, end } = readFrameHeader(buf);
  const meta = (typeof header.shape === "object" ? header : header.attention) as { dtype?: string; shape?: number[]; offset?: number } | undefined;
  if (!meta || !Array.isArray(meta.shape) || typeof meta.offset !== "number") throw new Error("the frame has no array shape");
  if (meta.dtype !== undefined && meta.dtype !== "float16") throw new Error(`unsupported dtype ${meta.dtype}`);
  const count = meta.shape.reduce((a, b) => a * b, 1);
  if (meta.offset < end || meta.offset + 2 * count > buf.byteLength) throw new Error("EXB1 frame is truncated (data)");
  let raw: Uint16Array;
  if (meta.offset % 2 === 0) raw = new Uint16Array(buf, meta.offset, count);
  else {
    const dv = new DataView(buf);
    raw = new Uint16Array(count);
    for (let k = 0; k < count; k++) raw[k] = dv.getUint16(meta.offset + 2 * k, true);
  }
  return new Arr(meta.shape, raw, header);
}

/** The server's answer to POST /api/analyze: a full frame, or the header of a lazy analysis. */
export type Analyzed = { mode: "full"; id: string | null; frame: DecodedFrame } | { mode: "lazy"; id: string; header: AnalysisHeader };

export function decodeAnalyzed(buf: ArrayBuffer, status = 200): Analyzed {
  try {
    const header = readFrameHeader(buf).header as unknown as AnalysisHeader;
    const id = typeof header.analysis_id === "string" ? header.analysis_id : null;
    if (header.attention?.mode === "lazy") {
      if (!id) throw new Error("a lazy analysis without an id");
      return { mode: "lazy", id, header };
    }
    return { mode: "full", id, frame: decodeFrame(buf) };
  } catch (err) {
    throw new ApiError(`could not read the server's answer: ${(err as Error).message}`, "BadPayload", status);
  }
}

/** Retries of a GET answered 503 (the server's memory budget is busy; Retry-After seconds). */
export const RETRIES = 2;
const MAX_WAIT_S = 30;

/** The seconds a 503 asks to wait (its details' `retry_after`), or null for other errors. */
export function retryAfter(err: unknown): number | null {
  if (!(err instanceof ApiError) || err.status !== 503) return null;
  const s = Number((err.details as { retry_after?: unknown } | null)?.retry_after ?? 1);
  return Number.isFinite(s) && s >= 0 ? Math.min(s, MAX_WAIT_S) : 1;
}

/** GET a binary route; a 503 (busy) is retried after its Retry-After, RETRIES times. */
async function getRetrying(path: string, signal?: AbortSignal): Promise<Response> {
  for (let k = 0; ; k++) {
    try {
      return await request(path, { signal, headers: { Accept: "application/x-exbert-analysis" } });
    } catch (err) {
      const wait = retryAfter(err);
      if (wait === null || k >= RETRIES || signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
  }
}

const list = (xs: readonly number[]) => xs.join(",");
const num = (x: number) => String(Math.round(x * 1e4) / 1e4);

/** The routes of one analysis. */
export class AnalysisRoutes {
  constructor(readonly id: string) {}

  private path(route: string, q: Record<string, string> = {}): string {
    const qs = new URLSearchParams(q).toString();
    return `/api/analyses/${encodeURIComponent(this.id)}/${route}${qs ? `?${qs}` : ""}`;
  }

  private async get(route: string, q: Record<string, string>, signal?: AbortSignal): Promise<Arr> {
    const res = await getRetrying(this.path(route, q), signal);
    const buf = await res.arrayBuffer();
    try {
      return decodeArray(buf);
    } catch (err) {
      throw new ApiError(`could not read the server's answer: ${(err as Error).message}`, "BadPayload", res.status);
    }
  }

  blocks(layer: number, bins: number, heads: readonly number[], signal?: AbortSignal): Promise<Arr> {
    return this.get("blocks", { layer: String(layer), bins: String(bins), heads: list(heads) }, signal);
  }

  window(layer: number, start: number, stop: number, heads: readonly number[], signal?: AbortSignal): Promise<Arr> {
    return this.get("window", { layer: String(layer), start: String(start), stop: String(stop), heads: list(heads) }, signal);
  }

  rows(q: RowsQuery, signal?: AbortSignal): Promise<Arr> {
    return this.get(
      "rows",
      { layer: String(q.layer), heads: list(q.heads), rows: list(q.rows), weights: q.weights.map(num).join(","), direction: q.direction },
      signal,
    );
  }

  stats(signal?: AbortSignal): Promise<Arr> {
    return this.get("stats", {}, signal);
  }

  async attention(layers: readonly number[], signal?: AbortSignal): Promise<DecodedFrame> {
    const res = await getRetrying(this.path("attention", { layers: list(layers) }), signal);
    const buf = await res.arrayBuffer();
    try {
      return decodeFrame(buf);
    } catch (err) {
      throw new ApiError(`could not read the server's answer: ${(err as Error).message}`, "BadPayload", res.status);
    }
  }
}

export interface RowsQuery {
  layer: number;
  heads: number[];
  weights: number[];
  rows: number[];
  direction: "out" | "in";
}
