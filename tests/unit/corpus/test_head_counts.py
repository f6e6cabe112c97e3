"""exbert.corpus.head_counts: how often each head's argmax lands on each relation."""

from __future__ import annotations

import numpy as np

from exbert.corpus.head_counts import head_counts
from exbert.corpus.layout import sentence_dtype, token_dtype, word_dtype


def test_head_counts_relations() -> None:
    # one sentence: [CLS] the cat sat [SEP]; words: the(det->cat) cat(nsubj->sat) sat(ROOT)
    sent = np.zeros(1, sentence_dtype())
    sent[0] = (0, 11, 0, 5, 0, 3, 0, 0)
    toks = np.zeros(5, token_dtype())
    toks["position"] = np.arange(5)
    toks["word"] = [-1, 0, 1, 2, -1]
    toks["special"] = [1, 0, 0, 0, 1]
    words = np.zeros(3, word_dtype())
    words["index"] = [0, 1, 2]
    words["head"] = [1, 2, 2]
    words["ent_span"] = -1
    # head 0 attends to the syntactic head, head 1 to the previous token, head 2 to itself
    attn = np.zeros((5, 2 * 3 + 2), dtype=np.int16)
    attn[:, 0] = [0, 2, 3, 3, 4]
    attn[:, 1] = [0, 0, 1, 2, 3]
    attn[:, 2] = [0, 1, 2, 3, 4]
    out = head_counts(sent, toks, words, {1: attn}, 3)
    assert out["eligible"]["dep_head"] == 2  # "the" and "cat" (sat is the root)
    assert out["counts"]["dep_head"] == [[2, 0, 0]]
    assert out["eligible"]["prev_token"] == 3
    assert out["counts"]["prev_token"] == [[0, 3, 0]]
    assert out["counts"]["self"] == [[1, 0, 3]]


def test_head_counts_causal_only_counts_what_a_token_can_see() -> None:
    # no special tokens: "the cat sat" -> the(det->cat) cat(nsubj->sat) sat(ROOT)
    sent = np.zeros(1, sentence_dtype())
    sent[0] = (0, 11, 0, 3, 0, 3, 0, 0)
    toks = np.zeros(3, token_dtype())
    toks["position"] = np.arange(3)
    toks["word"] = [0, 1, 2]
    words = np.zeros(3, word_dtype())
    words["index"] = [0, 1, 2]
    words["head"] = [1, 2, 2]
    words["first_token"] = [0, 1, 2]
    words["ent_span"] = -1
    attn = np.zeros((3, 2 * 1 + 2), dtype=np.int16)
    attn[:, 0] = [0, 0, 1]
    out = head_counts(sent, toks, words, {1: attn}, 1, causal=True)
    assert "next_token" not in out["relations"]
    # "the" -> head "cat" is in its future: not eligible; "cat" -> "sat" neither
    assert out["eligible"]["dep_head"] == 0
    both = head_counts(sent, toks, words, {1: attn}, 1)
    assert both["eligible"]["dep_head"] == 2 and "next_token" in both["relations"]
