"""Property tests: arbitrary unicode text through both real tokenizers and tiny models.

Offsets stay inside their text, starts never go backwards within a segment, a non-special
token's text is exactly ``text[start:end]``, and attention rows sum to one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exbert.errors import EmptyText, TextTooLong

# Pieces that break naive offset handling: emoji (astral, 4 UTF-8 bytes), ZWJ sequences,
# skin-tone and flag sequences, combining marks, RTL text and marks, BOM, zero-width and
# control characters, CJK (split per character by WordPiece), ligatures that NFKC expands,
# characters whose lowercase is longer (İ), Hangul that NFD decomposes.
TRICKY = [
    "😀", "👨‍👩‍👧‍👦", "👍🏽", "🇫🇷", "e\u0301", "\u0301", "\u200d", "\u200b", "\u200e",
    "\u200f", "\u202e", "\ufeff", "\x00", "\x07", "\t", "\n", "\r\n", "\u00a0", "中文", "日本語",
    "한국어", "ﬁ", "İ", "ß", "Å", "עברית", "مرحبا", "١٢٣", "…", "—", "'", "\"", "[MASK]",
    "[SEP]", "<|im_start|>", "##", "x" * 30, "  ", "🏳️‍🌈", "\U0001d400", "a\u0308\u0301",
]

texts = st.lists(
    st.one_of(
        st.sampled_from(TRICKY),
        st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
        st.sampled_from(["The", " cat", " sat", ".", " on", "mat", "Paris", "1999"]),
    ),
    min_size=1,
    max_size=10,
).map("".join)

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check_tokens(a: Any, text: str, text_b: str | None) -> None:
    sources = (text, text_b or "")
    last_start = [0, 0]
    assert len(a.tokens) == len(a.input_ids)
    segments = [t.segment for t in a.tokens]
    assert segments == sorted(segments), "segment 0 then segment 1"
    for t in a.tokens:
        src = sources[t.segment]
        assert 0 <= t.start <= t.end <= len(src), t
        assert t.start >= last_start[t.segment], "starts never go backwards"
        last_start[t.segment] = t.start
        if not t.special:
            assert t.text == src[t.start:t.end], t
            assert t.end > t.start, t
    n = len(a.tokens)
    assert a.attentions.shape[-2:] == (n, n)
    np.testing.assert_allclose(a.attentions.sum(axis=-1), 1.0, atol=1e-4)
    assert np.isfinite(a.hidden_states).all()
    assert np.isfinite(a.contexts).all()


def _analyze(model: Any, text: str, text_b: str | None = None) -> Any:
    try:
        return model.analyze(text, text_b=text_b, top_k=1)
    except EmptyText:
        # Whitespace-only, or only characters the tokenizer drops: a refusal is the contract.
        assume(False)
    except TextTooLong as exc:
        assert exc.details["tokens"] > exc.details["limit"] == model.info.max_tokens
        assume(False)


@pytest.mark.parametrize("family", ["bert", "llama"])  # WordPiece and byte-level BPE
@PROPERTY_SETTINGS
@given(text=texts)
def test_offsets_and_attention_for_any_text(tiny: Any, family: str, text: str) -> None:
    model = tiny(family)
    assume(text.strip())
    a = _analyze(model, text)
    _check_tokens(a, text, None)


@pytest.mark.parametrize("family", ["roberta", "gpt2"])
@settings(PROPERTY_SETTINGS, max_examples=60)
@given(text=texts, text_b=texts)
def test_offsets_of_pairs_for_any_text(tiny: Any, family: str, text: str, text_b: str) -> None:
    model = tiny(family)
    assume(text.strip() and text_b.strip())
    a = _analyze(model, text, text_b)
    _check_tokens(a, text, text_b)
    assert any(t.segment == 1 for t in a.tokens)
