"""Corpus search: the tokens of a reference corpus nearest to a token of a live analysis.

    corpus = Corpus.open("holmes-minilm", model)             # verifies, memory-maps
    a = model.analyze("The detective looked at the door.")
    result = search(model, corpus, a, token_index=2, layer=3)  # by embedding, top 50
    result = search(model, corpus, a, 2, "embeddings")        # the embedding output
    result = search(model, corpus, a, 2, 3, by="context", heads=[0, 5],
                    filters={"pos": "NOUN"}, k=10)
    result.to_dict()                                           # JSON for the server

Layers as everywhere in exbert (:mod:`exbert.view`): transformer layer ``i`` in ``0..L-1``
(negative from the end) or ``"embeddings"``. Embedding search at layer ``i`` uses its output
``hidden_states[i + 1]`` (``"embeddings"``: ``hidden_states[0]``); context search at layer
``i`` uses its per-head contexts ``contexts[i]``; the max attention of each match is layer
``i``'s attention (``attentions[i]``), as the attention view shows it at layer ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from exbert.errors import InvalidRequest
from exbert.search.corpus import Corpus
from exbert.search.filters import parse_filters
from exbert.search.heads import HeadRanking
from exbert.search.results import CorpusToken, Match, MaxAttention, SearchResult, Summary
from exbert.view import (
    DEFAULT_K,
    DEFAULT_WINDOW,
    EMBEDDINGS,
    Layer,
    check_layer,
    layer_to_hidden,
)

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model

__all__ = [
    "Corpus",
    "CorpusToken",
    "HeadRanking",
    "Match",
    "MaxAttention",
    "SearchResult",
    "Summary",
    "parse_filters",
    "search",
]


def search(
    model: Model,
    corpus: Corpus,
    analysis: Analysis,
    token_index: int,
    layer: Layer,
    by: Literal["embedding", "context"] = "embedding",
    heads: Sequence[int] | None = None,
    k: int = DEFAULT_K,
    filters: Any = None,
    *,
    exact: bool = True,
    include_special: bool = False,
    window: int = DEFAULT_WINDOW,
    special_attention: bool = False,
) -> SearchResult:
    """Search ``corpus`` with token ``token_index`` of ``analysis`` at ``layer``.

    ``layer``: transformer layer ``0..L-1`` (negative from the end) or ``"embeddings"``.
    ``by="embedding"``: the token's output of that layer, ``hidden_states[layer + 1]``
    (``"embeddings"``: ``hidden_states[0]``); ``heads`` then only selects the heads of the
    max-attention summary. ``by="context"``: its per-head contexts at ``layer``
    (``contexts[layer]``), restricted to ``heads`` (default
    all). ``filters``: conditions on the matched token (``{"pos": "VERB"}``).
    ``include_special``: special tokens may be matches. ``special_attention``: the
    max-attention summary counts attention to and from special tokens (by default it skips
    them; counting them re-runs the matched sentences). The corpus must have been built for
    ``model`` (else :class:`~exbert.errors.CorpusMismatch`).
    """
    corpus.check_model(model)
    if analysis.model != model.info.name:
        raise InvalidRequest(
            f"the analysis is of {analysis.model!r}, not of {model.info.name!r}")
    n = analysis.n_tokens
    if not isinstance(token_index, int) or isinstance(token_index, bool) or not (
            0 <= token_index < n):
        raise InvalidRequest(f"token_index must be between 0 and {n - 1}", token_index=token_index)
    n_layers = model.info.layers
    if by == "embedding":
        layer_to_hidden(layer, n_layers)  # checks the layer, naming the valid range
        vector = analysis.hidden(layer, [token_index])[0]
        return corpus.search_embedding(vector, layer, k, filters, heads=heads, exact=exact,
                                       include_special=include_special, window=window,
                                       model=model, special_attention=special_attention)
    if by == "context":
        if layer == EMBEDDINGS:
            raise InvalidRequest("context search needs a layer 0..L-1: the embeddings have no "
                                 "attention", layer=EMBEDDINGS)
        resolved = check_layer(layer, n_layers)
        contexts = analysis.context(resolved, [token_index])[0]
        return corpus.search_context(contexts, resolved, heads, k, filters, exact=exact,
                                     include_special=include_special, window=window,
                                     model=model, special_attention=special_attention)
    raise InvalidRequest(f"by must be 'embedding' or 'context', not {by!r}")
