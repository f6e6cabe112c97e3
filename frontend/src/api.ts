// HTTP client for the exbert server (docs/API.md). Errors come back as
// {"error": {"type", "message", "status", "details"}} and are thrown as ApiError.

import type { CorpusInfo, HeadRanking, SearchRequest, SearchResult } from "./corpus";
import { decodeFrame, type DecodedFrame, type ModelKind } from "./payload";

export interface ModelInfo {
  name: string;
  kind: ModelKind;
  architecture?: string;
  model_type?: string;
  layers: number;
  heads: number;
  kv_heads?: number;
  hidden_size?: number;
  head_dim?: number;
  vocab_size?: number;
  max_positions?: number;
  max_tokens: number;
  special_tokens?: string[];
  has_lm_head?: boolean;
  mask_token: string | null;
}

export interface AnalyzeRequest {
  model: string;
  text: string;
  text_b: string | null;
  mask: number[];
  top_k: number;
  layers: number[] | null;
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    readonly type: string,
    readonly status: number,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

/** Base URL of the API ("" = same origin, which is how the server serves the app). */
let base = "";
export function setApiBase(url: string): void {
  base = url.replace(/\/+$/, "");
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (body as { error?: { type?: string; message?: string; status?: number; details?: unknown } } | null)
    ?.error;
  if (e && typeof e.message === "string") {
    return new ApiError(e.message, e.type ?? "Error", e.status ?? res.status, e.details ?? null);
  }
  // FastAPI's own validation errors: {"detail": ...}
  const detail = (body as { detail?: unknown } | null)?.detail;
  const msg = typeof detail === "string" ? detail : `server answered ${res.status} ${res.statusText}`.trim();
  return new ApiError(msg, "HttpError", res.status, detail ?? null);
}

async function request(path: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(base + path, init);
  } catch (err) {
    if ((err as Error)?.name === "AbortError") throw err;
    throw new ApiError("could not reach the exbert server; is `exbert serve` running?", "NetworkError", 0);
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

function postJson(path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Response> {
  return request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: accept },
    body: JSON.stringify(body),
    signal,
  });
}

export async function fetchModels(signal?: AbortSignal): Promise<ModelInfo[]> {
  const res = await request("/api/models", { signal });
  const body = (await res.json()) as { models: ModelInfo[] };
  return body.models;
}

export async function analyze(req: AnalyzeRequest, signal?: AbortSignal): Promise<DecodedFrame> {
  const res = await postJson("/api/analyze", req, "application/x-exbert-analysis", signal);
  const buf = await res.arrayBuffer();
  try {
    return decodeFrame(buf);
  } catch (err) {
    throw new ApiError(`could not read the server's answer: ${(err as Error).message}`, "BadPayload", res.status);
  }
}

export async function fetchCorpora(signal?: AbortSignal): Promise<CorpusInfo[]> {
  const res = await request("/api/corpora", { signal });
  const body = (await res.json()) as { corpora?: CorpusInfo[] };
  return body.corpora ?? [];
}

export async function fetchHeadRanking(corpus: string, signal?: AbortSignal): Promise<HeadRanking> {
  const res = await request(`/api/corpora/${encodeURIComponent(corpus)}/heads`, { signal });
  return (await res.json()) as HeadRanking;
}

export async function searchCorpus(req: SearchRequest, signal?: AbortSignal): Promise<SearchResult> {
  const res = await postJson("/api/search", req, "application/json", signal);
  return (await res.json()) as SearchResult;
}
