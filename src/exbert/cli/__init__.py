"""The ``exbert`` command: a thin layer over the library.

One module per group of commands (:mod:`~exbert.cli.analyze`: analyze, info, models;
:mod:`~exbert.cli.serve`: serve, prepare; :mod:`~exbert.cli.corpus`; :mod:`~exbert.cli.export`;
:mod:`~exbert.cli.doctor`: what the installation has and lacks),
each registering its commands with ``set_defaults(run=handler)``; options that several commands
share are declared once in :mod:`~exbert.cli.options`; errors become exit codes in one place,
:mod:`~exbert.cli.exits`. No ML library (torch, transformers, FAISS, spaCy) is imported until
a command runs, so ``exbert --help`` is instant. ``EXBERT_DEBUG=1`` lets an unexpected error
(a bug) end with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from exbert._version import __version__
from exbert.cli import analyze, corpus, doctor, export, serve
from exbert.cli.exits import exit_code, exit_codes_help
from exbert.cli.serve import access_token
from exbert.errors import ExbertError

__all__ = ["access_token", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``exbert`` command; the chosen one's handler is ``args.run``."""
    parser = argparse.ArgumentParser(
        prog="exbert", description="Look inside transformer language models.",
        epilog=exit_codes_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"exbert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (analyze, serve, corpus, export, doctor):
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exbert ARGV``; returns the exit status (see :mod:`exbert.cli.exits`). An error
    prints ``exbert COMMAND: error: MESSAGE`` on stderr, without a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt as exc:
        print(f"\n{args.prog}: interrupted", file=sys.stderr)
        return exit_code(exc)
    except Exception as exc:
        if os.environ.get("EXBERT_DEBUG") and not isinstance(exc, ExbertError):
            raise  # a bug: the traceback, for whoever debugs it
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        hint = "" if isinstance(exc, ExbertError) else " (EXBERT_DEBUG=1 shows the traceback)"
        print(f"{args.prog}: error: {message}{hint}", file=sys.stderr)
        return exit_code(exc)
