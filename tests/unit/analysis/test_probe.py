"""The induction probe: random whole words twice, a text that re-tokenises to exactly them,
seeded, bounded."""

from __future__ import annotations

from typing import Any

import pytest

from exbert.analysis.encode import encode
from exbert.analysis.probe import probe_text
from exbert.errors import InvalidRequest, TextTooLong
from exbert.view import DEFAULT_PROBE_LENGTH, MAX_PROBE_LENGTH, MIN_PROBE_LENGTH


@pytest.mark.parametrize("family", ["bert", "llama"])  # WordPiece, byte-level BPE
def test_probe_repeats_random_words_and_its_text_round_trips(tiny: Any, family: str) -> None:
    model = tiny(family)
    a = model.induction_probe(length=12, seed=3)
    words = [t for t in a.tokens if not t.special]
    ids = [i for i, t in zip(a.input_ids, a.tokens, strict=True) if not t.special]
    assert len(ids) == 24 and ids[:12] == ids[12:], "the same tokens twice"
    assert len(set(ids[:12])) == 12, "distinct tokens"
    assert all(w.text.strip().isalpha() and w.text.isascii() and not w.continues for w in words)
    # the app analyses the probe by its text: the text gives back the very same tokens
    again = model.analyze(a.text, top_k=0)
    assert again.input_ids == a.input_ids
    assert [t.text for t in again.tokens] == [t.text for t in a.tokens]
    text, want = probe_text(model, 12, 3)
    assert text == a.text and want == ids
    # a clean induction pattern: every token of the second copy has its earlier occurrence
    scores = model.head_scores(a)
    assert not (scores["induction"] != scores["induction"]).any(), "no NaN: the pattern applies"


def test_probe_is_seeded(tiny: Any) -> None:
    model = tiny("llama")
    assert probe_text(model, 20, 1) == probe_text(model, 20, 1)
    assert probe_text(model, 20, 1)[0] != probe_text(model, 20, 2)[0]
    default = model.induction_probe()
    assert sum(not t.special for t in default.tokens) == 2 * DEFAULT_PROBE_LENGTH


@pytest.mark.parametrize("length", [MIN_PROBE_LENGTH - 1, 0, -3, MAX_PROBE_LENGTH + 1, 2.5,
                                    True, "50"])
def test_probe_length_outside_its_bounds_is_refused(tiny: Any, length: Any) -> None:
    with pytest.raises(InvalidRequest, match="length"):
        tiny("bert").induction_probe(length=length)


def test_longest_probe_the_model_takes_round_trips(tiny: Any) -> None:
    from support import TINY_MAX_POSITIONS

    model = tiny("bert")
    longest = (TINY_MAX_POSITIONS - 2) // 2  # [CLS] ... [SEP]
    text, ids = probe_text(model, longest, 0)
    enc = encode(model, text)
    assert [i for i, t in zip(enc.input_ids, enc.tokens, strict=True) if not t.special] == ids
    assert len(enc.input_ids) == TINY_MAX_POSITIONS
    with pytest.raises(TextTooLong, match="at most"):  # past the model's positions
        probe_text(model, longest + 1, 0)
