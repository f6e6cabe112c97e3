"""Request and response bodies; the OpenAPI schema (``docs/openapi.json``, see
:mod:`exbert.server.openapi`) is generated from these, and the frontend's types from it.
Limits come from :mod:`exbert.view`, shapes shared with the library from their one source
(``ModelInfo`` from :class:`exbert.info.ModelInfo`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from exbert.info import ModelInfo
from exbert.view import DEFAULT_K, DEFAULT_TOP_K, DEFAULT_WINDOW, MAX_K, MAX_TOP_K, MAX_WINDOW

MAX_TEXT_CHARS = 20_000


Position = Annotated[int, Field(ge=0, le=1_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _public_model(source: type, name: str) -> type[BaseModel]:
    """A response model with the public fields of the dataclass ``source`` (fields whose
    metadata says ``private`` are left out), all required."""
    hints = get_type_hints(source)
    public: dict[str, Any] = {f.name: (hints[f.name], ...) for f in fields(source)
                              if not f.metadata.get("private")}
    model: type[BaseModel] = create_model(name, __doc__=source.__doc__, **public)
    return model


ModelInfoOut = _public_model(ModelInfo, "ModelInfo")


class ModelsOut(BaseModel):
    models: list[ModelInfoOut]  # type: ignore[valid-type]  # built by _public_model


class HealthOut(BaseModel):
    status: Literal["ok"]
    models: list[str]
    corpora: list[str]
    pending: int


class AnalyzeIn(Strict):
    model: str = Field(max_length=200, description="a model name from GET /api/models")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    text_b: str | None = Field(None, max_length=MAX_TEXT_CHARS, description="second sentence")
    mask: list[Position] = Field(default_factory=list, max_length=512,
                            description="token positions to mask (bidirectional models)")
    top_k: int = Field(DEFAULT_TOP_K, ge=0, le=MAX_TOP_K)
    layers: list[Position] | None = Field(
        None, max_length=512, description="layers to include in the attention payload (all)"
    )


class TokenOut(BaseModel):
    text: str
    start: int
    end: int
    special: bool
    segment: int
    masked: bool


class PredictionOut(BaseModel):
    token: str
    prob: float
    token_id: int


class AttentionOut(BaseModel):
    dtype: Literal["float16", "float32"]
    shape: list[int]
    layers: list[int]
    offset: int = 0
    data: list[list[list[list[float]]]] | None = None


class AnalysisOut(BaseModel):
    """The JSON form (``?format=json``) of the analysis; the binary form carries the same
    header with the attention after it."""

    model: str
    kind: str
    text: str
    text_b: str | None
    mask: list[int]
    n_layers: int
    n_heads: int
    tokens: list[TokenOut]
    predictions: list[list[PredictionOut]] | None
    predictions_unavailable: str | None
    attention: AttentionOut


class ErrorDetail(BaseModel):
    type: str
    message: str
    status: int
    details: dict[str, object]


class ErrorOut(BaseModel):
    error: ErrorDetail


class CorpusInfoOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    layers: list[int]
    context_layers: list[int]
    approximate: bool


class CorporaOut(BaseModel):
    corpora: list[CorpusInfoOut]


class SearchIn(Strict):
    model: str = Field(max_length=200)
    corpus: str = Field(max_length=200, description="a corpus name from GET /api/corpora")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    text_b: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    mask: list[Position] = Field(default_factory=list, max_length=512)
    token: Position = Field(description="position of the query token in the analysis")
    layer: int = Field(
        ge=0, le=1000,
        description="embedding: hidden state index 0..L (0 = embeddings, l = output of block l); "
        "context: block 1..L. The attention view's layer i is block i + 1.",
    )
    by: Literal["embedding", "context"] = "embedding"
    heads: list[Annotated[int, Field(ge=0, le=1000)]] | None = Field(None, max_length=1000)
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)
    filters: dict[str, str | list[str]] | None = Field(
        None, description='conditions on the matched token, e.g. {"pos": "VERB"}'
    )
    exact: bool = True
    window: int = Field(DEFAULT_WINDOW, ge=0, le=MAX_WINDOW)
    special_attention: bool = Field(
        False, description="the max-attention summary counts special tokens ([CLS], [SEP], "
        "BOS...); by default it skips them, as the attention view hides them",
    )


class SearchTokenOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str
    start: int
    end: int
    special: bool
    pos: str | None
    dep: str | None
    ent_type: str | None


class MatchOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    rank: int
    score: float
    sentence_id: int
    position: int
    text: str
    tokens: list[SearchTokenOut]
    max_attention: dict[str, float | int] | None


class QueryOut(BaseModel):
    text: str
    text_b: str | None
    token: int
    token_text: str


class SearchOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    corpus: str
    model: str
    by: str
    layer: int
    k: int
    query: QueryOut
    matches: list[MatchOut]
    summary: dict[str, object]
