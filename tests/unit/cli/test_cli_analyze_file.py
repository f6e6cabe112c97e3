"""``exbert analyze --file``: reading a text file, the long-input summary (sink mass per layer,
strongest long-range edges) checked against full attention, and clean errors for files that
cannot be analysed. A tiny random Llama (2 layers, 4 heads, 128 positions) keeps it fast; the
summary is the lazy one (``--attention lazy``), compared with the same model's full attention.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from exbert.cli import main
from exbert.cli.analyze import scanned_rows
from exbert.cli.options import MODEL_LIMIT, max_tokens
from support import SMALL_CORPUS_TEXT


@pytest.fixture(scope="module")
def llama(tiny_dir: Any) -> str:
    return str(tiny_dir("llama"))


@pytest.fixture(scope="module")
def text(tiny: Any) -> str:
    """About 100 tokens of prose (the tiny model takes 128)."""
    words = SMALL_CORPUS_TEXT.split()
    tok = tiny("llama").tokenizer
    n = 60
    while len(tok(" ".join(words[: n + 1]))["input_ids"]) <= 100:
        n += 1
    return " ".join(words[:n])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def expected_edges(attn: np.ndarray, tokens: list[Any], d: int, top: int,
                   rows: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """Brute force over full attention [L, H, T, T]: the strongest edges |i - j| >= d, keys
    neither the first token nor special, queries in ``rows``."""
    n = attn.shape[-1]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ok = np.abs(i - j) >= d
    ok[:, 0] = False
    ok[:, [k for k, t in enumerate(tokens) if t.special]] = False
    ok[np.setdiff1d(np.arange(n), rows), :] = False
    found = [(layer, head, int(a), int(b), float(attn[layer, head, a, b]))
             for layer in range(attn.shape[0]) for head in range(attn.shape[1])
             for a, b in zip(*np.nonzero(ok), strict=True)]
    return sorted(found, key=lambda e: -e[4])[:top]


@pytest.mark.parametrize("scan_rows", [0, 8])
def test_long_summary_matches_full_attention(llama, text, tiny, tmp_path, capsys, scan_rows):
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "--file", str(path), "--model", llama, "--attention", "lazy",
                         "--min-distance", "16", "--edges", "7", "--scan-rows", str(scan_rows),
                         "--json")
    assert code == 0, err
    got = json.loads(out)
    full = tiny("llama").analyze(text, attention="full")
    attn = full.attentions
    n = full.n_tokens
    assert (got["mode"], got["n_tokens"], got["n_layers"], got["n_heads"]) == (
        "lazy", n, 2, 4)
    sink = attn[..., 0].mean(axis=2)  # [L, H]: the mean over query rows of the first column
    assert [s["sink"] for s in got["sink"]] == pytest.approx(sink.mean(axis=1), abs=1e-4)
    assert [s["head"] for s in got["sink"]] == sink.argmax(axis=1).tolist()
    rows = scanned_rows(n, 16, True, scan_rows)
    assert got["scan"]["rows_per_head"] == len(rows) == (scan_rows or n - 16)
    want = expected_edges(attn, full.tokens, 16, 7, rows)
    edges = [(e["layer"], e["head"], e["query"], e["key"], e["weight"]) for e in got["edges"]]
    assert [e[:4] for e in edges] == [w[:4] for w in want]
    assert [e[4] for e in edges] == pytest.approx([w[4] for w in want], abs=1e-4)
    assert all(e["query"] - e["key"] >= 16 and e["key"] > 0 for e in got["edges"])
    assert got["edges"][0]["query_token"] == full.tokens[want[0][2]].text


def test_long_summary_as_text(llama, text, tmp_path, capsys):
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "--file", str(path), "--model", llama, "--attention", "lazy",
                         "--min-distance", "20", "--edges", "3")
    assert code == 0, err
    assert "lazy attention" in out and "attention sink" in out
    assert "most sink-heavy head" in out
    assert "|query - key| >= 20" in out
    lines = out.splitlines()
    table = lines[lines.index(next(x for x in lines if x.lstrip().startswith("layer head"))) + 1:]
    assert len(table) == 3  # --edges 3
    assert "attends most to" not in out  # not the per-token table


def test_short_file_keeps_the_token_table(llama, tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text("\ufeffThe cat sat on the mat.\n", encoding="utf-8")  # BOM dropped
    code, out, err = run(capsys, "--file", str(path), "--model", llama)
    assert code == 0, err
    assert "attends most to" in out and "'The'" in out and "\\ufeff" not in out
    code, out2, _ = run(capsys, "The cat sat on the mat.\n", "--model", llama)
    assert out2 == out


def test_text_over_the_model_limit_is_a_clean_error(llama, tmp_path, capsys):
    path = tmp_path / "long.txt"
    path.write_text(SMALL_CORPUS_TEXT * 3, encoding="utf-8")
    code, _, err = run(capsys, "--file", str(path), "--model", llama, "--max-tokens", "max")
    assert code == 2
    assert "accepts at most 128" in err and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "the file is empty"),
    (b"  \n\t\n", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file, not text"),
    ("caf\u00e9 au lait".encode("latin-1"), "not UTF-8 text (byte 3"),
    ("dir", "a folder, not a text file"),
])
def test_unusable_files_are_clean_errors(tmp_path, capsys, content, message):
    path = tmp_path / "input.txt"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    # no model is loaded: the file is read first (a model name that does not exist proves it)
    code, out, err = run(capsys, "--file", str(path), "--model", "no-such-model")
    assert code == 2
    assert err.startswith(f"exbert analyze: error: {path}: ")
    assert message in err and "Traceback" not in err and out == ""


def test_unreadable_file_is_a_clean_error(tmp_path, capsys):
    import os

    path = tmp_path / "secret.txt"
    path.write_text("hello", encoding="utf-8")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: permissions do not stop reading")
        code, _, err = run(capsys, "--file", str(path), "--model", "no-such-model")
    finally:
        path.chmod(0o600)
    assert code == 2 and "permission denied" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [[], ["some text", "--file", "x.txt"]])
def test_text_or_file_exactly_one(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", *argv, "--model", "no-such-model"])
    assert exc.value.code == 2
    assert "--file" in capsys.readouterr().err


def test_negative_scan_options_are_refused(tmp_path, capsys):
    path = tmp_path / "doc.txt"
    path.write_text("hello", encoding="utf-8")
    code, _, err = run(capsys, "--file", str(path), "--min-distance", "-1")
    assert code == 2 and "--min-distance must be 0 or more" in err


def test_max_tokens_accepts_max_for_the_models_own_limit(capsys):
    import argparse

    assert max_tokens("4096") == 4096 and max_tokens("max") == MODEL_LIMIT
    for bad in ("0", "-3", "lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            max_tokens(bad)
    with pytest.raises(SystemExit):
        main(["analyze", "hi", "--max-tokens", "lots"])
    assert "expected a number of tokens or 'max'" in capsys.readouterr().err


def test_scanned_rows():
    assert scanned_rows(10, 4, True, 0).tolist() == [4, 5, 6, 7, 8, 9]
    assert scanned_rows(10, 4, False, 0).tolist() == list(range(10))
    assert scanned_rows(10, 6, False, 0).tolist() == [0, 1, 2, 3, 6, 7, 8, 9]
    assert scanned_rows(10, 20, True, 0).tolist() == []
    assert scanned_rows(1000, 64, True, 5).tolist() == [64, 65, 66, 67, 68]
    assert scanned_rows(1000, 64, True, 512).tolist() == [*range(64, 320), *range(744, 1000)]
    three = scanned_rows(8192, 64, True, 600)  # 3 runs of 200 consecutive rows
    assert three.tolist() == [*range(64, 264), *range(4028, 4228), *range(7992, 8192)]


def test_help_documents_the_scan(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("--file PATH", "--attention {auto,full,lazy}", "--min-distance D",
                  "--scan-rows N", "spread evenly", "256 rows at a time"):
        assert words in out, words
