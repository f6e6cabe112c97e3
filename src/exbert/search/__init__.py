"""Corpus search: the tokens of a reference corpus nearest to a token of a live analysis.

    corpus = Corpus.open("holmes-minilm", model)             # verifies, memory-maps
    a = model.analyze("The detective looked at the door.")
    result = search(model, corpus, a, token_index=2, layer=3)  # by embedding, top 50
    result = search(model, corpus, a, 2, 3, by="context", heads=[0, 5],
                    filters={"pos": "NOUN"}, k=10)
    result.to_dict()                                           # JSON for the server

Layer convention: embedding search at layer l in 0..L uses ``hidden_states[l]``; context
search at layer l in 1..L uses block l's per-head contexts (``contexts[l-1]``); the max
attention of each match is block l's attention (``attentions[l-1]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from exbert.errors import InvalidRequest
from exbert.search.corpus import Corpus
from exbert.search.filters import parse_filters
from exbert.search.heads import HeadRanking
from exbert.search.results import CorpusToken, Match, MaxAttention, SearchResult, Summary
from exbert.search.serving import open_for_server
from exbert.view import DEFAULT_K, DEFAULT_WINDOW

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
    "open_for_server",
    "parse_filters",
    "search",
]


def search(
    model: Model,
    corpus: Corpus,
    analysis: Analysis,
    token_index: int,
    layer: int,
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

    ``by="embedding"``: the token's hidden state ``hidden_states[layer]`` (layer 0..L);
    ``heads`` then only selects the heads of the max-attention summary. ``by="context"``: its
    per-head contexts at attention layer ``layer`` (1..L), restricted to ``heads`` (default
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
        if not isinstance(layer, int) or not 0 <= layer <= n_layers:
            raise InvalidRequest(f"embedding layer must be between 0 and {n_layers}",
                                 layer=layer)
        vector = analysis.hidden_states[layer, token_index]
        return corpus.search_embedding(vector, layer, k, filters, heads=heads, exact=exact,
                                       include_special=include_special, window=window,
                                       model=model, special_attention=special_attention)
    if by == "context":
        if not isinstance(layer, int) or not 1 <= layer <= n_layers:
            raise InvalidRequest(f"context layer must be between 1 and {n_layers}", layer=layer)
        contexts = analysis.contexts[layer - 1, token_index]
        return corpus.search_context(contexts, layer, heads, k, filters, exact=exact,
                                     include_special=include_special, window=window,
                                     model=model, special_attention=special_attention)
    raise InvalidRequest(f"by must be 'embedding' or 'context', not {by!r}")
