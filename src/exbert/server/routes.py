"""The routes under ``/api`` (see docs/API.md; the schema is docs/openapi.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from exbert.analysis.frame import MEDIA_TYPE, chosen_layers, encode_frame, header_with_attention
from exbert.errors import ExbertError
from exbert.server.responses import JSONBytes
from exbert.server.schemas import (
    AnalysisOut,
    AnalyzeIn,
    CorporaOut,
    CorpusInfoOut,
    ErrorOut,
    HeadRankingOut,
    HealthOut,
    ModelInfoOut,
    ModelsOut,
    SearchIn,
    SearchOut,
)
from exbert.server.state import corpus_info, state_of
from exbert.view import DEFAULT_TOP_HEADS, DEFAULT_TOP_K, MAX_INDEX, check_layers

if TYPE_CHECKING:
    from exbert.analysis import Analysis


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "unreadable request (body not UTF-8 JSON, unknown host)"),
        (401, "missing access token"),
        (404, "unknown model, corpus or analysis id"),
        (409, "corpus built for another model (CorpusMismatch)"),
        (413, "request body too large"),
        (422, "invalid input (empty, too long, bad mask...)"),
        (503, "queue full or memory budget in use; retry after the Retry-After seconds"),
    )
}
# A request line or headers past the HTTP server's own limit (a query string of hundreds of KB)
# is refused before the app sees it, by uvicorn, in plain text.
ERROR_RESPONSES[400] = {
    **ERROR_RESPONSES[400],
    "description": "unreadable request (body not UTF-8 JSON, unknown host; a request line "
                   "past the HTTP server's limit is refused in plain text)",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


ANALYSIS_ID_HEADER = "X-Analysis-Id"
ANALYSIS_OPERATIONS = ("header", "attention", "rows", "window", "blocks", "stats", "lens",
                       "head_scores", "rollout")
"""The routes under /api/analyses/{analysis_id} (operationId ``analysis_<name>``), linked from
the analyze answer (its ``X-Analysis-Id`` header: the same id as the body's ``analysis_id``,
readable from the binary form too)."""
_LINKS = {f"analysis_{name}": {
    "operationId": f"analysis_{name}",
    "parameters": {"analysis_id": f"$response.header.{ANALYSIS_ID_HEADER}"},
} for name in ANALYSIS_OPERATIONS}


def _corpus_out(corpus: Any) -> dict[str, Any]:
    """A corpus as clients see it, with the labels and document fields its filters accept.
    Opens a served corpus on first use (checksums: call it off the event loop)."""
    info = corpus_info(corpus)
    tables = getattr(corpus, "tables", None)
    if tables is not None:
        info["labels"] = tables.filter_labels()
        info["document_fields"] = list(tables.documents.fields)
    return info


def json_header(analysis: Analysis, analysis_id: str, layers: list[int] | None
                ) -> dict[str, Any]:
    """The JSON form of an analysis: its header, and the attention of ``layers`` as nested
    lists (none for a lazy analysis)."""
    chosen = chosen_layers(analysis, layers)
    header = header_with_attention(analysis, chosen)
    header["analysis_id"] = analysis_id
    att = header["attention"]
    att["dtype"] = "float32"
    att["data"] = None
    if analysis.attentions is not None and att["layers"]:
        att["data"] = analysis.attentions[chosen].round(5).tolist()
    return header


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

    @router.get("/health", response_model=HealthOut)
    async def health(request: Request) -> dict[str, Any]:
        s = state_of(request)
        return {
            "status": "ok",
            "models": list(s.models),
            "corpora": list(s.corpora),
            "pending": s.queue.pending,
            "loading": s.loading(),
        }

    @router.get("/models", response_model=ModelsOut)
    async def models(request: Request) -> dict[str, Any]:
        return {"models": [m.info.public_dict() for m in state_of(request).models.values()]}

    @router.get("/models/{name}", response_model=ModelInfoOut)
    async def model_info(request: Request, name: str) -> dict[str, Any]:
        return state_of(request).model(name).info.public_dict()

    @router.post(
        "/analyze",
        response_model=AnalysisOut,
        responses={
            200: {
                "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                "description": "the binary frame (default) or, with format=json, JSON",
                "headers": {ANALYSIS_ID_HEADER: {
                    "schema": {"type": "string"},
                    "description": "the analysis_id of the answer (also in its header)"}},
                "links": _LINKS,
            }
        },
    )
    async def analyze(
        request: Request,
        body: AnalyzeIn,
        format: Literal["binary", "json"] = Query("binary"),
    ) -> Response:
        s = state_of(request)
        check_layers(body.layers, s.model(body.model).info.layers)
        if format == "binary":
            analysis_id, _, frame = await s.analyze(
                body, lambda a, i: encode_frame(a, body.layers, {"analysis_id": i}))
            return Response(frame, media_type=MEDIA_TYPE,
                            headers={ANALYSIS_ID_HEADER: analysis_id})
        analysis_id, _, header = await s.analyze(
            body, lambda a, i: json_header(a, i, body.layers), attention_dtype="float32")
        return JSONBytes(header, headers={ANALYSIS_ID_HEADER: analysis_id})

    # The corpus routes are plain functions, which FastAPI runs on its thread pool: the first
    # use of a corpus opens it (checksums of its files), which must not hold the event loop.
    @router.get("/corpora", response_model=CorporaOut)
    def corpora(request: Request) -> dict[str, Any]:
        out = []
        for corpus in state_of(request).corpora.values():
            try:
                out.append(_corpus_out(corpus))
            except ExbertError:  # unusable: logged when opened, and no longer listed
                continue
        return {"corpora": out}

    @router.get("/corpora/{name}", response_model=CorpusInfoOut)
    def corpus_detail(request: Request, name: str) -> dict[str, Any]:
        return _corpus_out(state_of(request).corpus(name))

    @router.get("/corpora/{name}/heads", response_model=HeadRankingOut)
    def head_ranking(
        request: Request, name: str, top: int = Query(DEFAULT_TOP_HEADS, ge=1, le=MAX_INDEX)
    ) -> dict[str, Any]:
        """Head discovery: every layer x head ranked by how often its max attention falls on
        a linguistic relation over the corpus."""
        ranking: dict[str, Any] = state_of(request).corpus(name).head_ranking().to_dict(top=top)
        return ranking

    @router.post("/search", response_model=SearchOut)
    async def search(request: Request, body: SearchIn) -> dict[str, Any]:
        """The corpus tokens nearest to token ``token`` of the analysed text."""
        from exbert.search import search as run_search

        s = state_of(request)
        model, corpus = s.model(body.model), s.corpus(body.corpus)
        # the analysis on screen when it has the token's hidden states and contexts (a full
        # one, or a lazy one that kept them), else one that keeps them
        req = AnalyzeIn(model=body.model, text=body.text, text_b=body.text_b, mask=body.mask,
                        top_k=DEFAULT_TOP_K, layers=None, attention="auto")

        def find(analysis: Analysis, _: str) -> dict[str, Any]:
            result = run_search(
                model, corpus, analysis, body.token, body.layer, by=body.by, heads=body.heads,
                k=body.k, filters=body.filters, exact=body.exact, window=body.window,
                special_attention=body.special_attention,
            )
            out: dict[str, Any] = result.to_dict()
            out["query"] = {"text": body.text, "text_b": body.text_b, "token": body.token,
                            "token_text": analysis.tokens[body.token].text}
            return out

        _, _, found = await s.analyze(req, find, keep_positions=(body.token,))
        assert found is not None
        return found

    return router
