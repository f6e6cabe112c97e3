"""exbert.corpus.annotate: alignment of model tokens to spaCy words by character offsets,
reading .txt and .jsonl input. No model, no spaCy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exbert.corpus import annotate as ann
from exbert.corpus.inputs import ReadOptions
from exbert.errors import CorpusBuildError, CorpusError, CorpusInputError

# --- alignment ----------------------------------------------------------------------------------


def spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Offsets of consecutive pieces found left to right in text."""
    out, at = [], 0
    for p in pieces:
        at = text.index(p, at)
        out.append((at, at + len(p)))
        at += len(p)
    return out


def words_of(text: str, words: list[str]) -> tuple[list[int], list[int]]:
    s = spans(text, words)
    return [a for a, _ in s], [b for _, b in s]


def test_align_contraction_wordpiece_vs_spacy() -> None:
    text = "I don't know."
    ws, we = words_of(text, ["I", "do", "n't", "know", "."])  # spaCy's words
    toks = [(0, 0), *spans(text, ["I", "don", "'", "t", "know", "."]), (13, 13)]
    special = [True, False, False, False, False, False, False, True]
    out = ann.align(toks, special, ws, we, len(text)).tolist()
    # [CLS] I don ' t know . [SEP] -> -, I, do, n't, n't, know, ., -
    assert out == [-1, 0, 1, 2, 2, 3, 4, -1]


def test_align_byte_level_tokens_with_leading_space_and_emoji() -> None:
    text = "I'll see the café 😀 now"
    ws, we = words_of(text, ["I", "'ll", "see", "the", "café", "😀", "now"])
    # GPT-style tokens carry the leading space; the emoji is split into two byte tokens
    toks = [(0, 1), (1, 4), (4, 8), (8, 12), (12, 17), (17, 19), (18, 19), (19, 23)]
    out = ann.align(toks, [False] * len(toks), ws, we, len(text)).tolist()
    assert out == [0, 1, 2, 3, 4, 5, 5, 6]


def test_align_hyphen_and_whitespace_only_tokens() -> None:
    text = "a well-known  fact"
    ws, we = words_of(text, ["a", "well", "-", "known", "fact"])
    toks = [(0, 1), (2, 6), (6, 7), (7, 12), (12, 13), (14, 18)]
    out = ann.align(toks, [False] * 6, ws, we, len(text)).tolist()
    assert out == [0, 1, 2, 3, -1, 4]  # the lone space token has no word


def test_align_token_spanning_two_words_takes_the_bigger_share() -> None:
    text = "cannot"
    ws, we = [0, 3], [3, 6]  # spaCy: "can" "not"
    assert ann.align([(0, 4)], [False], ws, we, len(text)).tolist() == [0]
    assert ann.align([(2, 6)], [False], ws, we, len(text)).tolist() == [1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")),
                        min_size=1, max_size=6), min_size=1, max_size=8),
       st.data())
def test_align_property_token_overlaps_its_word(words: list[str], data: st.DataObject) -> None:
    text = " ".join(words)
    ws, we = [], []
    at = 0
    for w in words:
        ws.append(at)
        we.append(at + len(w))
        at += len(w) + 1
    # random token boundaries over the text
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=10))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    toks = list(itertools.pairwise(bounds))
    out = ann.align(toks, [False] * len(toks), ws, we, len(text))
    for (s, e), w in zip(toks, out.tolist(), strict=True):
        chars = [i for i in range(s, e) if text[i] != " "]
        if not chars:
            assert w == -1
        else:
            assert w >= 0 and any(ws[w] <= i < we[w] for i in chars)


# --- input --------------------------------------------------------------------------------------


def test_txt_units_paragraphs_and_rewrapped_lines(tmp_path: Path) -> None:
    p = tmp_path / "in.txt"
    p.write_text("First line\nwrapped  here.\n\n\n  Second   para.\r\n\r\nThird.\n", "utf-8")
    units = list(ann.read_units(p))
    assert [u.text for u in units] == ["First line wrapped here.", "Second para.", "Third."]
    assert [u.index for u in units] == [0, 1, 2] and all(u.split for u in units)
    assert [u.text for u in ann.read_units(p, start=2)] == ["Third."]


def test_jsonl_units_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text('{"text": "One sentence."}\n\n{"text": "Two  words", "id": 3}\n', "utf-8")
    units = list(ann.read_units(p))
    assert [(u.text, u.split) for u in units] == [("One sentence.", False), ("Two words", False)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no"}\n', "utf-8")
    assert [u.text for u in ann.read_units(bad)] == ["ok"]  # skipped (and counted by a build)
    strict = ReadOptions(strict=True)
    with pytest.raises(CorpusInputError, match=r"bad.jsonl:2.*\"text\""):
        list(ann.read_units(bad, options=strict))
    bad.write_text("not json\n", "utf-8")
    with pytest.raises(CorpusInputError, match="not a JSON object"):
        list(ann.read_units(bad, options=strict))


def test_unknown_input_format(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"\.txt.*\.jsonl"):
        ann.input_format(tmp_path / "x.csv")


def test_non_utf8_input(tmp_path: Path) -> None:
    p = tmp_path / "latin1.txt"
    p.write_bytes("café".encode("latin-1"))
    with pytest.raises(CorpusBuildError, match="UTF-8"):
        list(ann.read_units(p))
