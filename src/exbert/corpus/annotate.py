"""Input reading, sentence splitting and word annotation with spaCy, and the alignment of
model tokens to words by character offsets.

Input (read by :mod:`exbert.corpus.inputs`, re-exported here: ``input_format``,
``read_units``, ``Unit``): a ``.txt`` paragraph is one spaCy document, split into sentences
by spaCy; a sentence with fewer than ``min_words`` words that are not punctuation is skipped
(headings such as "I."). A ``.jsonl`` or Parquet record is one unit of search (one
"sentence"), annotated as one spaCy document, never split.

A *cursor* ``(unit, sentence)`` names a sentence: the index of its paragraph/record and its
index among the kept sentences of that unit. A resumed build restarts at a cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exbert.corpus.inputs import Unit, input_format, read_units, text_units
from exbert.errors import CorpusError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Sentence", "Unit", "align", "annotate", "input_format", "load_pipeline",
           "read_units"]

_txt_units = text_units  # the units of a .txt held in a string (tests compare with spaCy)
MAX_SENTENCE_CHARS = 60_000  # offsets inside a sentence are stored as uint16


@dataclass
class Sentence:
    """A sentence and its words, as spaCy annotated them. Offsets are relative to ``text``.

    ``head``: index of the word's syntactic head inside the sentence (itself for a root).
    ``ent_span``: index of the named entity the word belongs to inside the sentence, or -1.
    """

    cursor: tuple[int, int]
    text: str
    starts: list[int]
    ends: list[int]
    lemma: list[str]
    pos: list[str]
    tag: list[str]
    dep: list[str]
    head: list[int]
    ent_type: list[str]
    ent_iob: list[str]
    ent_span: list[int]
    is_stop: list[bool]
    is_punct: list[bool]

    @property
    def n_words(self) -> int:
        return len(self.starts)


def load_pipeline(name: str) -> Any:
    """A spaCy pipeline by package name, with a clear error when it is not installed."""
    import spacy

    try:
        return spacy.load(name)
    except OSError as exc:
        raise CorpusError(
            f"spaCy pipeline {name!r} is not installed; install it (for example "
            f"`pip install {name.replace('_', '-')}`) or pass --spacy with one that is",
            pipeline=name,
        ) from exc


def annotate(
    nlp: Any,
    units: Iterator[Unit],
    *,
    min_words: int = 2,
    skip_first: int = 0,
    batch_size: int = 32,
) -> Iterator[Sentence]:
    """Sentences with their word annotations, in input order. ``skip_first``: how many kept
    sentences of the first unit to skip (resuming inside a paragraph)."""
    pairs = ((u.text, u) for u in units)
    first = True
    for doc, unit in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        spans = list(doc.sents) if unit.split else [doc[:]]
        kept = 0
        for span in spans:
            sentence = _sentence(doc, span, unit.index, kept)
            if sentence is None or (unit.split and _words(sentence) < min_words):
                continue
            kept += 1
            if first and kept <= skip_first:
                continue
            yield sentence
        first = False


def _words(s: Sentence) -> int:
    return sum(1 for p in s.is_punct if not p)


def _sentence(doc: Any, span: Any, unit: int, kept: int) -> Sentence | None:
    tokens = [t for t in span if not t.is_space]
    if not tokens:
        return None
    base = tokens[0].idx
    end = tokens[-1].idx + len(tokens[-1].text)
    text = doc.text[base:end]
    if len(text) > MAX_SENTENCE_CHARS:
        return None
    position = {t.i: k for k, t in enumerate(tokens)}
    ent_of: dict[int, int] = {}
    for e_index, ent in enumerate(e for e in doc.ents if span.start <= e.start < span.end):
        for t in ent:
            ent_of[t.i] = e_index
    return Sentence(
        cursor=(unit, kept),
        text=text,
        starts=[t.idx - base for t in tokens],
        ends=[t.idx - base + len(t.text) for t in tokens],
        lemma=[t.lemma_ for t in tokens],
        pos=[t.pos_ for t in tokens],
        tag=[t.tag_ for t in tokens],
        dep=[t.dep_ for t in tokens],
        head=[position.get(t.head.i, k) for k, t in enumerate(tokens)],
        ent_type=[t.ent_type_ for t in tokens],
        ent_iob=[t.ent_iob_ for t in tokens],
        ent_span=[ent_of.get(t.i, -1) for t in tokens],
        is_stop=[bool(t.is_stop) for t in tokens],
        is_punct=[bool(t.is_punct) for t in tokens],
    )


def align(
    token_spans: list[tuple[int, int]],
    specials: list[bool],
    word_starts: list[int],
    word_ends: list[int],
    text_len: int,
) -> np.ndarray:
    """For each model token, the index of the word it belongs to, or -1.

    By character offsets only: a token belongs to the word that covers most of its
    characters (the first such word on a tie). Special tokens and tokens that cover only
    whitespace belong to no word. Words are never re-tokenised, so contractions ("don't" ->
    spaCy "do" + "n't", WordPiece "don" "'" "t"), hyphens and any unicode align alike.
    """
    import numpy as np

    owner = [-1] * (text_len + 1)  # plain lists: tokens are short, numpy calls cost more
    for w, (s, e) in enumerate(zip(word_starts, word_ends, strict=True)):
        owner[s:e] = [w] * (e - s)
    out = [-1] * len(token_spans)
    for i, ((raw_start, raw_end), special) in enumerate(zip(token_spans, specials,
                                                            strict=True)):
        s, e = max(0, raw_start), min(raw_end, text_len)
        if special or e <= s:
            continue
        first, last = owner[s], owner[e - 1]
        if first == last and first >= 0:  # inside one word (words are contiguous spans)
            out[i] = first
            continue
        counts: dict[int, int] = {}
        for w in owner[s:e]:
            if w >= 0:
                counts[w] = counts.get(w, 0) + 1
        if counts:  # most characters; the first word on a tie
            out[i] = min(counts, key=lambda w: (-counts[w], w))
    return np.asarray(out, dtype=np.int32)
