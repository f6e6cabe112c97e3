"""Which layers a corpus stores (the layer convention is in :mod:`exbert.corpus.manifest`:
embedding layers 0..L, context and attention layers 1..L)."""

from __future__ import annotations

from collections.abc import Sequence

from exbert.errors import InvalidRequest
from exbert.view import parse_ints


def default_layers(n_layers: int) -> list[int]:
    """All layers up to 12; deeper models: every ``round(L/10)``-th layer plus the last
    (SmolLM2's 30 layers: 0, 3, ..., 30)."""
    if n_layers <= 12:
        return list(range(n_layers + 1))
    step = max(1, round(n_layers / 10))
    return sorted(set(range(0, n_layers + 1, step)) | {n_layers})


def resolve_layers(layers: str | Sequence[int] | None, n_layers: int) -> list[int]:
    """The sorted, distinct layers to store for a model of ``n_layers`` blocks: ``None`` ->
    :func:`default_layers`; ``"all"`` -> 0..L; ``"0,3,6"`` or ``[0, 3, 6]`` -> those.
    :class:`InvalidRequest` for an empty list or a layer outside 0..L."""
    if layers is None:
        return default_layers(n_layers)
    if isinstance(layers, str) and layers.strip().lower() == "all":
        return list(range(n_layers + 1))
    values = parse_ints(layers, "layers")
    if not values:
        raise InvalidRequest("no layers given")
    bad = [v for v in values if not 0 <= v <= n_layers]
    if bad:
        raise InvalidRequest(
            f"layers {bad} do not exist: this model has embedding layers 0..{n_layers} "
            f"(0 = embedding output) and attention layers 1..{n_layers}",
            layers=bad,
        )
    return sorted(set(values))
