"""Request and response bodies; the OpenAPI schema (``docs/openapi.json``, see
:mod:`exbert.server.openapi`) is generated from these, and the frontend's types from it.
Limits come from :mod:`exbert.view`, shapes shared with the library from their one source
(``ModelInfo`` from :class:`exbert.info.ModelInfo`)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import fields
from functools import reduce
from types import UnionType
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from exbert.analysis.types import Prediction, Token
from exbert.corpus.manifest import ModelIdentity
from exbert.info import Kind, ModelInfo
from exbert.search.results import CorpusToken, Match, MaxAttention
from exbert.view import (
    AUTO_LAZY_BYTES,
    DEFAULT_K,
    DEFAULT_TOP_K,
    DEFAULT_WINDOW,
    MAX_FULL_ATTENTION_BYTES,
    MAX_INDEX,
    MAX_K,
    MAX_POSITIONS_LISTED,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
    MAX_WINDOW,
)

Position = Annotated[int, Field(ge=0, le=MAX_INDEX)]
LayerOut = int | Literal["embeddings"]
"""A layer (exbert.view): transformer layer 0..L-1 or "embeddings" (the embedding output)."""
_LAYERS = ("0-based transformer layers as in transformers: layer i's attention is "
           "attentions[i], its output hidden_states[i+1]")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _public_model(source: type, name: str,
                  nested: Mapping[type, type[BaseModel]] | None = None) -> type[BaseModel]:
    """A response model with the public fields of the dataclass ``source`` (fields whose
    metadata says ``private`` are left out), all required: the dataclass is the one source of
    the shape, the schema and the frontend's type follow it. A field's ``json`` metadata names
    it on the wire (``MaxAttention.inward`` is ``"in"``), its ``optional`` metadata makes it
    optional (default None: a field added later, e.g. ``Match.document``); ``nested`` maps
    the dataclasses a field holds to their response models."""
    hints = get_type_hints(source)
    public: dict[str, Any] = {
        f.name: (_swap(hints[f.name], nested or {}),
                 Field(None, alias=f.metadata.get("json", f.name))
                 if f.metadata.get("optional") else Field(alias=f.metadata.get("json", f.name)))
        for f in fields(source) if not f.metadata.get("private")
    }
    model: type[BaseModel] = create_model(
        name, __doc__=source.__doc__, __config__=ConfigDict(populate_by_name=True), **public)
    return model


def _swap(hint: Any, nested: Mapping[type, type[BaseModel]]) -> Any:
    """``hint`` with each dataclass of ``nested`` replaced by its model (in lists, unions)."""
    if hint in nested:
        return nested[hint]
    args = get_args(hint)
    if not args:
        return hint
    swapped = tuple(_swap(a, nested) for a in args)
    if get_origin(hint) is UnionType:
        return reduce(operator.or_, swapped)
    return get_origin(hint)[swapped]


ModelInfoOut = _public_model(ModelInfo, "ModelInfo")


class ModelsOut(BaseModel):
    models: list[ModelInfoOut]  # type: ignore[valid-type]  # built by _public_model


class HealthOut(BaseModel):
    status: Literal["ok"]
    models: list[str]
    corpora: list[str]
    pending: int
    loading: list[str] = Field(description="models still loading in the background: the page "
                               "and this API answer at once, an analysis waits for its model")


class AnalyzeIn(Strict):
    model: str = Field(max_length=200, description="a model name from GET /api/models")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    text_b: str | None = Field(None, max_length=MAX_TEXT_CHARS, description="second sentence")
    mask: list[Position] = Field(default_factory=list, max_length=MAX_POSITIONS_LISTED,
                            description="token positions to mask (bidirectional models)")
    top_k: int = Field(DEFAULT_TOP_K, ge=0, le=MAX_TOP_K)
    layers: list[Position] | None = Field(
        None, max_length=MAX_POSITIONS_LISTED,
        description=f"layers to include in the attention payload (all); {_LAYERS}",
    )
    attention: Literal["auto", "full", "lazy"] = Field(
        "auto", description="full: the answer carries every chosen layer's [heads, T, T] "
        "attention; lazy: the forward records queries and keys, the answer carries no "
        "attention and the routes under /api/analyses/{analysis_id}/ recompute rows, windows, "
        "blocks and head statistics on demand (long inputs); auto: lazy when the full float32 "
        f"attention would exceed {AUTO_LAZY_BYTES // 2**20} MB. full past "
        f"{MAX_FULL_ATTENTION_BYTES // 2**30} GB of attention is a 422 (AttentionTooLarge)",
    )


TokenOut = _public_model(Token, "TokenOut")
PredictionOut = _public_model(Prediction, "PredictionOut")


class AttentionOut(BaseModel):
    dtype: Literal["float16", "float32"]
    shape: list[int] = Field(description="[len(layers), heads, T, T]; a lazy analysis: the "
                             "whole [layers, heads, T, T] (none of it in the answer)")
    layers: list[int] = Field(description="the layers in the answer ([] for a lazy analysis)")
    offset: int = 0
    mode: Literal["full", "lazy"] = Field(
        "full", description="full: the attention of `layers` follows the header (and GET "
        "/api/analyses/{analysis_id}/attention gives other layers); lazy: no attention in "
        "the answer, read it from the routes under /api/analyses/{analysis_id}/. Frames "
        "without it (earlier versions) are full")
    data: list[list[list[list[float]]]] | None = None


class AnalysisOut(BaseModel):
    """The JSON form (``?format=json``) of the analysis; the binary form carries the same
    header with the attention after it."""

    analysis_id: str | None = Field(
        None, description="the id of this analysis on this server, for the routes under "
        "/api/analyses/{analysis_id}/ (kept while recent: an unknown id is a 404 "
        "UnknownAnalysis, analyse again). Every server answer has one; the frames of the "
        "notebook widget and of HTML exports have none")
    model: str
    kind: Kind
    text: str
    text_b: str | None
    mask: list[int]
    n_layers: int
    n_heads: int
    tokens: list[TokenOut]  # type: ignore[valid-type]
    predictions: list[list[PredictionOut]] | None  # type: ignore[valid-type]
    predictions_unavailable: str | None
    attention: AttentionOut


class AnalysisInfoOut(AnalysisOut):
    """A kept analysis (``GET /api/analyses/{analysis_id}``): its header, no attention data."""

    analysis_id: str  # type: ignore[assignment]  # always, here
    mode: Literal["full", "lazy"]
    n_tokens: int


class ErrorDetail(BaseModel):
    type: str
    message: str
    status: int
    details: dict[str, object]


class ErrorOut(BaseModel):
    error: ErrorDetail


CorpusModelOut = _public_model(ModelIdentity, "CorpusModelOut")


class SpacyOut(BaseModel):
    """The spaCy pipeline that annotated a corpus."""

    pipeline: str
    version: str
    lang: str | None
    components: list[str] | None


class CorpusInfoOut(BaseModel):
    """A served corpus, as ``Corpus.info()`` describes it without file-system paths."""

    name: str
    model: CorpusModelOut  # type: ignore[valid-type]
    layers: list[LayerOut] = Field(
        description=f"layers stored for embedding search: \"embeddings\" (the embedding "
        f"output, hidden_states[0]) and/or {_LAYERS}")
    context_layers: list[int] = Field(
        description=f"layers stored for context search and max attention; {_LAYERS}")
    layer_convention: str | None = Field(description="the layer numbering, in words")
    counts: dict[str, int] | None
    spacy: SpacyOut | None
    approximate: bool
    bytes: int
    bytes_per_token: float
    build: dict[str, int | float | list[int] | None] | None = Field(
        description="timings and settings of the build that wrote it")
    created: str | None
    schema_version: int
    labels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="the annotation labels this corpus has per filter field (pos, tag, dep, "
        "ent_type, ent_iob), from its spaCy pipeline: what its filters accept (any case)")
    document_fields: list[str] = Field(
        default_factory=list,
        description="the metadata fields of its documents (.jsonl / Parquet fields besides "
        "the text); filter on them as doc.NAME=value")


class RankedHeadOut(BaseModel):
    layer: int = Field(description=_LAYERS)
    head: int
    score: float
    count: int


class RelationOut(BaseModel):
    description: str
    eligible: int = Field(description="corpus tokens for which the relation exists")
    scores: list[list[float]] = Field(
        description="[k][head] for layer layers[k]: count / eligible")
    counts: list[list[int]]
    top: list[RankedHeadOut]


class HeadRankingOut(BaseModel):
    """Head discovery: per linguistic relation, how often each head's strongest attention
    lands on it."""

    layers: list[int] = Field(description=f"the rows' layers; {_LAYERS}")
    heads: int
    relations: dict[str, RelationOut]


class CorporaOut(BaseModel):
    corpora: list[CorpusInfoOut]


class SearchIn(Strict):
    model: str = Field(max_length=200)
    corpus: str = Field(max_length=200, description="a corpus name from GET /api/corpora")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    text_b: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    mask: list[Position] = Field(default_factory=list, max_length=MAX_POSITIONS_LISTED)
    token: Position = Field(description="position of the query token in the analysis")
    layer: Annotated[int, Field(ge=-MAX_INDEX, le=MAX_INDEX)] | Literal["embeddings"] = Field(
        description=f"{_LAYERS}, the same numbering as the attention view and "
        "`exbert analyze --layer` (negative counts from the end): by embedding, the layer's "
        "output; by context, its per-head contexts (and the max attention is its attention). "
        "\"embeddings\": the embedding output (embedding search only). A layer the model "
        "does not have is a 422 naming the range; one the corpus does not store, a 422 naming "
        "the stored ones.",
    )
    by: Literal["embedding", "context"] = "embedding"
    heads: list[Position] | None = Field(None, max_length=MAX_POSITIONS_LISTED)
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)
    filters: dict[str, str | list[str]] | None = Field(
        None, description='conditions on the matched token, e.g. {"pos": "VERB"} (labels in '
        'any case: {"pos": "verb"}), or on its document\'s metadata: {"doc.source": "wiki"}; '
        'a key ending in "!" negates'
    )
    exact: bool = True
    window: int = Field(DEFAULT_WINDOW, ge=0, le=MAX_WINDOW)
    special_attention: bool = Field(
        False, description="the max-attention summary counts special tokens ([CLS], [SEP], "
        "BOS...); by default it skips them, as the attention view hides them",
    )


SearchTokenOut = _public_model(CorpusToken, "SearchTokenOut")


MaxAttentionOut = _public_model(MaxAttention, "MaxAttentionOut")


MatchOut = _public_model(Match, "MatchOut", {CorpusToken: SearchTokenOut,
                                             MaxAttention: MaxAttentionOut})


class SummaryCellOut(BaseModel):
    offset: int
    position: int
    text: str
    special: bool
    pos: str | None
    dep: str | None
    ent_type: str | None


class HistogramsOut(BaseModel):
    matched: dict[str, dict[str, int]] = Field(description="field -> label -> count")
    max_attention: dict[str, dict[str, int]] | None


class SummaryOut(BaseModel):
    """exBERT's colour matrix (a row per match, offsets -window..+window) and histograms."""

    window: int
    offsets: list[int]
    rows: list[list[SummaryCellOut | None]]
    histograms: HistogramsOut


class QueryOut(BaseModel):
    text: str
    text_b: str | None
    token: int
    token_text: str


class SearchOut(BaseModel):
    corpus: str
    model: str
    by: Literal["embedding", "context"]
    layer: LayerOut = Field(description="the layer searched (resolved, never negative): "
                             f"\"embeddings\" or one of the {_LAYERS}")
    heads: list[int] | None
    k: int
    filters: list[str]
    exact: bool
    attention_heads: list[int]
    special_attention: bool
    max_attention_unavailable: str | None
    seconds: float
    query: QueryOut
    matches: list[MatchOut]  # type: ignore[valid-type]
    summary: SummaryOut
