"""exbert.corpus.pipeline: the batches of a shard."""

from __future__ import annotations

from exbert.corpus.pipeline import ATTENTION_MEMORY_BYTES, batches


def test_batches_are_length_sorted_and_bounded() -> None:
    lengths = [5, 1, 9, 3, 3, 7, 2]
    out = list(batches(list(range(len(lengths))), lengths, 12, 4))
    assert sorted(i for b in out for i in b) == list(range(len(lengths)))
    flat = [i for b in out for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths)  # ties by index: 3 before 4
    assert flat.index(3) < flat.index(4)
    for b in out:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 12


def test_batches_respect_the_attention_cap() -> None:
    lengths = [100] * 4
    per_token = ATTENTION_MEMORY_BYTES // (100 * 100 * 2)  # two sequences fit
    assert list(batches([0, 1, 2, 3], lengths, 10_000, per_token)) == [[0, 1], [2, 3]]
