"""Text -> model tokens: token ids with character offsets, segments of a pair, masks, and
the checks of what a model accepts (empty, too long, nothing the tokenizer keeps).

Bidirectional models use the tokenizer's own pair encoding; causal models get
``text + PAIR_SEPARATOR + text_b``, encoded per segment so offsets stay per text.
"""

from __future__ import annotations

import contextlib
import inspect
import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from exbert.analysis.types import ModelHandle, Token
from exbert.errors import (
    EmptyText,
    ExbertError,
    InvalidInput,
    InvalidMask,
    MaskNotSupported,
    TextTooLong,
)

PAIR_SEPARATOR = "\n"  # joins the two texts of a pair for autoregressive models


@dataclass(frozen=True)
class Encoded:
    """Token ids of one input with their :class:`Token` descriptions (same length)."""

    input_ids: list[int]
    tokens: list[Token]
    token_type_ids: list[int] | None


def check_text(text: str, what: str = "text") -> None:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be a string")
    if not text.strip():
        raise EmptyText(f"{what} is empty; type a sentence to analyse", field=what)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{what} is not valid unicode (lone surrogate at character {exc.start})",
            field=what,
            position=exc.start,
        ) from exc


def encode(model: ModelHandle, text: str, text_b: str | None = None) -> Encoded:
    """Tokenise ``text`` (and ``text_b``) with character offsets; raise if too long.

    Bidirectional models use the tokenizer's own pair encoding (segments from it); causal
    models get ``text + "\\n" + text_b``, encoded per segment so offsets stay per text.
    """
    check_text(text)
    if text_b is not None:
        check_text(text_b, "text_b")
    tok = model.tokenizer
    if text_b is None or model.info.kind == "bidirectional":
        enc = tok([text], None if text_b is None else [text_b], **_ENCODE_OPTIONS)
        return _encoded(model, enc, 0, text, text_b)
    a = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    sep = tok(PAIR_SEPARATOR, add_special_tokens=False)["input_ids"]
    b = tok(text_b, add_special_tokens=False, return_offsets_mapping=True)
    n = len(a["input_ids"]) + len(sep) + len(b["input_ids"])
    _check_length(model, n)
    ids = list(a["input_ids"]) + list(sep) + list(b["input_ids"])
    offsets = (
        list(a["offset_mapping"]) + [(len(text), len(text))] * len(sep) + list(b["offset_mapping"])
    )
    special = list(a["special_tokens_mask"]) + [1] * len(sep) + [0] * len(b["input_ids"])
    segments = [0] * (len(a["input_ids"]) + len(sep)) + [1] * len(b["input_ids"])
    words_a, words_b = _word_ids(tok, a, 0), _word_ids(tok, b, 0)
    words = None if words_a is None or words_b is None else [*words_a, *[None] * len(sep), *words_b]
    tokens = _tokens(tok, ids, offsets, special, segments, texts=(text, text_b), words=words)
    _check_content(tokens, pair=True)
    return Encoded(ids, tokens, None)


_ENCODE_OPTIONS = {
    "return_offsets_mapping": True,
    "return_special_tokens_mask": True,
    "return_token_type_ids": True,
}


def _encoded(model: ModelHandle, enc: Any, row: int, text: str, text_b: str | None) -> Encoded:
    """Row ``row`` of a tokenizer output (one text or the tokenizer's own pair encoding)."""
    ids = enc["input_ids"][row]
    _check_length(model, len(ids))
    type_ids = enc["token_type_ids"][row] if "token_type_ids" in enc else None
    segments = _segments(enc.sequence_ids(row), type_ids)
    tokens = _tokens(
        model.tokenizer, ids, enc["offset_mapping"][row], enc["special_tokens_mask"][row],
        segments, texts=(text, text_b or ""), words=_word_ids(model.tokenizer, enc, row),
    )
    _check_content(tokens, text_b is not None)
    return Encoded(list(ids), tokens, _model_type_ids(model, type_ids))


def encode_texts(model: ModelHandle, texts: Sequence[str]) -> list[Encoded | ExbertError]:
    """Single texts tokenised in one batched tokenizer call: per text, what :func:`encode`
    returns or the error it raises (not text, empty, too long, nothing left to analyse)."""
    out: list[Encoded | ExbertError | None] = [None] * len(texts)
    valid: list[int] = []
    for i, text in enumerate(texts):
        try:
            check_text(text)
            valid.append(i)
        except ExbertError as exc:
            out[i] = exc
    if valid:
        enc = model.tokenizer([texts[i] for i in valid], **_ENCODE_OPTIONS)
        for row, i in enumerate(valid):
            try:
                out[i] = _encoded(model, enc, row, texts[i], None)
            except ExbertError as exc:
                out[i] = exc
    return [e for e in out if e is not None]


def _check_content(tokens: Sequence[Token], pair: bool) -> None:
    """Each text must leave at least one real token (BERT drops control and zero-width
    characters: such a text would be analysed as ``[CLS] [SEP]`` alone)."""
    for seg, what in ((0, "text"), (1, "text_b"))[: 2 if pair else 1]:
        if not any(t.segment == seg and not t.special for t in tokens):
            raise EmptyText(
                f"{what} has no characters the tokenizer keeps (only control, zero-width or "
                "unknown characters); type a sentence to analyse",
                field=what,
            )


def _check_length(model: ModelHandle, n: int) -> None:
    info = model.info
    if n > info.max_tokens:
        if info.max_tokens < info.max_positions:
            how = (
                f"raise the cap with max_tokens= in exbert.load() or --max-tokens "
                f"(up to the model's {info.max_positions} positions; memory grows as T^2)"
            )
        else:
            how = "shorten the text: this is the model's maximum"
        raise TextTooLong(
            f"the text has {n} tokens; {info.name} accepts at most {info.max_tokens}; {how}",
            tokens=n,
            limit=info.max_tokens,
        )


def _segments(seq_ids: list[int | None], type_ids: list[int] | None) -> list[int]:
    if type_ids is not None and any(type_ids):
        return [int(t) for t in type_ids]
    out, current = [], 0
    for s in seq_ids:
        current = s if s is not None else current
        out.append(current)
    return out


def _tokens(
    tok: Any,
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    special_mask: Sequence[int],
    segments: Sequence[int],
    *,
    texts: tuple[str, str],
    words: Sequence[int | None] | None,
) -> list[Token]:
    """``words``: the tokenizer's word id of each token, or None where it has none that mean
    words (see :func:`_word_ids`)."""
    pieces = tok.convert_ids_to_tokens(list(ids))
    out: list[Token] = []
    last_start, last_end = [0, 0], [0, 0]  # per segment: starts never go backwards
    for k, (piece, (raw_start, raw_end), special, seg) in enumerate(
        zip(pieces, offsets, special_mask, segments, strict=True)
    ):
        source = texts[seg]
        if raw_start == raw_end and special:  # added by the tokenizer ([CLS], <s>, separator)
            last_start[seg] = last_end[seg]
            out.append(Token(str(piece), last_end[seg], last_end[seg], True, seg))
            continue
        start = min(max(raw_start, last_start[seg]), len(source))
        end = min(max(raw_end, start), len(source))
        last_start[seg], last_end[seg] = start, max(end, last_end[seg])
        shown = str(piece) if special else source[start:end]
        token = Token(shown, start, end, bool(special), seg)
        if k and continues(out[-1], token, _same_word(words, k), source):
            token = replace(token, continues=True)
        out.append(token)
    return out


def _same_word(words: Sequence[int | None] | None, k: int) -> bool | None:
    return None if words is None else words[k] is not None and words[k] == words[k - 1]


def continues(prev: Token, cur: Token, same_word: bool | None, source: str) -> bool:
    """Whether ``cur`` is a piece of the word ``prev`` (the token before it) is in.

    Never across a special token or a segment, nor after whitespace, punctuation or a symbol,
    nor for a token that starts with whitespace. Then: a character split over both tokens
    (byte-level pieces of one character) joins them; else the tokenizer's word ids decide
    (``same_word``: both tokens in one word, with no whitespace between them); without word
    ids (``None``), ``cur`` must start exactly where ``prev`` ended, between two alphanumeric
    characters.
    """
    if prev.special or cur.special or prev.segment != cur.segment:
        return False
    if cur.start < prev.end and cur.start >= prev.start:  # one character split over both
        return True
    before = source[prev.end - 1] if 0 < prev.end <= len(source) else ""
    first = source[cur.start] if cur.start < len(source) else ""
    if not before or not first or before.isspace() or first.isspace():
        return False
    if unicodedata.category(before)[0] in "PS":
        return False
    if same_word is not None:
        return same_word and not any(c.isspace() for c in source[prev.end : cur.start])
    return cur.start == prev.end and before.isalnum() and first.isalnum()


def _word_ids(tok: Any, enc: Any, row: int) -> list[int | None] | None:
    """Row ``row``'s word ids, or None when the tokenizer gives none or its words are not
    words (a tokenizer that does not split at spaces, as Gemma's: one word per text)."""
    if not _splits_words(tok):
        return None
    try:
        return list(enc.word_ids(row))
    except (AttributeError, TypeError, ValueError):  # not a fast tokenizer's encoding
        return None


def _splits_words(tok: Any) -> bool:
    try:
        known = _SPLITS_WORDS.get(tok)
    except TypeError:  # not weakly referable: ask every time
        known = None
    if known is None:
        try:
            words = tok("a b", add_special_tokens=False).word_ids()
            known = len({w for w in words if w is not None}) > 1
        except (AttributeError, TypeError, ValueError):
            known = False
        with contextlib.suppress(TypeError):
            _SPLITS_WORDS[tok] = known
    return known


_SPLITS_WORDS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def forward_params(module: Any) -> frozenset[str]:
    cls = type(module)
    if cls not in _FORWARD_PARAMS:
        _FORWARD_PARAMS[cls] = frozenset(inspect.signature(cls.forward).parameters)
    return _FORWARD_PARAMS[cls]


_FORWARD_PARAMS: dict[type, frozenset[str]] = {}


def _model_type_ids(model: ModelHandle, type_ids: Sequence[int] | None) -> list[int] | None:
    """The token type ids to feed the model, or None when it should get none.

    Only when the tokenizer itself feeds them to its model (``model_input_names``): GPT-2's
    forward accepts ``token_type_ids`` but looks them up in the *word* embeddings, so zeros
    there are not a no-op. A model with a single token type (RoBERTa: ``type_vocab_size=1``)
    gets none even when its tokenizer makes pair type ids: 1 would index past its embeddings.
    """
    if type_ids is None or "token_type_ids" not in forward_params(model.module):
        return None
    if "token_type_ids" not in getattr(model.tokenizer, "model_input_names", ()):
        return None
    n_types = int(getattr(model.module.config, "type_vocab_size", 0) or 0)
    if n_types and max(type_ids, default=0) >= n_types:
        return None
    return [int(t) for t in type_ids]


def mask_positions(mask: Sequence[int]) -> list[int]:
    """The mask positions as plain ints (any sequence or 1-d array of integers)."""
    try:
        items = list(mask)
    except TypeError:
        raise InvalidMask(f"mask must be a list of token indices, not {mask!r}") from None
    for i in items:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise InvalidMask(f"mask positions must be token indices, not {i!r}", position=str(i))
    return [int(i) for i in items]


def apply_mask(model: ModelHandle, enc: Encoded, mask: Sequence[int]) -> Encoded:
    positions = mask_positions(mask)
    if not positions:
        return enc
    info = model.info
    mask_id = getattr(model.tokenizer, "mask_token_id", None)
    if info.kind != "bidirectional" or mask_id is None:
        raise MaskNotSupported(
            f"{info.name} has no mask token ({info.kind}); masking needs a bidirectional "
            "model such as BERT",
            model=info.name,
        )
    ids, tokens = list(enc.input_ids), list(enc.tokens)
    for i in sorted(set(positions)):
        if not 0 <= i < len(ids):
            raise InvalidMask(
                f"mask position {i} is outside the {len(ids)} tokens", position=i, tokens=len(ids)
            )
        if tokens[i].special:
            raise InvalidMask(f"token {i} ({tokens[i].text}) is special and cannot be masked",
                              position=i)
        ids[i] = int(mask_id)
        tokens[i] = replace(tokens[i], masked=True)
    return Encoded(ids, tokens, enc.token_type_ids)
