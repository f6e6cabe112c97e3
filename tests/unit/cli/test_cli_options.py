"""Options shared by several commands are declared once: same defaults, same help; help
strings that state a default state the real one; building the parser stays light."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from exbert.cli import build_parser
from exbert.view import DEFAULT_THRESHOLD, DEFAULT_TOP_K


def leaf_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``{"exbert analyze": parser, "exbert corpus build": parser, ...}``."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.update(leaf_parsers(sub) or {sub.prog: sub})
    return found


PARSERS = leaf_parsers(build_parser())


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._expand_help(action)


def test_every_command_is_a_leaf_with_a_handler():
    assert set(PARSERS) == {
        "exbert analyze", "exbert info", "exbert models", "exbert serve", "exbert prepare",
        "exbert corpus build", "exbert corpus search", "exbert corpus info",
        "exbert corpus index", "exbert export", "exbert doctor",
    }
    for prog, parser in PARSERS.items():
        assert callable(parser.get_default("run")), prog
        assert parser.get_default("prog") == prog


@pytest.mark.parametrize("flag, commands", [
    ("--model", ["analyze", "export"]),
    ("--text-b", ["analyze", "export"]),
    ("--mask", ["analyze", "export"]),
    ("--top-k", ["analyze", "export"]),
    ("--kind", ["analyze", "info", "export"]),
    ("--max-tokens", ["analyze", "export", "serve", "corpus build"]),
    ("--heads", ["export", "corpus search"]),
])
def test_shared_options_are_the_same_everywhere(flag, commands):
    actions = [option(PARSERS[f"exbert {c}"], flag) for c in commands]
    assert all(a is not None for a in actions), flag
    first = actions[0]
    for a in actions[1:]:
        assert (a.default, a.type, a.choices, a.nargs) == (
            first.default, first.type, first.choices, first.nargs), flag


def test_defaults_come_from_the_library():
    from exbert.info import DEFAULT_MAX_TOKENS

    export = PARSERS["exbert export"]
    assert option(export, "--top-k").default == DEFAULT_TOP_K
    assert option(export, "--threshold").default == DEFAULT_THRESHOLD
    assert option(export, "--max-tokens").default == DEFAULT_MAX_TOKENS


def test_corpus_build_defaults_are_the_builds():
    import inspect

    from exbert.corpus.build import build

    cli = PARSERS["exbert corpus build"]
    params = inspect.signature(build).parameters
    for flag, name in (("--shard-sentences", "shard_sentences"), ("--spacy", "spacy_pipeline"),
                       ("--batch-tokens", "batch_tokens"), ("--min-words", "min_words"),
                       ("--workers", "workers"), ("--vectors", "vectors"), ("--ray", "ray")):
        assert option(cli, flag).default == params[name].default, flag


def test_corpus_build_takes_many_inputs_and_ray_with_or_without_an_address():
    cli = PARSERS["exbert corpus build"]
    base = ["--model", "m", "--out", "o"]
    args = cli.parse_args(["a.txt", "books/", "x/*.jsonl", *base])
    assert args.input == ["a.txt", "books/", "x/*.jsonl"] and args.ray is None
    assert args.workers == 1 and args.vectors == "sq8"
    assert cli.parse_args(["a.txt", *base, "--ray"]).ray == ""  # a local Ray
    assert cli.parse_args(["a.txt", *base, "--ray", "head:6379"]).ray == "head:6379"
    assert cli.parse_args(["a.txt", *base, "--workers", "3", "--vectors", "pq"]).vectors == "pq"


STATED = re.compile(r"\bdefault:? (?P<value>[^\s;,)]+)")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_help_states_the_real_default(prog):
    parser = PARSERS[prog]
    checked = 0
    for action in parser._actions:
        if not action.help or action.help == argparse.SUPPRESS:
            continue
        for m in STATED.finditer(expanded_help(parser, action)):
            stated, default = m.group("value"), action.default
            if isinstance(default, bool) or default is None:
                # "default: all", "default equal": words, never a number the parser lacks
                assert _number(stated) is None, (prog, action.dest, stated)
            elif isinstance(default, int | float):
                assert _number(stated) == default, (prog, action.dest, stated, default)
            else:
                assert stated == str(default), (prog, action.dest, stated, default)
            checked += 1
    assert checked or prog in {"exbert models", "exbert corpus info", "exbert corpus index",
                               "exbert info", "exbert prepare", "exbert corpus search",
                               "exbert doctor"}


def test_help_of_every_command_renders():
    for prog, parser in PARSERS.items():
        assert parser.format_help().startswith(f"usage: {prog}")


HEAVY = ("torch", "transformers", "faiss", "spacy", "numpy")


def _imported_after_build_parser() -> set[str]:
    code = ("import sys, exbert.cli; exbert.cli.build_parser(); "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(out.split())


def test_building_the_parser_imports_no_ml_library():
    assert not _imported_after_build_parser() & {"torch", "transformers", "faiss", "spacy"}


def test_python_m_exbert_cli_runs():
    out = subprocess.run([sys.executable, "-m", "exbert.cli", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "exit status" in out.stdout, out.stderr
