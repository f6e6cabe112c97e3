// HTTP client for the exbert server (docs/API.md), same origin. Errors come back as
// {"error": {"type", "message", "status", "details"}} and are thrown as ApiError. The corpus
// calls are in src/corpus/api.ts.

import { decodeFrame, type DecodedFrame } from "../attention/frame";
import type { AnalyzeRequest, ErrorBody, ModelInfo } from "./types";

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

/** The message of any error, for the user. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? "unknown error");
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (body as Partial<ErrorBody> | null)?.error as Partial<ErrorBody["error"]> | undefined;
  if (e && typeof e.message === "string") {
    return new ApiError(e.message, e.type ?? "Error", e.status ?? res.status, e.details ?? null);
  }
  // FastAPI's own validation errors: {"detail": ...}
  const detail = (body as { detail?: unknown } | null)?.detail;
  const msg = typeof detail === "string" ? detail : `server answered ${res.status} ${res.statusText}`.trim();
  return new ApiError(msg, "HttpError", res.status, detail ?? null);
}

export async function request(path: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if ((err as Error)?.name === "AbortError") throw err;
    throw new ApiError("could not reach the exbert server; is `exbert serve` running?", "NetworkError", 0);
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

export function postJson(path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Response> {
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
