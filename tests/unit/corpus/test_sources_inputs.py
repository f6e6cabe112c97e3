"""Reading a build's input (exbert.corpus.inputs): .jsonl fields kept as metadata, bad lines
skipped and counted (or a typed error with --strict), Parquet read by batches, and the
sample the progress estimate extrapolates from. No model, no spaCy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exbert.corpus import annotate as ann
from exbert.corpus.inputs import (
    ReadOptions,
    Skipped,
    input_format,
    metadata_value,
    read_records,
    read_units,
    sample,
)
from exbert.errors import CorpusBuildError, CorpusError

LINES = [
    '{"text": "The first record.", "id": "a1", "source": "wiki", "year": 2020, "ok": true}',
    "",
    "not json at all",
    '["a", "list"]',
    '{"id": "a4", "source": "news"}',
    '{"text": 42, "id": "a5"}',
    '{"text": "   ", "id": "a6"}',
    '{"text": "Second  good\\nrecord.", "id": "a7", "tags": ["x", "y"], "extra": {"k": 1},'
    ' "none": null, "score": 0.5}',
]


def _jsonl(tmp_path: Path, lines: list[str] = LINES) -> Path:
    p = tmp_path / "docs.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_jsonl_keeps_other_fields_and_skips_bad_lines(tmp_path: Path) -> None:
    skipped = Skipped()
    recs = list(read_records(_jsonl(tmp_path), ReadOptions(), skipped))
    assert [(r.index, r.line, r.text) for r in recs] == [
        (0, 1, "The first record."), (1, 8, "Second good record.")]
    assert recs[0].meta == {"id": "a1", "source": "wiki", "year": 2020, "ok": True}
    # nested values JSON-encoded as strings, nulls left out
    assert recs[1].meta == {"id": "a7", "tags": '["x", "y"]', "extra": '{"k": 1}', "score": 0.5}
    assert skipped.count == 5
    assert skipped.examples == [
        "line 3: not a JSON object (invalid JSON)", "line 4: not a JSON object (a list)",
        'line 5: no "text"', 'line 6: "text" is not a string', 'line 7: empty "text"']
    assert skipped.summary() == "skipped 5 lines (first: line 3: not a JSON object (invalid JSON))"
    # the units the spaCy child reads are the good records, numbered alike
    assert [(u.index, u.text) for u in read_units(_jsonl(tmp_path))] == [
        (0, "The first record."), (1, "Second good record.")]
    assert [u.index for u in ann.read_units(_jsonl(tmp_path), start=1)] == [1]


def test_strict_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(CorpusBuildError, match=r"docs\.jsonl:3: not a JSON object") as err:
        list(read_records(_jsonl(tmp_path), ReadOptions(strict=True)))
    assert err.value.details["line"] == 3
    lines = [LINES[0], '{"id": 2}']
    with pytest.raises(CorpusBuildError, match=r'docs\.jsonl:2: no "text"'):
        list(read_records(_jsonl(tmp_path, lines), ReadOptions(strict=True)))


def test_text_field_option(tmp_path: Path) -> None:
    lines = ['{"body": "Hello there.", "text": "not this", "id": 1}', '{"text": "no body"}']
    skipped = Skipped()
    recs = list(read_records(_jsonl(tmp_path, lines), ReadOptions(text_field="body"), skipped))
    assert [(r.text, r.meta) for r in recs] == [("Hello there.", {"text": "not this", "id": 1})]
    assert skipped.first == 'line 2: no "body"'


def test_the_spacy_child_reads_the_options_of_its_environment(tmp_path: Path,
                                                               monkeypatch) -> None:
    lines = ['{"body": "From the body.", "id": 1}', '{"id": 2}']
    monkeypatch.setenv("EXBERT_INPUT_OPTIONS", ReadOptions(text_field="body").to_env())
    assert [u.text for u in read_units(_jsonl(tmp_path, lines))] == ["From the body."]
    monkeypatch.setenv("EXBERT_INPUT_OPTIONS", ReadOptions("body", strict=True).to_env())
    with pytest.raises(CorpusBuildError, match=":2:"):
        list(read_units(_jsonl(tmp_path, lines)))


def test_parquet_by_batches_with_metadata(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "data.parquet"
    n = 2500  # several record batches and row groups
    table = pa.table({
        "text": [f"Sentence number {i}." if i % 100 else None for i in range(n)],
        "id": list(range(n)),
        "source": ["wiki" if i % 2 else "news" for i in range(n)],
    })
    pq.write_table(table, p, row_group_size=700)
    assert input_format(p) == "parquet"
    skipped = Skipped()
    recs = list(read_records(p, ReadOptions(), skipped))
    assert len(recs) == n - 25 and skipped.count == 25
    assert skipped.first == 'row 1: no "text"'
    assert recs[0].text == "Sentence number 1." and recs[0].meta == {"id": 1, "source": "wiki"}
    assert [u.index for u in read_units(p, start=len(recs) - 2)] == [len(recs) - 2,
                                                                    len(recs) - 1]
    with pytest.raises(CorpusBuildError, match=r"no column 'body' \(columns: text, id, source\)"):
        list(read_records(p, ReadOptions(text_field="body")))
    with pytest.raises(CorpusBuildError, match=r"data\.parquet:1: no \"text\""):
        list(read_records(p, ReadOptions(strict=True)))
    s = sample(p, ReadOptions(), max_chars=1000)
    assert 0 < s.share < 0.05 and not s.split


def test_missing_pyarrow_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    import sys

    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(CorpusError, match=r"pip install 'exbert\[parquet\]'"):
        list(read_records(p, ReadOptions()))


def test_metadata_values() -> None:
    assert metadata_value(None) is None and metadata_value(float("nan")) is None
    assert metadata_value(True) is True and metadata_value(3) == 3
    assert json.loads(str(metadata_value({"b": [1, 2]}))) == {"b": [1, 2]}


def test_sample_share_of_a_jsonl_counts_its_bytes_not_its_text(tmp_path: Path) -> None:
    big = "x" * 2000
    lines = [json.dumps({"text": f"Record {i} is short.", "html": big}) for i in range(200)]
    s = sample(_jsonl(tmp_path, lines), ReadOptions(), max_chars=400)
    # 400 characters of text are ~20 records of 200: a tenth of the file, not 400 bytes' worth
    assert 0.05 < s.share < 0.2 and len(s.texts) >= 20
