"""Head discovery: how often each head's strongest attention lands on a linguistic relation.

For every stored attention layer l and head h, over all corpus tokens i that have the
relation (the *eligible* tokens), count the tokens whose argmax attention (row i of head h,
among the sentence's non-special tokens, as stored) lands on a token j with:

- ``dep_head``: j belongs to the syntactic head word of i's word (i's word is not a root);
- ``prev_token``: j = i - 1 (i is not the first token, and not a special token);
- ``next_token``: j = i + 1 (bidirectional models only);
- ``same_entity``: j != i and j belongs to the same named entity as i (entities of at least
  two model tokens);
- ``self``: j = i (every non-special token is eligible).

The score of a head is ``count / eligible`` (a fraction in [0, 1]); heads are ranked by it.
Computed at build time per shard, from that shard's own records and stored per-head argmaxes,
and written to its ``heads.json`` (relations never cross a sentence, so the counts and the
eligible counts of the shards add up to those of the whole corpus);
:class:`exbert.search.heads.HeadRanking` reads and sums them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RELATIONS = ("dep_head", "prev_token", "next_token", "same_entity", "self")

DESCRIPTIONS = {
    "dep_head": "the token's syntactic head word (dependency parse)",
    "prev_token": "the previous token",
    "next_token": "the next token",
    "same_entity": "another token of the same named entity",
    "self": "the token itself",
}


@dataclass
class _Tokens:
    """Per corpus token, int64 [N] each: its position in its sentence, the index of its
    sentence's first token, its word, the word of its syntactic head (-1: none, or a root)
    and its entity (sentence * 65536 + entity span; -1: none)."""

    pos: np.ndarray
    token_start: np.ndarray
    word: np.ndarray
    head_word: np.ndarray
    ent_key: np.ndarray

    def at(self, values: np.ndarray, glob: np.ndarray) -> np.ndarray:
        """``values`` [N] at the global token ids ``glob`` (clipped into range)."""
        n = len(self.pos)
        return values[np.clip(glob, 0, max(n - 1, 0))] if n else glob


def head_counts(sentences: np.ndarray, tokens: np.ndarray, words: np.ndarray,
                attn: dict[int, np.ndarray], n_heads: int, *,
                causal: bool = False) -> dict[str, Any]:
    """Counts per relation as [layers][heads] lists, plus the eligible counts (the
    ``heads.json`` document).

    ``sentences``, ``tokens``, ``words``: the corpus's records ([S], [N], [W], the dtypes of
    :mod:`exbert.corpus.layout`); ``attn``: per context layer the argmaxes int16 [N, 2H+2]
    (columns 0..H-1: each head's outward argmax, a position inside the sentence, -1: none).

    ``causal``: a token only sees itself and the tokens before it, so only the relations it
    can attend to count: its head word must start at or before it, another token of its
    entity must come before it, and ``next_token`` is left out."""
    tok, eligible = _eligible(sentences, tokens, words, causal)
    relations = list(eligible)
    out: dict[str, Any] = {
        "relations": relations,
        "descriptions": DESCRIPTIONS,
        "layers": sorted(attn),
        "heads": n_heads,
        "eligible": {r: int(m.sum()) for r, m in eligible.items()},
        "counts": {r: [] for r in relations},
    }
    for layer in sorted(attn):
        a = np.asarray(attn[layer])
        rows: dict[str, list[int]] = {r: [] for r in relations}
        for h in range(n_heads):
            hits = _hits(tok, eligible, a[:, h].astype(np.int64))
            for r in relations:
                rows[r].append(int(hits[r].sum()))
        for r in relations:
            out["counts"][r].append(rows[r])
    return out


def _eligible(sentences: np.ndarray, tokens: np.ndarray, words: np.ndarray,
              causal: bool) -> tuple[_Tokens, dict[str, np.ndarray]]:
    """The per-token facts, and per relation (in RELATIONS order, without ``next_token``
    when ``causal``) the mask bool [N] of the tokens that have it."""
    n = len(tokens)
    sent = tokens["sentence"].astype(np.int64)
    pos = tokens["position"].astype(np.int64)
    word = tokens["word"].astype(np.int64)
    special = tokens["special"].astype(bool)
    n_tok_sent = sentences["n_tokens"].astype(np.int64)[sent] if n else np.zeros(0, np.int64)
    token_start = sentences["token_start"].astype(np.int64)[sent] if n else np.zeros(0,
                                                                                    np.int64)
    word_start = sentences["word_start"].astype(np.int64)[sent] if n else np.zeros(0, np.int64)
    has_word = word >= 0
    safe_word = np.where(has_word, word, 0)
    w_index = words["index"].astype(np.int64)[safe_word] if len(words) else safe_word
    w_head = words["head"].astype(np.int64)[safe_word] if len(words) else safe_word
    head_word = np.where(has_word & (w_head != w_index), word_start + w_head, -1)
    ent = words["ent_span"].astype(np.int64)[safe_word] if len(words) else safe_word
    ent = np.where(has_word, ent, -1)
    # entities with at least two model tokens
    ent_key = np.where(ent >= 0, sent * 65536 + ent, -1)
    keys, counts = np.unique(ent_key[ent_key >= 0], return_counts=True)
    multi = np.isin(ent_key, keys[counts >= 2]) & (ent_key >= 0)
    dep_ok = head_word >= 0
    if causal and len(words):
        head_first = words["first_token"].astype(np.int64)[np.maximum(head_word, 0)]
        dep_ok &= (head_first >= 0) & (head_first <= pos)
        # the first token of an entity has no earlier token of it to attend to
        first_of_entity = np.zeros(n, dtype=bool)
        if multi.any():
            idx = np.flatnonzero(multi)
            _, first = np.unique(ent_key[idx], return_index=True)
            first_of_entity[idx[first]] = True
        multi &= ~first_of_entity

    eligible = {
        "dep_head": dep_ok,
        "prev_token": (~special) & (pos >= 1),
        "next_token": (~special) & (pos + 1 < n_tok_sent),
        "same_entity": multi,
        "self": ~special,
    }
    relations = [r for r in RELATIONS if not (causal and r == "next_token")]
    return _Tokens(pos, token_start, word, head_word, ent_key), {r: eligible[r] for r in relations}


def _hits(tok: _Tokens, eligible: dict[str, np.ndarray], target: np.ndarray
          ) -> dict[str, np.ndarray]:
    """Per relation, the eligible tokens bool [N] whose argmax ``target`` (int64 [N], a
    position inside the sentence; -1: none) lands on what the relation names."""
    glob = tok.token_start + target
    found = target >= 0
    hits = {
        "dep_head": eligible["dep_head"] & found & (tok.at(tok.word, glob) == tok.head_word),
        "prev_token": eligible["prev_token"] & (target == tok.pos - 1),
        "same_entity": eligible["same_entity"] & found & (target != tok.pos)
        & (tok.at(tok.ent_key, glob) == tok.ent_key),
        "self": eligible["self"] & (target == tok.pos),
    }
    if "next_token" in eligible:
        hits["next_token"] = eligible["next_token"] & (target == tok.pos + 1)
    return hits
