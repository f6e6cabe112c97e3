"""The options that several ``exbert`` commands share, each declared once, and the values they
parse to. Defaults come from the library (:mod:`exbert.view`, :mod:`exbert.info`); help
strings state them through ``%(default)s`` so that they cannot disagree.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, get_args

from exbert.errors import InvalidRequest
from exbert.info import DEFAULT_MAX_TOKENS, Kind
from exbert.view import (
    DEFAULT_THRESHOLD,
    DEFAULT_TOP_K,
    LAYER_HELP,
    MAX_TOP_K,
    Layer,
    parse_floats,
    parse_ints,
    parse_layer,
)

DEFAULT_MODEL = "smollm2-135m"
ATTENTION_MODES = ("auto", "full", "lazy")
MODEL_HELP = "alias (see `exbert models`), folder, .gguf file or hub id"


def _argtype(parse: Callable[[str, str], Any]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            return parse(value, "")
        except InvalidRequest as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    convert.__name__ = parse.__name__  # argparse names the type in its messages
    return convert


#: ``"2,5"`` -> ``[2, 5]``; ``""`` or ``"all"`` -> None.
int_list = _argtype(parse_ints)
#: ``"2,1.5"`` -> ``[2.0, 1.5]``; ``""`` or ``"all"`` -> None.
float_list = _argtype(parse_floats)


def layer(value: str, _what: str) -> Layer:
    return parse_layer(value)


#: ``"3"`` -> 3, ``"-1"`` -> -1, ``"embeddings"`` -> ``"embeddings"`` (see exbert.view).
layer_arg = _argtype(layer)


# --- model ----------------------------------------------------------------------------------


def add_model(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--model NAME`` (default :data:`DEFAULT_MODEL` unless ``required``)."""
    if required:
        parser.add_argument("--model", required=True, help=MODEL_HELP)
    else:
        parser.add_argument("--model", default=DEFAULT_MODEL,
                            help=f"{MODEL_HELP} (default %(default)s)")


def add_kind(parser: argparse.ArgumentParser) -> None:
    """``--kind`` overrides the kind that exbert detects."""
    parser.add_argument("--kind", choices=get_args(Kind),
                        help="override the detected kind of model")


#: What ``--max-tokens max`` parses to: more than any model's positions, so that
#: :func:`exbert.models.load` caps it at the model's own limit (``ModelInfo.max_positions``).
MODEL_LIMIT = 2**31 - 1


def max_tokens(value: str) -> int:
    """``"4096"`` -> 4096; ``"max"`` -> :data:`MODEL_LIMIT` (the model's own limit)."""
    if value.strip().lower() == "max":
        return MODEL_LIMIT
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of tokens or 'max', not {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def add_max_tokens(parser: argparse.ArgumentParser, what: str = "tokens of one analysis") -> None:
    """``--max-tokens N``: the model's token cap; ``max`` is the model's own limit (full
    attention's memory grows as N^2, lazy attention's as N)."""
    parser.add_argument("--max-tokens", type=max_tokens, default=DEFAULT_MAX_TOKENS, metavar="N",
                        help=f"most {what}, or 'max' for the model's own limit (full attention's "
                             "memory grows as N^2, lazy attention's as N; default %(default)s)")


def load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :func:`exbert.models.load` from :func:`add_kind`/:func:`add_max_tokens`."""
    return {"kind": getattr(args, "kind", None), "max_tokens": args.max_tokens}


# --- analysis -------------------------------------------------------------------------------


def add_analysis(parser: argparse.ArgumentParser) -> None:
    """``--text-b``, ``--mask`` and ``--top-k``: what ``Model.analyze`` takes besides the text."""
    parser.add_argument("--text-b", help="second sentence of a pair")
    parser.add_argument("--mask", type=int_list, default=None, metavar="I,J",
                        help="token positions to mask (bidirectional models): 2,5")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K",
                        help=f"predictions per token, 0..{MAX_TOP_K} (default %(default)s)")


def add_attention(parser: argparse.ArgumentParser) -> None:
    """``--attention auto|full|lazy``: how ``Model.analyze`` computes attention."""
    parser.add_argument("--attention", choices=ATTENTION_MODES, default="auto",
                        help="full: every layer's [heads, T, T] attention in memory (T^2); "
                             "lazy: the forward records queries and keys and attention is "
                             "recomputed on demand (memory grows as T); auto: lazy when full "
                             "attention would be large (default %(default)s)")


def analysis_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``Model.analyze`` from :func:`add_analysis`'s options (and
    :func:`add_attention`'s, where the command has it)."""
    kwargs: dict[str, Any] = {
        "text_b": args.text_b, "mask": tuple(args.mask or ()), "top_k": args.top_k}
    if getattr(args, "attention", None) is not None:
        kwargs["attention"] = args.attention
    return kwargs


# --- view -----------------------------------------------------------------------------------


def add_layer(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    """``--layer L``: a transformer layer, 0-based, negative from the end (the numbering of
    every exbert command, see :mod:`exbert.view`)."""
    parser.add_argument("--layer", type=int, default=default, metavar="L",
                        help=f"{what}: {LAYER_HELP} (default %(default)s)")


def add_view(parser: argparse.ArgumentParser) -> None:
    """The view of the browser app: ``--layer``, ``--heads``, ``--weights``,
    ``--show-special``, ``--threshold``, ``--color-by-head`` and ``--hide-first``."""
    add_layer(parser, 0, "layer shown")
    parser.add_argument("--heads", type=int_list, metavar="H,H",
                        help="heads combined: 0,3 (default all)")
    parser.add_argument("--weights", type=float_list, metavar="W,W",
                        help="weights of the --heads: 2,1 (default equal)")
    parser.add_argument("--show-special", action="store_true", help="show special tokens")
    parser.add_argument("--color-by-head", action="store_true",
                        help="draw each head's lines in its own colour (default: their mix)")
    parser.add_argument("--hide-first", action="store_true",
                        help="leave out the first token's lines (the attention sink of models "
                             "without a BOS token, e.g. SmolLM2)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="share (0..1] of each row's attention the drawn edges cover "
                             "(default %(default)s)")


def view_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :func:`exbert.view.view_spec` from :func:`add_view`'s options."""
    return {"layer": args.layer, "heads": args.heads, "weights": args.weights,
            "hide_special": not args.show_special, "threshold": args.threshold,
            "color_by_head": args.color_by_head, "hide_first": args.hide_first}


# --- commands -------------------------------------------------------------------------------


def add_command(subparsers: Any, name: str, run: Callable[[argparse.Namespace], int],
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose handler is ``args.run`` and whose name in messages is ``args.prog``
    (``"exbert corpus build"``); ``kwargs`` go to ``add_parser`` (``help``, ``description``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(run=run, prog=parser.prog)
    return parser
