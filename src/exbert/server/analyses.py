"""The routes under ``/api/analyses/{analysis_id}``: what a kept analysis (full or lazy) gives
without running the model again: its header, a full analysis' attention layers, and, for any
analysis, attention rows (or columns), a window's token-level edges, block summaries and
per-head statistics as binary float16 EXB1 frames (:func:`exbert.analysis.frame.encode_array`).

Requests are checked here (layer, heads, positions within T, ``bins <= MAX_BINS``, windows
``<= MAX_WINDOW_TOKENS``) so that every bad one is a 422 naming the limit; the array work runs
on the inference queue (a lazy analysis recomputes attention with torch: it must not share
the torch threads with a forward).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from exbert.analysis.frame import (
    MEDIA_TYPE,
    chosen_layers,
    encode_array,
    encode_frame,
    header_with_attention,
)
from exbert.errors import InvalidRequest
from exbert.server.responses import JSONBytes
from exbert.server.routes import ERROR_RESPONSES
from exbert.server.schemas import AnalysisInfoOut
from exbert.server.state import AppState, state_of
from exbert.view import (
    MAX_BINS,
    MAX_ROW_VALUES,
    MAX_ROWS,
    MAX_WINDOW_TOKENS,
    check_heads,
    check_layer,
    check_layers,
    check_weights,
    parse_ints,
)

DEFAULT_BINS = 256

AnalysisId = Path(min_length=1, max_length=64, description="the analysis_id of an analysis")
LayerQuery = Query(description="attention layer 0..L-1 (negative from the end)")
INTS = r"^\s*(all|[0-9]+(\s*,\s*[0-9]+)*)?\s*$"
"""Comma-separated integers (or "all"): ASCII only, so that a URL stays short."""
POSITIONS = r"^\s*[0-9]+(\s*,\s*[0-9]+)*\s*$"
NUMBERS = r"^[-+0-9.eE,\s]*$"
HeadsQuery = Query(None, description="heads, comma-separated (default all): 0,3",
                   max_length=2000, pattern=INTS)


def _get(router: APIRouter, name: str, description: str
         ) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
    """The decorator of route ``/{analysis_id}/<name>`` (operationId ``analysis_<name>``),
    answering a binary frame that ``description`` describes."""
    content = {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
    return router.get(f"/{{analysis_id}}/{name}", operation_id=f"analysis_{name}",
                      response_class=Response,
                      responses={200: {"content": content, "description": description}})


@dataclass(frozen=True)
class HeadMix:
    """Heads (sorted, each once) and their weights (None: equal)."""

    heads: list[int]
    weights: list[float] | None


def head_mix(heads: str | None, weights: str | None, n_heads: int) -> HeadMix:
    """``heads`` ("0,3"; None: all) with ``weights`` paired in the order given, then sorted."""
    given = parse_ints(heads, "heads")
    if given is not None:
        check_heads(given, n_heads)  # the range, with the message the other routes give
        if weights is not None and len(set(given)) != len(given):
            raise InvalidRequest("heads: each head once when weights are given",
                                 heads=heads[:200] if heads else heads)
    listed = given if given is not None else list(range(n_heads))
    w = check_weights(weights, listed, n_heads)
    if w is None:
        return HeadMix(sorted(set(listed)), None)
    pairs = sorted(zip(listed, w, strict=True))
    return HeadMix([h for h, _ in pairs], [x for _, x in pairs])


def positions(value: str, what: str, n_tokens: int, most: int) -> list[int]:
    """Token positions ``0..T-1``, at least one and at most ``most``."""
    out = parse_ints(value, what) or []
    if not out:
        raise InvalidRequest(f"{what}: give at least one token position", **{what: value[:200]})
    if len(out) > most:
        raise InvalidRequest(f"{what}: at most {most} positions per request, not {len(out)}",
                             count=len(out), limit=most)
    bad = [p for p in out if not 0 <= p < n_tokens]
    if bad:
        raise InvalidRequest(f"{what}: position {bad[0]} is out of range: the analysis has "
                             f"tokens 0..{n_tokens - 1}", **{what: bad[0]}, n_tokens=n_tokens)
    return out


def _frame(array: Any, **header: Any) -> memoryview:
    return encode_array(array, header)


async def _on_queue(s: AppState, fn: Any, *args: Any) -> Response:
    frame = await s.queue.run(fn, *args)
    s.cache.remeasure()  # what the analysis kept of this work (summaries) counts
    return Response(frame, media_type=MEDIA_TYPE)


def analyses_router() -> APIRouter:
    router = APIRouter(prefix="/api/analyses", responses=ERROR_RESPONSES)

    @router.get("/{analysis_id}", operation_id="analysis_header",
                response_model=AnalysisInfoOut)
    def detail(request: Request, analysis_id: str = AnalysisId) -> JSONBytes:
        """The header of a kept analysis: tokens, predictions, layers, heads and mode (no
        attention data). A plain function: FastAPI runs it on its thread pool."""
        a = state_of(request).analysis(analysis_id)
        header = header_with_attention(a, chosen_layers(a, None))
        header.update(analysis_id=analysis_id, mode=a.mode, n_tokens=a.n_tokens)
        return JSONBytes(header)

    @_get(router, "attention", (
        "the analysis frame (as POST /api/analyze gives it) with the attention of `layers`"))
    async def attention(
        request: Request, analysis_id: str = AnalysisId,
        layers: str | None = Query(None, max_length=2000, pattern=INTS,
                                   description="layers, comma-separated (default all)"),
    ) -> Response:
        """A full analysis' attention layers, without running the model again; a lazy one
        is a 422 (read its rows, window, blocks instead)."""
        s = state_of(request)
        a = s.analysis(analysis_id)
        if a.mode != "full":
            raise InvalidRequest(
                "this analysis is lazy: it keeps no attention tensor; read its rows, window "
                f"or blocks under /api/analyses/{analysis_id}/", mode=a.mode)
        chosen = check_layers(parse_ints(layers, "layers"), a.n_layers)
        return await _on_queue(s, encode_frame, a, chosen, {"analysis_id": analysis_id})

    @_get(router, "rows", (
        "float16 [len(rows), T]: each row's attention over all tokens (direction out), or the "
        "attention each token of `rows` receives from every token (direction in)"))
    async def rows(
        request: Request, analysis_id: str = AnalysisId, layer: int = LayerQuery,
        rows: str = Query(max_length=8 * MAX_ROWS, pattern=POSITIONS,
                          description=f"token positions: 5,9 (at most {MAX_ROWS})"),
        heads: str | None = HeadsQuery,
        weights: str | None = Query(None, max_length=8000, pattern=NUMBERS,
                                    description="one weight >= 0 per head (default equal)"),
        direction: Literal["out", "in"] = Query(
            "out", description="out: the attention the tokens give; in: what they receive"),
    ) -> Response:
        s = state_of(request)
        a = s.analysis(analysis_id)
        resolved = check_layer(layer, a.n_layers)
        mix = head_mix(heads, weights, a.n_heads)
        wanted = positions(rows, "rows", a.n_tokens, MAX_ROWS)
        if len(wanted) * a.n_tokens > MAX_ROW_VALUES:
            raise InvalidRequest(
                f"rows: at most {MAX_ROW_VALUES // a.n_tokens} rows of this {a.n_tokens}-token "
                f"analysis at once (not {len(wanted)})", rows=len(wanted),
                limit=MAX_ROW_VALUES // a.n_tokens)

        def work() -> memoryview:
            read = a.attention_rows if direction == "out" else a.attention_cols
            out = read(resolved, mix.heads, wanted, mix.weights)
            return _frame(out, layer=resolved, heads=mix.heads, rows=wanted,
                          direction=direction)

        return await _on_queue(s, work)

    @_get(router, "window", (
        "float16 [len(heads), W, W]: per head, tokens start..stop-1 to each other"))
    async def window(
        request: Request, analysis_id: str = AnalysisId, layer: int = LayerQuery,
        start: int = Query(ge=0), stop: int = Query(ge=1),
        heads: str | None = HeadsQuery,
    ) -> Response:
        s = state_of(request)
        a = s.analysis(analysis_id)
        resolved = check_layer(layer, a.n_layers)
        hs = head_mix(heads, None, a.n_heads).heads
        if not start < stop <= a.n_tokens:
            raise InvalidRequest(f"window: need start < stop <= {a.n_tokens} (the tokens of "
                                 f"the analysis), not {start}..{stop}", start=start, stop=stop,
                                 n_tokens=a.n_tokens)
        if stop - start > MAX_WINDOW_TOKENS:
            raise InvalidRequest(f"window: at most {MAX_WINDOW_TOKENS} tokens, not "
                                 f"{stop - start}", width=stop - start, limit=MAX_WINDOW_TOKENS)

        def work() -> memoryview:
            out = a.attention_window(resolved, start, stop, hs)
            return _frame(out, layer=resolved, heads=hs, start=start, stop=stop)

        return await _on_queue(s, work)

    @_get(router, "blocks", (
        "float16 [len(heads), bins, bins]: the mean attention from each query block to each "
        "key block; block b = tokens b*T//bins .. (b+1)*T//bins - 1 (bins clipped to T)"))
    async def blocks(
        request: Request, analysis_id: str = AnalysisId, layer: int = LayerQuery,
        bins: int = Query(DEFAULT_BINS, ge=1, le=MAX_BINS),
        heads: str | None = HeadsQuery,
    ) -> Response:
        s = state_of(request)
        a = s.analysis(analysis_id)
        resolved = check_layer(layer, a.n_layers)
        hs = head_mix(heads, None, a.n_heads).heads
        n = min(bins, a.n_tokens)

        def work() -> memoryview:
            out = a.attention_blocks(resolved, n, hs)
            return _frame(out, layer=resolved, heads=hs, bins=n, n_tokens=a.n_tokens)

        return await _on_queue(s, work)

    @_get(router, "stats", (
        "float16 [S, L, H]: per-head statistics, header `names` in order (first_token: the "
        "attention on the first token, mean_distance, entropy, previous_token, self)"))
    async def stats(request: Request, analysis_id: str = AnalysisId) -> Response:
        import numpy as np

        s = state_of(request)
        a = s.analysis(analysis_id)
        # a layer per queue task: a long document's statistics take a pass over every layer,
        # and the rows, windows and blocks asked meanwhile go between two layers
        for layer in range(a.n_layers):
            if await request.is_disconnected():  # nobody waits for the rest
                return Response(status_code=204)
            await s.queue.run(a.head_stats, [layer])
        s.cache.remeasure()
        table = a.head_stats()  # kept: no work left
        names = list(table)
        return Response(_frame(np.stack([table[k] for k in names]), names=names),
                        media_type=MEDIA_TYPE)

    return router
