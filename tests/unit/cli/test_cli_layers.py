"""One layer numbering on the CLI: every command that takes a layer states it in ``--help``,
``--layer`` means the same transformer layer everywhere, ``embeddings`` names the embedding
output, and a layer the model does not have is a clean error (exit 2, the range, no
traceback)."""

from __future__ import annotations

import argparse

import pytest

from exbert.cli import build_parser, main
from exbert.view import LAYER_HELP


def _leaves(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.update(_leaves(sub) or {sub.prog: sub})
    return found


def test_every_layer_option_states_the_numbering() -> None:
    with_layer = {}
    for prog, parser in _leaves(build_parser()).items():
        for action in parser._actions:
            if {"--layer", "--layers"} & set(action.option_strings):
                with_layer.setdefault(prog, []).append(action)
    assert {"exbert analyze", "exbert export", "exbert corpus search",
            "exbert corpus build"} <= set(with_layer)
    for prog, actions in with_layer.items():
        for action in actions:
            text = " ".join((action.help or "").split())
            assert "0-based" in text and "block" not in text, (prog, action.option_strings)
    search = next(a for a in with_layer["exbert corpus search"] if "--layer" in a.option_strings)
    assert LAYER_HELP in search.help and "embeddings" in search.help
    build = next(a for a in with_layer["exbert corpus build"] if "--layers" in a.option_strings)
    assert "embeddings,0,5" in build.help


def test_corpus_search_layer_takes_embeddings_and_integers() -> None:
    parser = build_parser()
    for given, parsed in (("3", 3), ("-1", -1), ("embeddings", "embeddings")):
        args = parser.parse_args(["corpus", "search", "DIR", "--text", "t", "--token", "1",
                                  "--layer", given])
        assert args.layer == parsed


def test_corpus_build_layer_out_of_range_is_a_clean_error(tmp_path, tiny_dir, capsys) -> None:
    (tmp_path / "in.txt").write_text("A short text. Another one.\n", encoding="utf-8")
    model = str(tiny_dir("bert"))  # 2 layers
    code = main(["corpus", "build", str(tmp_path / "in.txt"), "--model", model, "--out",
                 str(tmp_path / "out"), "--layers", "embeddings,2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "layer 2 is out of range" in err and "0..1" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("layer", ["2", "-3"])
def test_analyze_layer_out_of_range_names_the_range(tiny_dir, capsys, layer) -> None:
    code = main(["analyze", "hi there", "--model", str(tiny_dir("bert")), "--layer", layer])
    err = capsys.readouterr().err
    assert code == 2 and "0..1" in err and "Traceback" not in err
