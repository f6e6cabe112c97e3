// The corpus calls of the HTTP client (docs/API.md, "Corpora and search").

import { postJson, request } from "../api/client";
import type { CorpusInfo, HeadRanking, SearchRequest, SearchResult } from "../api/types";

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
