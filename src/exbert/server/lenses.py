"""The lens routes (issue 14): what a kept analysis shows beyond raw attention, computed in
Python from the analysis without running the model again.

- ``GET /api/analyses/{id}/lens?top_k=5``: the logit lens (JSON, :class:`LogitLensOut`), at most
  :data:`~exbert.view.MAX_LENS_CELLS` predictions (a 422 ``TooLargeForBudget`` past it) and
  admitted by the memory budget; a model without an output head is a 422 ``NoOutputHead``.
- ``GET /api/analyses/{id}/head-scores``: the head detectors' scores (JSON, NaN as null),
  computed a layer per queue task (a lazy analysis recomputes its attention for them).
- ``GET /api/analyses/{id}/rollout?mode=rollout|flow&layer=&heads=&weights=&residual=``: the
  attention rollout (Abnar & Zuidema 2020) to the output of ``layer``, or the attention flow
  there (at most :data:`~exbert.view.MAX_FLOW_TOKENS` tokens), as a float16 ``[1, T, T]`` frame.
  The rollout is a chain through every layer: it is computed once per (heads, weights,
  residual), admitted by the memory budget, and kept for the other layers.
- ``POST /api/induction-probe``: random tokens repeated twice, as a text to analyse.

The work runs on the inference queue (it uses torch, or the lazy engine's recomputation). The
answers are kept with their analysis in the analysis cache (:meth:`AnalysisCache.remember`):
counted in its byte budget, dropped with the analysis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from exbert.analysis.frame import MEDIA_TYPE
from exbert.errors import TooLargeForBudget
from exbert.export.lenses import PREDICTION_JSON_BYTES
from exbert.server.analyses import NUMBERS, AnalysisId, HeadMix, HeadsQuery, _frame, _get, head_mix
from exbert.server.budget import format_size
from exbert.server.lens_schemas import (
    HeadScoresOut,
    InductionProbeIn,
    InductionProbeOut,
    LogitLensOut,
)
from exbert.server.routes import ERROR_RESPONSES
from exbert.server.state import AppState, state_of
from exbert.view import (
    DEFAULT_LENS_TOP_K,
    DEFAULT_RESIDUAL,
    MAX_FLOW_TOKENS,
    MAX_LENS_CELLS,
    MAX_ROLLOUT_BYTES,
    MAX_TOP_K,
    check_layer,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from exbert.analysis import Analysis
    from exbert.analysis.attention import AttentionSource

R = TypeVar("R")
JSON = "application/json"

LENS_CELL_BYTES = 768
"""Peak bytes per prediction while a logit lens answer is built (its grid, the LogitLens and
``to_dict`` objects, the JSON: measured 500-600 on SmolLM2)."""
LENS_WORK_BYTES = 128 * 1024**2
"""And the projection's chunk of float32 logits with its comparison (``analysis.lens``)."""


def json_bytes(data: Any) -> bytes:
    """``data`` as JSON (numpy arrays as lists, NaN as null)."""
    import orjson

    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


def lens_cells(a: Analysis, top_k: int) -> int:
    """The predictions a logit lens of ``a`` at ``top_k`` holds; past
    :data:`~exbert.view.MAX_LENS_CELLS` a :class:`TooLargeForBudget` (422) saying what fits."""
    columns = len(a.positions) if a.positions is not None else a.n_tokens
    states = a.n_layers + 1
    cells = states * columns * top_k
    if cells > MAX_LENS_CELLS:
        most = MAX_LENS_CELLS // (states * columns)
        fix = (f"ask top_k={most} or less, or analyse a shorter text" if most >= 1 else
               f"analyse a shorter text (at most {MAX_LENS_CELLS // states:,} tokens)")
        raise TooLargeForBudget(
            f"the logit lens of {columns:,} tokens x {states} hidden states x top_k {top_k} is "
            f"{cells:,} predictions (about {format_size(cells * PREDICTION_JSON_BYTES)} of "
            f"JSON); one request gives at most {MAX_LENS_CELLS:,}: {fix}",
            predictions=cells, limit=MAX_LENS_CELLS, top_k=top_k, most_top_k=most)
    return cells


@dataclass(frozen=True)
class OneLayer:
    """Layer ``layer`` of an attention source, as a source of one layer (so that the head
    detectors run a layer per queue task)."""

    source: AttentionSource
    layer: int
    n_layers: int = 1

    @property
    def n_heads(self) -> int:
        return self.source.n_heads

    @property
    def n_tokens(self) -> int:
        return self.source.n_tokens

    def probs(self, layer: int, heads: Sequence[int], r0: int, r1: int
              ) -> tuple[int, torch.Tensor]:
        return self.source.probs(self.layer, heads, r0, r1)

    def key_range(self, layer: int, r0: int, r1: int) -> tuple[int, int]:
        return self.source.key_range(self.layer, r0, r1)


def layer_scores(a: Analysis, layer: int) -> dict[str, np.ndarray]:
    """The head detectors' scores of layer ``layer`` of ``a``: ``{name: float32 [1, H]}``."""
    from exbert.analysis.detectors import source_scores

    return source_scores(OneLayer(a.source, layer), a.input_ids, [t.special for t in a.tokens])


async def _memoised(s: AppState, analysis_id: str, key: Hashable, work: Callable[[], R],
                    need: int = 0, what: str = "") -> R:
    """The answer kept with the analysis, or ``work()`` run on the inference queue (admitted
    by the memory budget first when it needs ``need`` bytes, for ``what``) and kept."""
    kept: R | None = s.cache.answer(analysis_id, key)
    if kept is not None:
        return kept
    value = await (_admitted(s, need, what, work) if need else s.queue.run(work))
    s.cache.remeasure()  # what the analysis kept of this work (layer summaries) counts
    s.cache.remember(analysis_id, key, value)
    return value


async def _admitted(s: AppState, need: int, what: str, work: Callable[[], R]) -> R:
    """``work()`` on the queue once the memory budget admits ``need`` bytes for it."""
    ticket = s.budget.admit(need, what)

    def run() -> R:
        if not ticket.begin():  # its client is gone
            raise asyncio.CancelledError
        try:
            return work()
        finally:
            ticket.release()

    try:
        s.cache.trim(s.budget.free)
        return await s.queue.run(run)
    finally:
        ticket.abandon()


def _lens_routes(router: APIRouter) -> None:
    @router.get("/{analysis_id}/lens", operation_id="analysis_lens",
                response_model=LogitLensOut)
    async def lens(
        request: Request, analysis_id: str = AnalysisId,
        top_k: int = Query(DEFAULT_LENS_TOP_K, ge=1, le=MAX_TOP_K,
                           description="tokens per layer and position"),
    ) -> Response:
        """The logit lens: every layer's top-k predictions at every token, at most
        MAX_LENS_CELLS predictions ((L + 1) x tokens x top_k; past it a 422 TooLargeForBudget
        saying what fits). A model without an output head (an encoder such as MiniLM) is a
        422 NoOutputHead."""
        s = state_of(request)
        a = s.analysis(analysis_id)
        need = lens_cells(a, top_k) * LENS_CELL_BYTES + LENS_WORK_BYTES
        model = s.model_of(analysis_id)  # a model still loading: waited for on the queue

        def work() -> bytes:
            return json_bytes(model.logit_lens(a, top_k=top_k).to_dict())

        what = f"a logit lens of {a.n_tokens} tokens at top_k {top_k}"
        answer = await _memoised(s, analysis_id, ("lens", top_k), work, need, what)
        return Response(answer, media_type=JSON)

    @router.get("/{analysis_id}/head-scores", operation_id="analysis_head_scores",
                response_model=HeadScoresOut)
    async def head_scores(request: Request, analysis_id: str = AnalysisId) -> Response:
        """Per detector (previous_token, induction, ...), each layer's and head's score."""
        import numpy as np

        from exbert.analysis.detectors import DETECTORS, head_scores_json

        s = state_of(request)
        a = s.analysis(analysis_id)
        answer: bytes | None = s.cache.answer(analysis_id, ("head_scores",))
        if answer is None:
            # a layer per queue task: a lazy analysis recomputes every layer's attention, and
            # the requests made meanwhile go between two layers
            parts = []
            for layer in range(a.n_layers):
                if await request.is_disconnected():  # nobody waits for the rest
                    return Response(status_code=204)
                parts.append(await s.queue.run(layer_scores, a, layer))
            scores = {n: np.concatenate([p[n] for p in parts]) for n in DETECTORS}
            answer = json_bytes(head_scores_json(scores))
            s.cache.remeasure()
            s.cache.remember(analysis_id, ("head_scores",), answer)
        return Response(answer, media_type=JSON)


def _rollout_chain(s: AppState, analysis_id: str, a: Analysis, mix: HeadMix,
                   residual: float) -> Any:
    """The rollout of every layer (float16 [L, T, T]) for this head mix and residual: kept
    with the analysis (each layer's answer reads it), admitted by the memory budget."""
    import numpy as np

    from exbert.analysis import rollout

    n, t = a.n_layers, a.n_tokens
    size = n * t * t * 4

    def work() -> np.ndarray:
        out = rollout(a, heads=mix.heads, weights=mix.weights, residual=residual)
        return out.astype(np.float16)

    # the rollout (float32), its float16 copy and a few [T, T] layers meanwhile; past
    # MAX_ROLLOUT_BYTES the library refuses at once (a 422 naming the longest input)
    need = size + size // 2 + 3 * t * t * 4 if size <= MAX_ROLLOUT_BYTES else 0
    what = f"an attention rollout of {n} layers x {t} tokens"
    w = tuple(mix.weights) if mix.weights is not None else None
    key = ("rollout", tuple(mix.heads), w, residual)
    return _memoised(s, analysis_id, key, work, need, what)


def _rollout_route(router: APIRouter) -> None:
    @_get(router, "rollout", (
        "float16 [1, T, T]: row i is how token i after layer `layer` draws on the input "
        "tokens (mode=rollout: attention rollout; mode=flow: attention flow). Header: `mode`, "
        "`layers` = [layer], `heads`, `weights`, `residual`"))
    async def rollout(
        request: Request, analysis_id: str = AnalysisId,
        mode: Literal["rollout", "flow"] = Query(
            "rollout", description="rollout (Abnar & Zuidema 2020): attention multiplied "
            f"through the layers; flow: the max-flow, for inputs up to {MAX_FLOW_TOKENS} tokens"),
        layer: int | None = Query(None, description="the layer whose output is shown (0..L-1, "
                                  "negative from the end; default the last)"),
        heads: str | None = HeadsQuery,
        weights: str | None = Query(None, max_length=8000, pattern=NUMBERS,
                                    description="one weight >= 0 per head (default equal)"),
        residual: float = Query(DEFAULT_RESIDUAL, ge=0, le=1, description=(
            "the residual connection's weight: residual * I + (1 - residual) * A")),
    ) -> Response:
        from exbert.analysis import attention_flow

        s = state_of(request)
        a = s.analysis(analysis_id)
        chosen = check_layer(-1 if layer is None else layer, a.n_layers)
        mix = head_mix(heads, weights, a.n_heads)
        header: dict[str, Any] = {"mode": mode, "layers": [chosen], "heads": mix.heads,
                                  "weights": mix.weights, "residual": residual}
        if mode == "rollout":
            chain = await _rollout_chain(s, analysis_id, a, mix, residual)
            frame = await run_in_threadpool(_frame, chain[chosen][None], **header)
            return Response(frame, media_type=MEDIA_TYPE)

        # past MAX_FLOW_TOKENS the library refuses (a 422 saying to use rollout)
        def flow() -> memoryview:
            out = attention_flow(a, layer=chosen, heads=mix.heads, weights=mix.weights,
                                 residual=residual)
            return _frame(out[None], **header)

        w = tuple(mix.weights) if mix.weights is not None else None
        key = ("flow", chosen, tuple(mix.heads), w, residual)
        return Response(await _memoised(s, analysis_id, key, flow), media_type=MEDIA_TYPE)


def _probe_route(router: APIRouter) -> None:
    @router.post("/induction-probe", operation_id="induction_probe",
                 response_model=InductionProbeOut)
    async def induction_probe(request: Request, body: InductionProbeIn) -> dict[str, Any]:
        """Random whole-word tokens repeated twice (the text of ``Model.induction_probe``),
        as a text that tokenises to exactly them: analyse it (POST /api/analyze) to see the
        induction heads. Only the tokenizer runs here: the analysis is the app's next
        request, as for any text."""
        from exbert.analysis.encode import encode
        from exbert.analysis.probe import probe_text

        s = state_of(request)
        model = s.model(body.model)

        def work() -> dict[str, Any]:
            text, _ = probe_text(model, body.length, body.seed)
            return {"text": text, "n_tokens": len(encode(model, text).input_ids)}

        out: dict[str, Any] = await s.queue.run(work)
        return out


def lenses_router() -> APIRouter:
    """The lens routes (their answers are kept in the analysis cache, within its budget)."""
    analyses = APIRouter(prefix="/api/analyses", responses=ERROR_RESPONSES)
    _lens_routes(analyses)
    _rollout_route(analyses)
    probe = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
    _probe_route(probe)
    router = APIRouter()
    router.include_router(analyses)
    router.include_router(probe)
    return router
