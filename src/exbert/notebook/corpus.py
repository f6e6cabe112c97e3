"""Corpus search from the notebook widget: the corpus tokens whose contextual representation is
nearest to a token of the widget's analysis (exBERT's search), through :mod:`exbert.search`.

Layers: one numbering everywhere (:mod:`exbert.view`): the widget's ``layer`` is transformer
layer ``i`` (0-based), as in the browser app and transformers; the search runs at that same
layer (``by="embedding"``: its output; ``by="context"``: its per-head contexts), or at the
embedding output with ``layer="embeddings"``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError, InvalidRequest
from exbert.view import DEFAULT_K_SHOWN, EMBEDDINGS, Layer, check_layer, parse_layer

if TYPE_CHECKING:
    from exbert.models import Model


def open_corpus(corpus: Any, model: Model | None) -> Any:
    """A :class:`exbert.search.Corpus` from a folder (built by ``exbert corpus build``) or an
    already opened corpus, checked against ``model``."""
    if corpus is None:
        return None
    if model is None:
        raise InvalidRequest("corpus search needs the model: create the widget from a model")
    from exbert.search import Corpus

    if isinstance(corpus, str | os.PathLike):
        return Corpus.open(os.fspath(corpus), model)
    if isinstance(corpus, Corpus):
        corpus.check_model(model)
        return corpus
    raise InvalidRequest(f"corpus: expected a folder or an exbert.search.Corpus, not {corpus!r}")


def corpus_name(corpus: Any) -> str:
    return "" if corpus is None else str(getattr(corpus, "name", "corpus"))


def search(
    widget: Any,
    token: int,
    *,
    layer: int | str,
    by: str = "embedding",
    heads: Sequence[int] | None = None,
    k: int = DEFAULT_K_SHOWN,
    filters: Any = None,
) -> Any:
    """Search the widget's corpus with token ``token`` of its analysis at ``layer`` (0-based
    transformer layer, negative from the end, or ``"embeddings"``);
    the result is also set as the widget's ``search_result`` (shown under the view). Its max
    attention counts special tokens when the widget shows them (``hide_special`` off)."""
    if widget.corpus is None:
        raise InvalidRequest("this widget has no corpus: pass corpus=... to exbert.show")
    if widget.model is None or widget.analysis is None:
        raise ExbertError("the widget has no model or analysis to search with")
    from exbert.search import search as run

    parsed = parse_layer(layer)
    resolved: Layer = EMBEDDINGS if parsed == EMBEDDINGS else check_layer(parsed, widget.n_layers)
    result = run(widget.model, widget.corpus, widget.analysis, int(token), resolved,
                 by=by, heads=heads, k=k, filters=filters,  # type: ignore[arg-type]
                 special_attention=not widget.hide_special)
    data = result.to_dict()
    data["query"] = {"token": int(token), "text": widget.analysis.tokens[int(token)].text,
                     "layer": resolved}
    widget.search_result = data
    return result
