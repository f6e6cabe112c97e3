"""What ``analyze`` accepts and refuses: masks, sentence pairs, limits, bad text, top_k."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import exbert
from exbert.analysis.encode import PAIR_SEPARATOR
from exbert.analysis.run import MAX_TOP_K
from exbert.errors import (
    EmptyText,
    ExbertError,
    InvalidInput,
    InvalidMask,
    MaskNotSupported,
    TextTooLong,
)
from support import CAUSAL_FAMILIES, MLM_FAMILIES

# --- masks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", MLM_FAMILIES)
def test_mask_replaces_ids_and_changes_attention(tiny: Any, family: str) -> None:
    model = tiny(family)
    text = "Paris is the capital of France."
    plain = model.analyze(text)
    masked = model.analyze(text, mask=[3, 1, 3])  # duplicates and order do not matter
    mask_id = model.tokenizer.mask_token_id
    assert masked.mask == (1, 3)
    for i, (a, b) in enumerate(zip(plain.input_ids, masked.input_ids, strict=True)):
        if i in (1, 3):
            assert b == mask_id and a != mask_id
            assert masked.tokens[i].masked
            # The token keeps its place and text in the input.
            assert masked.tokens[i].text == plain.tokens[i].text
            assert masked.tokens[i].start == plain.tokens[i].start
        else:
            assert a == b
            assert not masked.tokens[i].masked
    assert not np.allclose(plain.attentions, masked.attentions, atol=1e-6)
    assert masked.predictions is not None
    np.testing.assert_allclose(masked.attentions.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("position", [0, -1])
def test_masking_a_special_token_is_invalid(tiny: Any, position: int) -> None:
    model = tiny("bert")
    a = model.analyze("Hello there.")
    index = position % len(a.tokens)  # [CLS] and [SEP]
    assert a.tokens[index].special
    with pytest.raises(InvalidMask, match="special"):
        model.analyze("Hello there.", mask=[index])


@pytest.mark.parametrize("position", [-1, 5, 6, 10_000])
def test_masking_out_of_range_is_invalid(tiny: Any, position: int) -> None:
    model = tiny("bert")
    assert len(model.analyze("Hello there.").tokens) == 5
    with pytest.raises(InvalidMask) as info:
        model.analyze("Hello there.", mask=[position])
    assert info.value.details["position"] == position


@pytest.mark.parametrize("bad", ["1", 1.0, True, None])
def test_mask_positions_must_be_integers(tiny: Any, bad: Any) -> None:
    with pytest.raises(InvalidMask):
        tiny("bert").analyze("Hello there.", mask=[bad])


def test_mask_accepts_numpy_integers(tiny: Any) -> None:
    a = tiny("bert").analyze("Hello there.", mask=np.array([1, 2]))
    assert a.mask == (1, 2)
    assert all(type(i) is int for i in a.mask)
    b = tiny("bert").analyze("Hello there.", mask=[np.int64(2)])
    assert b.mask == (2,)


@pytest.mark.parametrize("bad", [3, "12", object()])
def test_mask_must_be_a_sequence_of_indices(tiny: Any, bad: Any) -> None:
    with pytest.raises(InvalidMask):
        tiny("bert").analyze("Hello there.", mask=bad)


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
def test_causal_models_do_not_support_masks(tiny: Any, family: str) -> None:
    with pytest.raises(MaskNotSupported) as info:
        tiny(family).analyze("Hello there.", mask=[1])
    assert info.value.status == 422


def test_empty_mask_is_no_mask(tiny: Any) -> None:
    assert tiny("llama").analyze("Hello there.", mask=()).mask == ()


# --- sentence pairs -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", MLM_FAMILIES)
def test_bidirectional_pair_segments_and_offsets(tiny: Any, family: str) -> None:
    model = tiny(family)
    text, text_b = "The cat sat.", "It was happy."
    a = model.analyze(text, text_b=text_b)
    segments = [t.segment for t in a.tokens]
    # [CLS] A [SEP] B [SEP]: segments 0...0 then 1...1, never back to 0.
    assert segments[0] == 0 and segments[-1] == 1
    assert segments == sorted(segments)
    words = [t for t in a.tokens if not t.special]
    assert [t.text for t in words if t.segment == 0] == ["the", "cat", "sat", "."] or [
        t.text for t in words if t.segment == 0
    ] == ["The", "cat", "sat", "."]
    for t in words:
        source = text if t.segment == 0 else text_b
        assert t.text == source[t.start:t.end]
    assert next(t.start for t in words if t.segment == 1) == 0  # offsets restart in text_b
    assert a.text_b == text_b
    assert len(a.tokens) == len(model.analyze(text).tokens) + len(
        model.tokenizer(text_b, add_special_tokens=False)["input_ids"]) + 1


def test_pair_token_types_reach_bert(tiny: Any) -> None:
    """BERT sees segment B as token type 1: the pair differs from the same ids as one text."""
    model = tiny("bert")
    pair = model.analyze("The cat sat.", text_b="It was happy.")
    import torch

    with torch.no_grad():
        out = model.module(input_ids=torch.tensor([pair.input_ids]), output_attentions=True)
    assert not np.allclose(torch.stack(out.attentions, 1)[0].numpy(), pair.attentions,
                           atol=1e-6)


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
def test_causal_pair_is_joined_by_a_separator(tiny: Any, family: str) -> None:
    model = tiny(family)
    text, text_b = "The cat sat.", "It was happy."
    a = model.analyze(text, text_b=text_b)
    sep = model.tokenizer(PAIR_SEPARATOR, add_special_tokens=False)["input_ids"]
    first = model.tokenizer(text)["input_ids"]
    second = model.tokenizer(text_b, add_special_tokens=False)["input_ids"]
    assert a.input_ids == first + sep + second
    seps = a.tokens[len(first):len(first) + len(sep)]
    assert all(t.special and t.segment == 0 and t.start == t.end == len(text) for t in seps)
    b_tokens = a.tokens[len(first) + len(sep):]
    assert all(t.segment == 1 for t in b_tokens)
    assert "".join(t.text for t in b_tokens) == text_b
    assert a.predictions is not None and len(a.predictions) == len(a.tokens)


# --- limits ---------------------------------------------------------------------------------------


def _words(n: int) -> str:
    return " ".join(["cat"] * n)  # one WordPiece token per word


def test_text_too_long_says_count_and_limit(tiny_dir: Any) -> None:
    model = exbert.load(tiny_dir("bert"), max_tokens=12)
    ok = model.analyze(_words(10))  # 10 words + [CLS] + [SEP] = 12: exactly the limit
    assert len(ok.tokens) == 12
    with pytest.raises(TextTooLong) as info:
        model.analyze(_words(11))
    err = info.value
    assert err.details == {"tokens": 13, "limit": 12}
    assert "13" in err.message and "12" in err.message
    assert "max_tokens" in err.message  # how to raise the cap
    assert isinstance(err, InvalidInput) and err.status == 422


def test_text_too_long_for_the_model_positions(tiny: Any) -> None:
    model = tiny("bert")  # 128 positions, cap 512: the model is the limit
    assert len(model.analyze(_words(126)).tokens) == 128
    with pytest.raises(TextTooLong) as info:
        model.analyze(_words(127))
    assert info.value.details == {"tokens": 129, "limit": 128}
    assert "maximum" in info.value.message


def test_pair_counts_both_texts(tiny_dir: Any) -> None:
    model = exbert.load(tiny_dir("bert"), max_tokens=9)
    assert len(model.analyze(_words(3), text_b=_words(3)).tokens) == 9
    with pytest.raises(TextTooLong):
        model.analyze(_words(3), text_b=_words(4))


def test_causal_pair_limit(tiny_dir: Any) -> None:
    model = exbert.load(tiny_dir("llama"), max_tokens=8)
    with pytest.raises(TextTooLong):
        model.analyze(_words(4), text_b=_words(4))


# --- bad text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\t  \u3000", "\u2028"])
@pytest.mark.parametrize("family", ["bert", "llama"])
def test_empty_text(tiny: Any, family: str, text: str) -> None:
    with pytest.raises(EmptyText):
        tiny(family).analyze(text)
    with pytest.raises(EmptyText) as info:
        tiny(family).analyze("fine", text_b=text)
    assert info.value.details["field"] == "text_b"


def test_text_the_tokenizer_drops_entirely_is_empty(tiny: Any) -> None:
    """WordPiece drops control and zero-width characters: nothing would be left to analyse."""
    with pytest.raises(EmptyText):
        tiny("bert").analyze("\u200b\x00\x01")
    # Byte-level BPE keeps every byte: the same text is analysable by a causal model.
    assert tiny("llama").analyze("\u200b\x00\x01").n_tokens > 0


@pytest.mark.parametrize("text", ["abc\ud800", "\udfff", "ok \ud83d"])
def test_lone_surrogates_are_invalid_input(tiny: Any, text: str) -> None:
    with pytest.raises(InvalidInput, match="surrogate") as info:
        tiny("bert").analyze(text)
    assert not isinstance(info.value, EmptyText)
    with pytest.raises(InvalidInput, match="surrogate"):
        tiny("gpt2").analyze("fine", text_b=text)


@pytest.mark.parametrize("text", [None, 42, b"bytes"])
def test_text_must_be_a_string(tiny: Any, text: Any) -> None:
    with pytest.raises(InvalidInput):
        tiny("bert").analyze(text)


# --- top_k ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [0, 1, 7, MAX_TOP_K])
def test_top_k_bounds_accepted(tiny: Any, top_k: int) -> None:
    a = tiny("gpt2").analyze("Count the predictions.", top_k=top_k)
    if top_k == 0:
        assert a.predictions is None
    else:
        assert a.predictions is not None
        assert all(len(row) == top_k for row in a.predictions)


@pytest.mark.parametrize("top_k", [-1, MAX_TOP_K + 1, 10**9, 2.5, True])
def test_top_k_out_of_bounds(tiny: Any, top_k: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        tiny("gpt2").analyze("Count the predictions.", top_k=top_k)
    assert isinstance(info.value, ExbertError)


def test_errors_serialise(tiny: Any) -> None:
    with pytest.raises(ExbertError) as info:
        tiny("bert").analyze("   ")
    data = info.value.to_dict()
    assert data["type"] == "EmptyText"
    assert data["status"] == 422


# --- analysis object ------------------------------------------------------------------------------


def test_header_and_summary_are_json_ready(tiny: Any) -> None:
    import json

    a = tiny("bert").analyze("The cat sat.", mask=[2])
    header = a.header()
    assert json.loads(json.dumps(header)) == header
    assert header["n_layers"] == 2 and header["n_heads"] == 4
    assert header["tokens"][2]["masked"] is True
    full = a.to_dict()
    assert np.asarray(full["attentions"]).shape == a.attentions.shape
    summary = a.summary()
    assert len(summary) == len(a.tokens)
    for token, target, weight in summary:
        assert target in a.tokens and 0.0 <= weight <= 1.0
