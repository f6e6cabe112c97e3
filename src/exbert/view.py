"""The one set of limits and the view specification, shared by the server, the CLI, the
exports and the notebook widget. Light on purpose: no torch/numpy import.

Layer numbering (the only one a user sees or passes, everywhere in exbert: the CLI, the
Python API, the HTTP API, the app and the widget) is transformers' own:

* **layer** ``i`` is transformer layer ``i``, 0-based, ``0..L-1`` for a model of ``L`` layers
  (negative counts from the end): its attention is ``attentions[i]``, its per-head contexts
  ``contexts[i]`` and its output ``hidden_states[i + 1]``.
* **embeddings** (:data:`EMBEDDINGS`, the string ``"embeddings"``) is the embedding output,
  ``hidden_states[0]``; it is not a layer number (it has no attention).

Corpora store hidden-state indices ``b`` in ``0..L`` (their manifest and file names, see
:mod:`exbert.corpus.manifest`); :func:`layer_to_hidden` and :func:`hidden_to_layer` are the
only conversions between the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from exbert.errors import InvalidRequest

MAX_TOP_K = 100
"""Most predictions per token that a request may ask for."""
DEFAULT_TOP_K = 5
"""Predictions per token unless asked otherwise."""
MAX_K = 1000
"""Most matches a corpus search may return."""
MAX_WINDOW = 10
"""Widest search summary: token offsets ``-MAX_WINDOW..+MAX_WINDOW`` around each match."""
DEFAULT_K = 50
"""Matches per corpus search (library and HTTP API) unless asked otherwise."""
DEFAULT_K_SHOWN = 10
"""Matches per corpus search that a person reads (the CLI's ``-k``, the notebook widget)."""
DEFAULT_WINDOW = 2
"""Search summary offsets ``-DEFAULT_WINDOW..+DEFAULT_WINDOW`` unless asked otherwise."""
DEFAULT_THRESHOLD = 0.7
"""Cumulative attention mass (0..1] that the view draws per token unless asked otherwise."""
DEFAULT_TOP_HEADS = 10
"""Heads listed per relation in a head-discovery ranking unless asked otherwise."""
ALL_LAYERS_BYTES = 32 * 1024 * 1024
"""Largest float16 attention (bytes, all layers) sent at once; above it a client fetches the
layer it shows (the app, the notebook widget)."""

AUTO_LAZY_BYTES = 320 * 1024 * 1024
"""``attention="auto"`` analyses lazily when the full float32 attention (layers x heads x T x T x
4 bytes) would exceed this (SmolLM2 past ~550 tokens, MiniLM past ~1,100)."""
MAX_FULL_ATTENTION_BYTES = 2 * 1024**3
"""Largest full float32 attention tensor ``attention="full"`` builds; past it, lazy only."""
MAX_WINDOW_TOKENS = 512
"""Widest window of token-level attention one request returns ([heads, W, W])."""
MAX_BINS = 1024
"""Most blocks per side of a block summary."""
MAX_ROWS = 4096
"""Most attention rows (or columns) one request returns."""
MAX_ROW_VALUES = 32 * 1024 * 1024
"""Most values (rows x tokens) one rows request returns: 1,024 rows of a 32,768-token text."""

# Lenses beyond raw attention (issue 14): logit lens, rollout and flow, head detectors, probe.
DEFAULT_LENS_TOP_K = 5
"""Top-k tokens per layer and token of a logit lens unless asked otherwise."""
MAX_LENS_CELLS = 512 * 1024
"""Most predictions ((L + 1) hidden states x positions x top_k) one logit lens request returns:
about 64 bytes of JSON each, :data:`ALL_LAYERS_BYTES` in all (SmolLM2 at top_k 5: 3,382 tokens)."""
DEFAULT_RESIDUAL = 0.5
"""Weight of the residual connection (the identity) in attention rollout and flow:
``A' = residual * I + (1 - residual) * A``, rows renormalised."""
MAX_ROLLOUT_BYTES = 512 * 1024 * 1024
"""Largest rollout (float32 layers x T x T) one call builds; past it, a clear error."""
MAX_FLOW_TOKENS = 64
"""Longest input attention flow (max-flow, Abnar & Zuidema 2020) is computed for (exact, all token
pairs at once: about 30 s for one layer of SmolLM2 at 64 tokens on 2 CPU cores, 4 s at 32)."""
DEFAULT_PROBE_LENGTH = 50
"""Random tokens in each half of an induction probe unless asked otherwise."""
MIN_PROBE_LENGTH = 2
"""Fewest random tokens in each half of an induction probe: with one, no token has a next token
to attend to."""
MAX_PROBE_LENGTH = 512
"""Most random tokens in each half of an induction probe."""

# Bounds of a request's shape (HTTP bodies): what no real request exceeds.
MAX_TEXT_CHARS = 400_000
"""Longest text (or text_b) of one request, in characters."""
MAX_POSITIONS_LISTED = 512
"""Most token positions (a mask) or layers a request may list."""
MAX_INDEX = 1_000_000
"""Largest token position, layer or head index a request may name (the model's own limits are
checked against the model)."""


EMBEDDINGS: Literal["embeddings"] = "embeddings"
"""The embedding output (``hidden_states[0]``) where a layer is asked for."""

Layer: TypeAlias = int | Literal["embeddings"]
"""A layer as users name it: transformer layer ``0..L-1`` (negative from the end) or
:data:`EMBEDDINGS`."""

LAYER_HELP = ("0-based transformer layer 0..L-1 as in transformers (attentions[i]; "
              "negative counts from the end)")
"""The numbering in one phrase, for ``--help`` texts and API descriptions."""

LAYER_CONVENTION = ("layer i (0..L-1) = transformer layer i: attentions[i], output "
                    "hidden_states[i+1]; 'embeddings' = the embedding output, hidden_states[0]")
"""The numbering as ``exbert corpus info`` and the corpus API state it."""


def _range(n_layers: int) -> str:
    return f"0..{n_layers - 1} (or -{n_layers}..-1 from the end)"


def parse_layer(value: str | int, *, embeddings: bool = True) -> Layer:
    """``"3"``, ``3``, ``"-1"`` -> an int; ``"embeddings"`` -> :data:`EMBEDDINGS` (when
    ``embeddings``). :class:`InvalidRequest` on anything else. Not checked against a model."""
    if isinstance(value, bool):
        raise InvalidRequest(f"layer must be an integer or {EMBEDDINGS!r}, not {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if embeddings and text.lower() == EMBEDDINGS:
        return EMBEDDINGS
    try:
        return int(text)
    except ValueError:
        what = f"an integer or {EMBEDDINGS!r}" if embeddings else "an integer"
        raise InvalidRequest(f"layer must be {what}, not {value!r}", layer=str(value)) from None


def layer_to_hidden(layer: Layer, n_layers: int) -> int:
    """The hidden-state index ``0..L`` of ``layer`` (:data:`EMBEDDINGS` -> 0, layer ``i`` ->
    ``i + 1``, negatives resolved) for a model of ``n_layers`` layers; what corpora store.
    :class:`InvalidRequest` naming the valid range for a layer the model does not have."""
    if layer == EMBEDDINGS:
        return 0
    if not isinstance(layer, int) or isinstance(layer, bool):
        raise InvalidRequest(f"layer must be an integer {_range(n_layers)} or {EMBEDDINGS!r}, "
                             f"not {layer!r}", layer=str(layer))
    return check_layer(layer, n_layers) + 1


def hidden_to_layer(hidden: int) -> Layer:
    """The layer a hidden-state index ``0..L`` is: 0 -> :data:`EMBEDDINGS`, ``b`` -> ``b - 1``."""
    b = int(hidden)
    if b < 0:
        raise InvalidRequest(f"hidden-state index {b} must be >= 0")
    return EMBEDDINGS if b == 0 else b - 1


def layer_name(layer: int | str) -> str:
    """``"layer 3"`` or ``"embeddings"``, as the UIs and messages write a layer."""
    return EMBEDDINGS if layer == EMBEDDINGS else f"layer {layer}"


def _parse(value: str | Sequence[Any] | None, what: str, kind: type, noun: str) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value or value == "all":
            return None
        items: Sequence[Any] = [v for v in value.split(",") if v.strip()]
    else:
        items = value
    prefix = f"{what}: " if what else ""
    try:
        out = [kind(v) for v in items]
    except (TypeError, ValueError):
        raise InvalidRequest(f"{prefix}expected comma-separated {noun}, got {value!r}") from None
    if kind is float and any(not math.isfinite(x) for x in out):
        raise InvalidRequest(f"{prefix}expected finite numbers, got {value!r}")
    return out


def parse_ints(value: str | Sequence[int] | None, what: str) -> list[int] | None:
    """``"0,3"`` or ``[0, 3]`` -> ``[0, 3]``; ``None``, ``""`` or ``"all"`` -> ``None``.

    Raises :class:`~exbert.errors.InvalidRequest` on anything else; its message starts with
    ``what`` (the name of the parameter) unless ``what`` is empty."""
    return _parse(value, what, int, "integers")


def parse_floats(value: str | Sequence[float] | None, what: str) -> list[float] | None:
    """``"2,1.5"`` or ``[2, 1.5]`` -> ``[2.0, 1.5]``; ``None``, ``""`` or ``"all"`` -> ``None``.

    Raises :class:`~exbert.errors.InvalidRequest` as :func:`parse_ints` does; also on
    non-finite numbers."""
    return _parse(value, what, float, "numbers")


@dataclass
class ViewSpec:
    """The view state of the browser app (``ViewState`` in frontend/src/store.ts), validated.

    ``layer``: transformer layer ``0..L-1``; ``heads``: sorted head indices or ``None`` for all;
    ``weights``: one weight >= 0 per selected head or ``None``; ``threshold``: cumulative
    attention mass in (0, 1]."""

    layer: int = 0
    heads: list[int] | None = None
    weights: list[float] | None = None
    hide_special: bool = True
    threshold: float = DEFAULT_THRESHOLD
    color_by_head: bool = False
    """Each selected head's edges in its own colour instead of their weighted mix."""
    hide_first: bool = False
    """Leave out the first token's edges (the attention sink of models without BOS)."""

    def to_state(self) -> dict[str, Any]:
        """As the JavaScript ``ViewState`` (camelCase)."""
        return {
            "layer": self.layer,
            "heads": self.heads,
            "weights": self.weights,
            "hideSpecial": self.hide_special,
            "threshold": self.threshold,
            "colorByHead": self.color_by_head,
            "hideFirst": self.hide_first,
        }


def check_layer(layer: int | str | None, n_layers: int) -> int:
    """Transformer layer ``layer`` (``None`` -> 0, negative counts from the end) as
    ``0..n_layers-1``; :class:`InvalidRequest` naming the valid range otherwise."""
    if layer is None:
        return 0
    if isinstance(layer, bool) or not isinstance(layer, int):
        if layer == EMBEDDINGS:
            raise InvalidRequest(
                f"the embeddings have no attention: choose a layer {_range(n_layers)}",
                layer=EMBEDDINGS, layers=n_layers)
        try:
            layer = int(layer)
        except (TypeError, ValueError):
            raise InvalidRequest(f"layer must be an integer {_range(n_layers)}, not {layer!r}",
                                 layer=str(layer), layers=n_layers) from None
    given = int(layer)
    resolved = given + n_layers if given < 0 else given
    if not 0 <= resolved < n_layers:
        raise InvalidRequest(
            f"layer {given} is out of range: the model has layers {_range(n_layers)}",
            layer=given, layers=n_layers,
        )
    return resolved


def check_layers(layers: Sequence[int] | None, n_layers: int) -> list[int] | None:
    """Layers ``0..n_layers-1`` (None: all), e.g. the layers an analysis payload carries."""
    if layers is None:
        return None
    bad = [i for i in layers if not 0 <= i < n_layers]
    if bad:
        raise InvalidRequest(f"layers must be between 0 and {n_layers - 1}",
                             layers=list(layers), n_layers=n_layers)
    return list(layers)


def check_heads(heads: Sequence[int] | str | None, n_heads: int) -> list[int] | None:
    """Sorted, de-duplicated heads in ``0..n_heads-1``; ``None`` for all."""
    parsed = parse_ints(heads, "heads")
    if parsed is None:
        return None
    bad = [h for h in parsed if not 0 <= h < n_heads]
    if bad:
        raise InvalidRequest(
            f"head {bad[0]} is out of range: the model has heads 0..{n_heads - 1}",
            heads=bad, n_heads=n_heads,
        )
    out = sorted(set(parsed))
    if not out:
        raise InvalidRequest("select at least one head (or None for all)")
    return out


def check_weights(
    weights: Sequence[float] | str | None, heads: list[int] | None, n_heads: int
) -> list[float] | None:
    """One finite weight >= 0 per selected head (all ``n_heads`` when ``heads`` is None)."""
    w = parse_floats(weights, "weights")
    if w is None:
        return None
    n = len(heads) if heads is not None else n_heads
    if len(w) != n:
        raise InvalidRequest(f"{len(w)} weights for {n} selected heads", weights=len(w), heads=n)
    if any(x < 0 for x in w):
        raise InvalidRequest("head weights must be finite and >= 0")
    return w


def check_threshold(threshold: float) -> float:
    """The attention-mass threshold as a float in (0, 1]."""
    t = float(threshold)
    if not (0 < t <= 1):
        raise InvalidRequest(f"threshold must be in (0, 1], not {threshold!r}")
    return t


def view_spec(
    n_layers: int,
    n_heads: int,
    *,
    layer: int | None = None,
    heads: Sequence[int] | str | None = None,
    weights: Sequence[float] | str | None = None,
    hide_special: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
) -> ViewSpec:
    """A validated :class:`ViewSpec` for a model of ``n_layers`` layers and ``n_heads`` heads.

    Weights without heads select every head."""
    hs = check_heads(heads, n_heads)
    ws = check_weights(weights, hs, n_heads)
    if ws is not None and hs is None:
        hs = list(range(n_heads))
    return ViewSpec(
        layer=check_layer(layer, n_layers),
        heads=hs,
        weights=ws,
        hide_special=bool(hide_special),
        threshold=check_threshold(threshold),
    )
