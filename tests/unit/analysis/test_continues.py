"""``Token.continues``: word pieces joined to their word, on the real tokenizers of the tiny
models (WordPiece of all-MiniLM-L6-v2, byte-level BPE of SmolLM2), checked against oracles
(WordPiece's own ``##`` marks, the tokenizer's word ids), in the HTTP header and the CLI."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from exbert.analysis.encode import continues, encode
from exbert.analysis.types import Token

TEXTS = [
    "The moon eclipses the sun and predominates, don't you think?",
    "Unbelievably, naïve cafés re-opened in 2024: x.y, (tokenization) & C++!",
    "  Spaces  before,\nnewlines\tand tabs... predominates",
    "predominates",
]


def pieces(model: Any, text: str, text_b: str | None = None) -> list[tuple[str, bool]]:
    return [(t.text, t.continues) for t in encode(model, text, text_b).tokens]


def test_wordpiece_eclipses_is_eclipse_and_a_continued_s(tiny: Any) -> None:
    model = tiny("bert")  # MiniLM's WordPiece tokenizer
    got = pieces(model, "The moon eclipses the sun.")
    assert ("eclipse", False) in got and ("s", True) in got
    assert got[got.index(("eclipse", False)) + 1] == ("s", True)
    assert [c for _, c in got].count(True) == 1


@pytest.mark.parametrize("text", TEXTS)
def test_wordpiece_matches_its_own_hash_marks(tiny: Any, text: str) -> None:
    """Oracle: WordPiece writes a continuing piece as ``##piece``."""
    model = tiny("bert")
    enc = encode(model, text)
    vocab = model.tokenizer.convert_ids_to_tokens(enc.input_ids)
    assert [t.continues for t in enc.tokens] == [p.startswith("##") for p in vocab]


def test_byte_level_predominates(tiny: Any) -> None:
    model = tiny("gpt2")  # SmolLM2's byte-level BPE tokenizer
    got = pieces(model, "The sun predominates.")
    words = [t for t, _ in got]
    start = words.index(" predom")
    assert got[start] == (" predom", False)
    assert got[start + 1] == ("inates", True)
    assert got[-1] == (".", False)
    # at the very start of a text, without a leading space, too
    assert [c for _, c in pieces(model, "predominates")] == [False, True, True]


@pytest.mark.parametrize("text", TEXTS)
def test_byte_level_matches_word_ids(tiny: Any, text: str) -> None:
    """Oracle: the tokenizer's word ids, except that a lone space piece (``Ġ`` before digits)
    is no word to continue, nor is punctuation."""
    model = tiny("gpt2")
    tok = model.tokenizer
    enc = encode(model, text)
    words = tok(text, return_offsets_mapping=True).word_ids()
    assert len(words) == len(enc.tokens)
    expected = [False]
    for k in range(1, len(enc.tokens)):
        prev, cur = enc.tokens[k - 1], enc.tokens[k]
        same = words[k] is not None and words[k] == words[k - 1]
        expected.append(same and prev.text[-1:].isalnum() and not cur.text[:1].isspace())
    assert [t.continues for t in enc.tokens] == expected


@pytest.mark.parametrize("family", ["bert", "gpt2"])
@pytest.mark.parametrize("text", TEXTS)
def test_nothing_after_a_space_or_punctuation_continues(tiny: Any, family: str, text: str) -> None:
    enc = encode(tiny(family), text)
    marked = [t for t in enc.tokens if t.continues]
    assert marked or text.startswith("  ")  # every text but the third has pieces to join
    for t in marked:
        assert t.start > 0
        before, first = text[t.start - 1], text[t.start]
        assert not before.isspace() and not first.isspace(), t
        assert before.isalnum(), t  # never after punctuation or a symbol
    for t in enc.tokens:
        assert not (t.special and t.continues)


def test_pairs_never_continue_across_the_segments(tiny: Any) -> None:
    for family in ("bert", "gpt2"):
        toks = encode(tiny(family), "It predominates", "predominates!").tokens
        firsts = [t for t in toks if t.segment == 1 and not t.special]
        assert firsts and not firsts[0].continues
        assert any(t.continues for t in toks if t.segment == 0)
        assert any(t.continues for t in toks if t.segment == 1)


def test_without_word_ids_touching_alphanumerics_join() -> None:
    src = "eclipses, x.y 2024"
    tok = [Token("eclipse", 0, 7, False), Token("s", 7, 8, False), Token(",", 8, 9, False),
           Token("x", 10, 11, False), Token(".", 11, 12, False), Token("y", 12, 13, False),
           Token("20", 14, 16, False), Token("24", 16, 18, False)]
    got = [continues(a, b, None, src) for a, b in pairwise(tok)]
    assert got == [True, False, False, False, False, False, True]
    # a special token or a new segment never continues; word ids overrule touching
    assert not continues(Token("[CLS]", 0, 0, True), tok[0], None, src)
    assert not continues(tok[0], Token("s", 7, 8, False, 1), None, src)
    assert not continues(tok[0], tok[1], False, src)
    # one character split over two byte-level pieces is one word
    emoji = "a \U0001f642"
    assert continues(Token(" \U0001f642", 1, 3, False), Token("\U0001f642", 2, 3, False), None, emoji)


def test_masking_keeps_the_mark(tiny: Any) -> None:
    model = tiny("bert")
    plain = model.analyze("The moon eclipses the sun.")
    k = next(i for i, t in enumerate(plain.tokens) if t.continues)
    masked = model.analyze("The moon eclipses the sun.", mask=[k])
    assert masked.tokens[k].masked and masked.tokens[k].continues


def test_header_and_json_carry_it(tiny: Any) -> None:
    a = tiny("bert").analyze("The moon eclipses the sun.")
    header = a.header()["tokens"]
    assert all(isinstance(t["continues"], bool) for t in header)
    assert [t["continues"] for t in header] == [t.continues for t in a.tokens]
    from exbert.server.schemas import TokenOut

    assert "continues" in TokenOut.model_json_schema()["required"]


def test_cli_prints_continued_pieces_with_hashes(tiny_dir: Any, capsys: Any) -> None:
    from exbert.cli import main

    assert main(["analyze", "The moon eclipses the sun.", "--model", str(tiny_dir("bert")),
                 "--top-k", "0"]) == 0
    out = capsys.readouterr().out
    assert "'eclipse'" in out and "'##s'" in out


@pytest.mark.integration
def test_gemma_words_are_no_words(gemma3_model: Any) -> None:
    """Gemma's tokenizer puts a whole text in one word id: the touching rule decides."""
    got = pieces(gemma3_model, "The moon eclipses, predominates: hello-world.")
    joined = [t for t, c in got if c]
    assert joined and all(t[:1].isalnum() for t in joined)
    assert "," not in joined and "world" not in joined and ":" not in joined
