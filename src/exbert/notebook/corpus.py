"""Corpus search from the notebook widget: the corpus tokens whose contextual representation is
nearest to a token of the widget's analysis (exBERT's search), through :mod:`exbert.search`.

Layers: the widget's ``layer`` is a view layer (0-based), as in the browser app; the search
runs at the block it shows, :func:`exbert.view.view_layer_to_block` (``by="embedding"``: that
block's output; ``by="context"``: its per-head contexts)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError, InvalidRequest
from exbert.view import DEFAULT_K_SHOWN, check_layer, view_layer_to_block

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
    layer: int,
    by: str = "embedding",
    heads: Sequence[int] | None = None,
    k: int = DEFAULT_K_SHOWN,
    filters: Any = None,
) -> Any:
    """Search the widget's corpus with token ``token`` of its analysis at view layer ``layer``;
    the result is also set as the widget's ``search_result`` (shown under the view). Its max
    attention counts special tokens when the widget shows them (``hide_special`` off)."""
    if widget.corpus is None:
        raise InvalidRequest("this widget has no corpus: pass corpus=... to exbert.show")
    if widget.model is None or widget.analysis is None:
        raise ExbertError("the widget has no model or analysis to search with")
    from exbert.search import search as run

    view_layer = check_layer(layer, widget.n_layers)
    block = view_layer_to_block(view_layer)
    result = run(widget.model, widget.corpus, widget.analysis, int(token), block,
                 by=by, heads=heads, k=k, filters=filters,  # type: ignore[arg-type]
                 special_attention=not widget.hide_special)
    data = result.to_dict()
    data["query"] = {"token": int(token), "text": widget.analysis.tokens[int(token)].text,
                     "view_layer": view_layer}
    widget.search_result = data
    return result
