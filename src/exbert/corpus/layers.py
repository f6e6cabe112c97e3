"""Which layers a corpus stores. Users name layers as everywhere in exbert (see
:mod:`exbert.view`): ``embeddings`` and transformer layers ``0..L-1``; a corpus stores their
hidden-state indices ``0..L`` (the storage convention of :mod:`exbert.corpus.manifest`), and
this module returns those."""

from __future__ import annotations

from collections.abc import Sequence

from exbert.errors import InvalidRequest
from exbert.view import Layer, hidden_to_layer, layer_to_hidden, parse_layer


def default_layers(n_layers: int) -> list[int]:
    """Hidden-state indices to store by default: all up to 12 layers; deeper models: every
    ``round(L/10)``-th plus the last (SmolLM2's 30 layers: 0, 3, ..., 30)."""
    if n_layers <= 12:
        return list(range(n_layers + 1))
    step = max(1, round(n_layers / 10))
    return sorted(set(range(0, n_layers + 1, step)) | {n_layers})


def resolve_layers(layers: str | Sequence[Layer] | None, n_layers: int) -> list[int]:
    """The sorted, distinct hidden-state indices to store for a model of ``n_layers`` layers:
    ``None`` -> :func:`default_layers`; ``"all"`` -> the embeddings and every layer;
    ``"embeddings,0,5"``, ``"0,3,5"`` or ``["embeddings", 0, -1]`` -> those (negative layers
    count from the end). :class:`InvalidRequest` for an empty list or a layer the model does
    not have (naming the valid range)."""
    if layers is None:
        return default_layers(n_layers)
    if isinstance(layers, str):
        if layers.strip().lower() == "all":
            return list(range(n_layers + 1))
        items: Sequence[Layer | str] = [v for v in layers.split(",") if v.strip()]
    else:
        items = layers
    values = [parse_layer(v) for v in items]
    if not values:
        raise InvalidRequest("no layers given")
    return sorted({layer_to_hidden(v, n_layers) for v in values})


def format_layers(hidden: Sequence[int]) -> str:
    """Stored hidden-state indices as ``--layers`` takes them: ``[0, 1, 6]`` ->
    ``"embeddings,0,5"``."""
    return ",".join(str(hidden_to_layer(b)) for b in hidden)
