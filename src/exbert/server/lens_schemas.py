"""Bodies of the lens routes (issue 14): the logit lens, head detector scores and the induction
probe (:mod:`exbert.server.lenses`). Their shapes are those of ``frontend/src/lenses/source.ts``
(``LogitLensData``, ``HeadScoresData``); the OpenAPI schema and the frontend's generated types
follow from here. Kept apart from :mod:`exbert.server.schemas` only for its length."""

from __future__ import annotations

from pydantic import BaseModel, Field

from exbert.server.schemas import PredictionOut, Strict
from exbert.view import DEFAULT_PROBE_LENGTH, MAX_PROBE_LENGTH, MIN_PROBE_LENGTH

MAX_SEED = 2**31 - 1
"""Largest induction-probe seed (a JavaScript number holds it exactly)."""


class LogitLensOut(BaseModel):
    """The logit lens of a kept analysis (``exbert.analysis.LogitLens.to_dict()``): for every
    hidden state (0 = the embeddings, then each layer's output; the last is the model's own
    predictions) and token, the top-k tokens of the model's final normalisation and output
    head applied to it."""

    model: str
    lens: str = Field(description='"logit": the model\'s own head; "tuned": a per-layer '
                      "fitted lens")
    top_k: int
    positions: list[int] = Field(description="the token positions of the columns (every token "
                                 "of a full analysis; the kept positions of a lazy one)")
    top: list[list[list[PredictionOut]]] = Field(  # type: ignore[valid-type]
        description="top[l][i]: the top-k at hidden state l (0 = embeddings, L = the output "
        "of the last layer) for column i")
    target_ids: list[int] = Field(description="per column: the token the last layer ranks first")
    target_tokens: list[str]
    target_prob: list[list[float]] = Field(
        description="[L + 1][columns]: the probability of the column's target token at each "
        "hidden state")
    target_rank: list[list[int]] = Field(
        description="[L + 1][columns]: its rank at each hidden state (0 = first)")


class HeadScoresOut(BaseModel):
    """Head detector scores of a kept analysis (``exbert.analysis.head_scores``)."""

    names: list[str] = Field(description="the detectors in display order (previous_token, "
                             "induction, duplicate_token, first_token, self, local)")
    layers: int
    heads: int
    scores: dict[str, list[list[float | None]]] = Field(
        description="scores[name][layer][head]: the mean attention mass the head puts on the "
        "detector's pattern, 0..1, over the query tokens where it applies; null where it "
        "applies to none")


class InductionProbeIn(Strict):
    model: str = Field(max_length=200, description="a model name from GET /api/models")
    length: int = Field(DEFAULT_PROBE_LENGTH, ge=MIN_PROBE_LENGTH, le=MAX_PROBE_LENGTH,
                        description="random tokens in each half (the text is them, twice)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="the random tokens' seed")


class InductionProbeOut(BaseModel):
    """Random whole-word tokens repeated twice, as a text that tokenises to exactly them:
    analyse it (POST /api/analyze) to see the model's induction heads at work."""

    text: str
    n_tokens: int = Field(description="the tokens of its analysis (special tokens included)")
