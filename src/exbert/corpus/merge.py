"""The records of all shards merged into the corpus's tables: one sentence, token and word
array each, with global ids (sentence, word, text offsets) and the label ids of one sorted
string table per field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exbert.corpus.layout import (
    LABEL_FIELDS,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    sentence_dtype,
    token_dtype,
    word_dtype,
)
from exbert.corpus.shards import read_checkpoint


@dataclass
class Tables:
    """The corpus's records: ``sentences`` [S], ``tokens`` [N], ``words`` [W] (dtypes of
    :mod:`exbert.corpus.layout`), ``texts`` (the UTF-8 text of each shard, in order) and
    ``labels`` (per field its sorted strings; the label ids in ``words`` index them)."""

    sentences: np.ndarray
    tokens: np.ndarray
    words: np.ndarray
    texts: list[bytes]
    labels: dict[str, list[str]]


def _label_tables(shard_dirs: list[Path]) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The global sorted label tables, and each shard's own tables."""
    found: dict[str, set[str]] = {f: set() for f in LABEL_FIELDS}
    per_shard = []
    for d in shard_dirs:
        lab = json.loads((d / LABELS_FILE).read_text(encoding="utf-8"))
        per_shard.append(lab)
        for f in LABEL_FIELDS:
            found[f].update(lab[f])
    return {f: sorted(found[f]) for f in LABEL_FIELDS}, per_shard


def merge_shards(shard_dirs: list[Path], metas: list[dict[str, Any]]) -> Tables:
    """Concatenate the shards' records, turning shard-local ids into global ones."""
    labels, shard_labels = _label_tables(shard_dirs)
    position = {f: {v: i for i, v in enumerate(labels[f])} for f in LABEL_FIELDS}
    sentences = np.zeros(sum(int(m["sentences"]) for m in metas), dtype=sentence_dtype())
    tokens = np.zeros(sum(int(m["tokens"]) for m in metas), dtype=token_dtype())
    words = np.zeros(sum(int(m["words"]) for m in metas), dtype=word_dtype())
    texts: list[bytes] = []
    s0 = t0 = w0 = b0 = 0
    for d, lab in zip(shard_dirs, shard_labels, strict=True):
        ss = read_checkpoint(d, SENTENCES_FILE)
        tk = np.array(read_checkpoint(d, TOKENS_FILE))
        wd = np.array(read_checkpoint(d, WORDS_FILE))
        blob = (d / TEXT_FILE).read_bytes()
        texts.append(blob)
        n_s = len(ss)
        tok_start = t0 + np.concatenate([[0], np.cumsum(ss["n_tokens"])[:-1]])
        word_start = w0 + np.concatenate([[0], np.cumsum(ss["n_words"])[:-1]])
        text_start = b0 + np.concatenate([[0], np.cumsum(ss["text_bytes"])[:-1]])
        block = sentences[s0 : s0 + n_s]
        block["text_start"] = text_start
        block["text_end"] = text_start + ss["text_bytes"]
        block["token_start"] = tok_start
        block["n_tokens"] = ss["n_tokens"]
        block["word_start"] = word_start
        block["n_words"] = ss["n_words"]
        block["unit"] = ss["unit"]
        block["unit_sentence"] = ss["unit_sentence"]
        local_sent = tk["sentence"].astype(np.int64)
        has_word = tk["word"] >= 0
        tk["word"] = np.where(has_word, tk["word"] + word_start[local_sent], -1)
        tk["sentence"] = local_sent + s0
        tokens[t0 : t0 + len(tk)] = tk
        for f in LABEL_FIELDS:
            remap = np.array([position[f][v] for v in lab[f]] or [0], dtype=np.int64)
            wd[f] = remap[wd[f].astype(np.int64)]
        wd["sentence"] = wd["sentence"].astype(np.int64) + s0
        words[w0 : w0 + len(wd)] = wd
        s0, t0, w0, b0 = s0 + n_s, t0 + len(tk), w0 + len(wd), b0 + len(blob)
    return Tables(sentences, tokens, words, texts, labels)
