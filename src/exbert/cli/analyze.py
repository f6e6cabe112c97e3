"""``exbert analyze``, ``exbert info`` and ``exbert models``.

    exbert analyze "The capital of France is" --model smollm2-135m
    exbert analyze "The cat sat." --model minilm-l6 --text-b "It purred." --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from exbert.cli.options import (
    MODEL_HELP,
    add_analysis,
    add_command,
    add_kind,
    add_layer,
    add_max_tokens,
    add_model,
    analysis_kwargs,
    load_kwargs,
)

if TYPE_CHECKING:
    from exbert.analysis import Token


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "analyze", run_analyze,
                    help="analyse a text and print tokens, predictions, attention")
    p.add_argument("text")
    add_model(p)
    add_analysis(p)
    add_layer(p, -1, "layer of the attention summary")
    add_kind(p)
    add_max_tokens(p)
    p.add_argument("--json", action="store_true", help="print the whole analysis as JSON")

    p = add_command(subparsers, "info", run_info, help="describe a model")
    p.add_argument("model", help=MODEL_HELP)
    add_kind(p)

    add_command(subparsers, "models", run_models, help="list the shipped models")


def run_analyze(args: argparse.Namespace) -> int:
    """Print each token, the token it attends to most at ``--layer`` (mean over heads) and its
    top predictions; or the whole analysis as JSON."""
    from exbert.models import load
    from exbert.view import check_layer

    model = load(args.model, **load_kwargs(args))
    info = model.info
    layer = check_layer(args.layer, info.layers)
    a = model.analyze(args.text, **analysis_kwargs(args))
    if args.json:
        sys.stdout.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
        return 0
    print(f"{info.name}: {info.kind}, {info.layers} layers x {info.heads} heads, "
          f"{len(a.tokens)} tokens")
    where = "next token" if info.kind == "autoregressive" else "at token"
    print(f"\n{'#':>3}  {'token':<16} {'attends most to (layer ' + str(layer) + ')':<28} "
          f"predictions ({where})")
    for i, (tok, target, weight) in enumerate(a.summary(layer=layer)):
        preds = ""
        if a.predictions is not None:
            preds = "  ".join(f"{p.token!r} {p.prob:.2f}" for p in a.predictions[i][:3])
        mark = "*" if tok.masked else ""
        print(f"{i:>3}  {shown(tok):<16} {shown(target):<20} {weight:6.2f}  {preds}{mark}")
    if a.predictions is None:
        print(f"\n{a.predictions_unavailable}")
    return 0


def shown(tok: Token) -> str:
    """A token as the text output prints it: quoted, a piece of the word before it as
    ``'##s'`` (WordPiece's notation, for every tokenizer)."""
    return repr(("##" if tok.continues else "") + tok.text)


def run_info(args: argparse.Namespace) -> int:
    """Print the model's :class:`~exbert.info.ModelInfo` as JSON."""
    from exbert.models import load

    info = load(args.model, kind=args.kind).info
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def run_models(_: argparse.Namespace) -> int:
    """Print the shipped aliases and what they are."""
    from exbert.models import SHIPPED

    for m in SHIPPED.values():
        print(f"{m.alias:<14} {m.description}")
    return 0
