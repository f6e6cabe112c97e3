"""The induction probe: random tokens repeated twice.

``length`` distinct whole-word tokens drawn (seeded) from the model's vocabulary, then the same
tokens again: from the second copy on, an induction head attends from each token to the token
that followed its first occurrence (Olsson et al. 2022). The tokens are the vocabulary entries
that survive a round trip on their own and in the text: alphabetic ASCII words, in the form a
word takes after a space (``Ġword`` of byte-level BPE, ``▁word`` of SentencePiece, written
`` word``; WordPiece's whole words, never ``##`` pieces, joined by spaces), each encoding back to
its single id; the text built of them is checked to re-tokenise to exactly those ids, so the app
can analyse the probe by its text as it analyses any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exbert.analysis.encode import encode
from exbert.analysis.run import analyze
from exbert.analysis.types import Analysis, ModelHandle
from exbert.errors import InvalidRequest
from exbert.view import DEFAULT_PROBE_LENGTH, MAX_PROBE_LENGTH, MIN_PROBE_LENGTH

_SPACE_MARKS = ("Ġ", "▁")  # byte-level BPE and SentencePiece: the word follows a space
_ATTEMPTS = 8


def _word(piece: str, wordpiece: bool) -> str | None:
    """The text that should encode to ``piece`` alone, or None if it is not a plain word."""
    if piece[:1] in _SPACE_MARKS:
        rest = piece[1:]
        return " " + rest if rest.isascii() and rest.isalpha() else None
    if wordpiece and piece.isascii() and piece.isalpha():
        return piece
    return None


def _is_wordpiece(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return type(getattr(backend, "model", None)).__name__ == "WordPiece"


def _candidates(tokenizer: Any) -> tuple[list[tuple[int, str]], bool]:
    """(id, word) of every plain-word entry, by id; whether the vocabulary is WordPiece."""
    vocab: dict[str, int] = tokenizer.get_vocab()
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    wordpiece = _is_wordpiece(tokenizer)
    out = []
    for piece, i in vocab.items():
        word = _word(piece, wordpiece)
        if word is not None and i not in special:
            out.append((int(i), word))
    out.sort()
    return out, wordpiece


def _draw(tokenizer: Any, length: int, seed: int, banned: set[int]
          ) -> tuple[list[int], list[str], bool]:
    candidates, wordpiece = _candidates(tokenizer)
    rng = np.random.default_rng(seed)
    ids: list[int] = []
    words: list[str] = []
    for n in rng.permutation(len(candidates)):
        i, word = candidates[int(n)]
        if i in banned:
            continue
        if list(tokenizer(word, add_special_tokens=False)["input_ids"]) == [i]:
            ids.append(i)
            words.append(word)
            if len(ids) == length:
                return ids, words, wordpiece
    raise InvalidRequest(
        f"this model's vocabulary has fewer than {length} whole words that tokenise back to "
        "themselves; ask for a shorter induction probe", length=length)


def check_length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or \
            not MIN_PROBE_LENGTH <= length <= MAX_PROBE_LENGTH:
        raise InvalidRequest(
            f"the induction probe's length (random tokens per copy) must be an integer from "
            f"{MIN_PROBE_LENGTH} to {MAX_PROBE_LENGTH}, not {length!r}", length=str(length))
    return int(length)


def probe_text(model: ModelHandle, length: int = DEFAULT_PROBE_LENGTH, seed: int = 0
               ) -> tuple[str, list[int]]:
    """The probe's text and the ids of its non-special tokens (the ``length`` drawn tokens
    twice), checked: the text encodes to exactly those ids (plus the special tokens the
    tokenizer adds). Costs no forward pass (what a server answers with)."""
    length = check_length(length)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidRequest(f"seed must be a non-negative integer, not {seed!r}",
                             seed=str(seed))
    tok = model.tokenizer
    banned: set[int] = set()
    for _ in range(_ATTEMPTS):
        ids, words, wordpiece = _draw(tok, length, int(seed), banned)
        half = " ".join(words) if wordpiece else "".join(words)
        text = f"{half} {half}" if wordpiece else half + half
        enc = encode(model, text)
        got = [i for i, t in zip(enc.input_ids, enc.tokens, strict=True) if not t.special]
        want = ids + ids
        if got == want:
            return text, want
        # a pair of words that merge across their boundary: leave out the first one that
        # differs and draw again
        where = next((k for k, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                     min(len(got), len(want)) - 1)
        banned.add(want[where % length])
    raise InvalidRequest("could not build an induction probe whose text tokenises back to its "
                         "tokens with this model's tokenizer", length=length)


def induction_probe(model: ModelHandle, length: int = DEFAULT_PROBE_LENGTH, seed: int = 0
                    ) -> Analysis:
    """Analyse ``length`` random whole-word tokens followed by the same tokens again; the
    analysis' ``text`` re-tokenises to exactly those tokens (so the app can show it by text).
    ``attention="auto"``: full unless the input is large (long probes of big models)."""
    text, _ = probe_text(model, length, seed)
    return analyze(model, text, attention="auto")
