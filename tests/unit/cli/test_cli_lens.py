"""``exbert analyze ... --lens`` and ``--heads-report`` on tiny models: the table is the library's
lens (each cell the layer's top-1 and its probability) within the terminal's width, ``--json``
is ``LogitLens.to_dict()`` / the ranked detectors, and an encoder without a head ends with one
line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exbert.analysis import DETECTORS
from exbert.cli import main
from exbert.cli.lenses import CELL, TOKEN_WIDTH, fit, visible

TEXT = "The cat sat on the mat and the cat saw the dog."


@pytest.fixture(scope="module")
def llama(tiny_dir, tiny):
    return str(tiny_dir("llama")), tiny("llama")


def run(capsys, *argv):
    code = main(["analyze", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("width", [60, 120])
def test_the_lens_table_is_the_library_lens_within_the_width(llama, capsys, monkeypatch, width):
    folder, model = llama
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run(capsys, TEXT, "--model", folder, "--lens")
    assert code == 0, err
    lens = model.logit_lens(model.analyze(TEXT))
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines[1:]), "\n".join(lines)
    assert "logit lens" in out and "output of layer" in out
    # each block: the tokens' header, then rows emb, 0, 1 (hidden states 0..L)
    rows = [line for line in lines if line[:4].strip() in ("emb", "0", "1")]
    per_block = max(1, (width - 5) // (CELL + 1))
    n = len(lens.positions)
    assert len(rows) == lens.n_layers * -(-n // per_block)
    for b in range(-(-n // per_block)):
        block = rows[b * lens.n_layers:(b + 1) * lens.n_layers]
        cols = range(b * per_block, min(n, (b + 1) * per_block))
        for hidden, line in enumerate(block):
            assert line[:4].strip() == ("emb" if hidden == 0 else str(hidden - 1))
            cells = [f"{fit(visible(lens.top[hidden][c][0].token), TOKEN_WIDTH)} "
                     f"{lens.top[hidden][c][0].prob:.2f}" for c in cols]
            assert line[5:] == " ".join(cells)


def test_the_lens_as_json(llama, capsys):
    folder, model = llama
    code, out, _ = run(capsys, TEXT, "--model", folder, "--lens", "--json",
                       "--lens-top-k", "3")
    assert code == 0
    got = json.loads(out)
    want = json.loads(json.dumps(model.logit_lens(model.analyze(TEXT), top_k=3).to_dict()))
    assert got == want and got["top_k"] == 3


def test_the_heads_report(llama, capsys, monkeypatch):
    folder, model = llama
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, TEXT, "--model", folder, "--heads-report", "--json",
                       "--top-heads", "3")
    assert code == 0
    report = json.loads(out)
    scores = model.head_scores(model.analyze(TEXT))
    assert report["names"] == list(DETECTORS)
    assert (report["layers"], report["heads"]) == scores["self"].shape
    for name in DETECTORS:
        s = np.nan_to_num(scores[name], nan=-1.0)
        top = report["top"][name]
        assert [x["score"] for x in top] == sorted((x["score"] for x in top), reverse=True)
        assert len(top) == min(3, int(np.isfinite(scores[name]).sum()))
        if top:
            assert top[0]["score"] == pytest.approx(float(s.max()))
            assert s[top[0]["layer"], top[0]["head"]] == pytest.approx(top[0]["score"])

    code, out, _ = run(capsys, TEXT, "--model", folder, "--heads-report", "--top-heads", "3")
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines[1:])
    best = report["top"]["previous_token"][0]
    assert any(line.split()[:5] == ["previous_token", "1", str(best["layer"]),
                                    str(best["head"]), f"{best['score']:.3f}"]
               for line in lines)


def test_both_as_one_json_object(llama, capsys):
    folder, _ = llama
    code, out, _ = run(capsys, "The cat sat.", "--model", folder, "--lens", "--heads-report",
                       "--json")
    assert code == 0
    both = json.loads(out)
    assert set(both) == {"lens", "heads"} and both["lens"]["top_k"] == 5


def test_an_encoder_without_a_head_is_one_line_and_exit_2(tiny_dir, capsys):
    code, out, err = run(capsys, "The cat sat.", "--model", str(tiny_dir("bert-headless")),
                         "--lens")
    assert code == 2
    assert err.startswith("exbert analyze: error: ") and len(err.strip().splitlines()) == 1
    assert "head" in err and "Traceback" not in err
    # the detectors need no head
    code, out, err = run(capsys, "The cat sat.", "--model", str(tiny_dir("bert-headless")),
                         "--heads-report")
    assert code == 0 and "previous_token" in out


@pytest.mark.parametrize("flags, words", [
    (["--lens", "--lens-top-k", "0"], "--lens-top-k must be between 1 and"),
    (["--heads-report", "--top-heads", "0"], "--top-heads must be 1 or more"),
])
def test_bad_options_exit_2(llama, capsys, flags, words):
    folder, _ = llama
    code, _, err = run(capsys, "hi", "--model", folder, *flags)
    assert code == 2 and words in err


@pytest.mark.parametrize("text, width, expected", [
    ("cat", 7, "cat    "), (" cat", 7, "·cat   "), ("interesting", 7, "intere…"),
    ("a\nb", 4, "a⏎b "), ("", 3, "∅  "), ("日本語の", 5, "日本…"),
])
def test_cells_are_cut_and_padded_to_terminal_columns(text, width, expected):
    assert fit(visible(text), width) == expected


def test_a_lazy_analysis_says_its_lens_has_no_columns(llama, capsys):
    folder, _ = llama
    code, out, _ = run(capsys, "The cat sat.", "--model", folder, "--lens", "--attention",
                       "lazy")
    assert code == 0 and "keeps no hidden states" in out and "--attention full" in out
