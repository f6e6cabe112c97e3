"""exbert.corpus.input_set and exbert.corpus.blocks: many inputs resolved and numbered
globally; blocks of units that together are exactly the stream of units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exbert.corpus.blocks import BlockReader, block_range
from exbert.corpus.input_set import (
    combined_sha256,
    expand_inputs,
    input_format_of,
    input_records,
    read_inputs,
)
from exbert.corpus.inputs import ReadOptions, Skipped
from exbert.errors import CorpusError


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "books" / "deep").mkdir(parents=True)
    (tmp_path / "books" / "b.txt").write_text("One two three.\n\nFour five six.\n")
    (tmp_path / "books" / "deep" / "a.md").write_text("Seven eight.\n")
    (tmp_path / "books" / "skip.csv").write_text("x\n")
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"text": "Nine ten.", "k": 1}) + "\n{bad\n"
        + json.dumps({"text": "Eleven.", "k": 2}) + "\n")
    return tmp_path


def test_expand_sorts_each_argument_and_dedupes(inputs: Path) -> None:
    got = expand_inputs([inputs / "books", str(inputs / "*.jsonl"), inputs / "books" / "b.txt"])
    assert [p.relative_to(inputs).as_posix() for p in got] == [
        "books/b.txt", "books/deep/a.md", "d.jsonl"]
    assert expand_inputs(inputs / "d.jsonl") == [(inputs / "d.jsonl").resolve()]
    assert input_format_of(got) == "mixed" and input_format_of(got[:2]) == "txt"


@pytest.mark.parametrize("arg, message", [
    ("nope-*.txt", "no input file matches"), ("empty", "holds no .txt"),
    ("x.csv", "unknown input format"), ("missing.txt", "no such input file")])
def test_expand_errors(inputs: Path, arg: str, message: str) -> None:
    (inputs / "empty").mkdir()
    (inputs / "x.csv").write_text("a\n")
    with pytest.raises(CorpusError, match=message):
        expand_inputs([inputs / "d.jsonl", str(inputs / arg)])
    with pytest.raises(CorpusError, match="no input given"):
        expand_inputs([])


def test_units_and_records_are_numbered_across_files(inputs: Path) -> None:
    paths = expand_inputs([inputs / "books", inputs / "d.jsonl"])
    units = list(read_inputs(paths, 0, ReadOptions()))
    assert [(u.index, u.text) for u in units] == [
        (0, "One two three."), (1, "Four five six."), (2, "Seven eight."), (3, "Nine ten."),
        (4, "Eleven.")]
    assert [u.index for u in read_inputs(paths, 3, ReadOptions())] == [3, 4]
    skipped = Skipped()
    recs = list(input_records(paths, ReadOptions(), skipped))
    assert [(r.index, r.meta) for r in recs] == [
        (0, {"file": "b.txt"}), (1, {"file": "b.txt"}), (2, {"file": "a.md"}),
        (3, {"file": "d.jsonl", "k": 1}), (4, {"file": "d.jsonl", "k": 2})]
    assert skipped.count == 1 and skipped.first.startswith("d.jsonl line 2")
    one = list(input_records(paths[2:], ReadOptions()))  # one input: no "file"
    assert [r.meta for r in one] == [{"k": 1}, {"k": 2}]
    assert combined_sha256(["a"]) == "a" and combined_sha256(["a", "b"]) != combined_sha256(
        ["b", "a"])


def test_blocks_cover_the_units_exactly_once(inputs: Path) -> None:
    paths = expand_inputs([inputs / "books", inputs / "d.jsonl"])
    for cursor in ((0, 0), (1, 1), (4, 0)):
        reader = BlockReader(paths, ReadOptions())
        got, block, eof = [], 0, False
        while not eof:
            start, stop, skip = block_range(cursor, block, 2)
            assert skip == (cursor[1] if block == 0 else 0)
            units, eof = reader.units(start, stop)
            got += [u.index for u in units]
            block += 1
        assert got == list(range(cursor[0], 5))
    reader = BlockReader(paths, ReadOptions())  # every other block, then back to the start
    assert [u.index for u in reader.units(2, 4)[0]] == [2, 3]
    assert [u.index for u in reader.units(0, 1)[0]] == [0]
