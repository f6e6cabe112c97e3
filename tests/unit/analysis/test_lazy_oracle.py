"""Lazy attention against eager attention, per model family (tiny random models).

The reference is a *fresh* transformers module of the same saved folder with
``attn_implementation="eager"`` and ``output_attentions=True``: the exact probabilities. Lazy
rows, columns, windows, blocks and statistics recomputed from the recorded queries and keys
must equal what that tensor gives (max abs difference <= 1e-4 in float32), and a full analysis
must answer the same numbers through the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from support import CAUSAL_FAMILIES, FAMILIES, tiny_config

ATOL = 1e-4
# Long enough for Gemma3's 4-token sliding window and several blocks, within 128 positions.
TEXT = ("The quick brown fox jumps over the lazy dog. The dog sleeps under a tree while the fox "
        "runs into the forest, where the birds sing and the river flows past old stones.")


def _eager(folder: Path, family: str, ids: list[int]) -> np.ndarray:
    """float32 [layers, heads, T, T] from a fresh eager transformers module."""
    _, cls = tiny_config(family)
    ref = cls.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        out = ref(input_ids=torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).numpy()


def _mean_rows(m: np.ndarray, heads: list[int]) -> np.ndarray:
    return m[heads].mean(axis=0)


def _blocks(m: np.ndarray, bins: int) -> np.ndarray:
    """Reference block summary of one head's [T, T] matrix (plain loops)."""
    t = m.shape[0]
    edges = [b * t // bins for b in range(bins + 1)]
    out = np.zeros((bins, bins))
    for a in range(bins):
        for b in range(bins):
            out[a, b] = m[edges[a]:edges[a + 1], edges[b]:edges[b + 1]].sum(axis=1).mean()
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def case(request: pytest.FixtureRequest, tiny: Callable[[str], Any],
         tiny_dir: Callable[[str], Path]) -> tuple[str, Any, Any, np.ndarray]:
    family = request.param
    model = tiny(family)
    lazy = model.analyze(TEXT, attention="lazy", keep_positions=[0, 3])
    full = model.analyze(TEXT, attention="full")
    ids = AutoTokenizer.from_pretrained(str(tiny_dir(family)))(TEXT)["input_ids"]
    assert lazy.input_ids == ids
    return family, lazy, full, _eager(tiny_dir(family), family, ids)


def test_modes(case: Any) -> None:
    _, lazy, full, ref = case
    assert lazy.mode == "lazy" and lazy.attentions is None
    assert full.mode == "full"
    assert (lazy.n_layers, lazy.n_heads, lazy.n_tokens) == ref.shape[:3]
    np.testing.assert_allclose(full.attentions, ref, atol=ATOL)


def test_rows_equal_eager(case: Any) -> None:
    _, lazy, full, ref = case
    t = ref.shape[2]
    rows = [0, 1, t // 2, t - 1]
    for layer in range(ref.shape[0]):
        for h in range(ref.shape[1]):
            for a in (lazy, full):
                got = a.attention_rows(layer, [h], rows)
                np.testing.assert_allclose(got, ref[layer, h, rows], atol=ATOL)
                np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=ATOL)


def test_mixed_rows_and_weights(case: Any) -> None:
    _, lazy, _, ref = case
    heads = [0, 2, 3]
    np.testing.assert_allclose(lazy.attention_rows(-1, heads, [5, 7]),
                               _mean_rows(ref[-1], heads)[[5, 7]], atol=ATOL)
    # the app's rule: negatives count as 0, then normalised
    got = lazy.attention_rows(0, [1, 2], [4], weights=[3.0, -1.0])
    np.testing.assert_allclose(got, ref[0, 1, [4]], atol=ATOL)


def test_cols_equal_eager(case: Any) -> None:
    _, lazy, _, ref = case
    cols = [0, 3, ref.shape[2] - 1]
    got = lazy.attention_cols(1, None, cols)
    np.testing.assert_allclose(got, _mean_rows(ref[1], list(range(ref.shape[1])))[:, cols].T,
                               atol=ATOL)


def test_window_equals_eager(case: Any) -> None:
    _, lazy, full, ref = case
    for a in (lazy, full):
        got = a.attention_window(0, 3, 11, heads=[1, 0])
        np.testing.assert_allclose(got, ref[0][[1, 0]][:, 3:11, 3:11], atol=ATOL)


@pytest.mark.parametrize("bins", [1, 4, 7])
def test_blocks_equal_eager(case: Any, bins: int) -> None:
    _, lazy, full, ref = case
    for layer in range(ref.shape[0]):
        want = np.stack([_blocks(ref[layer, h], bins) for h in range(ref.shape[1])])
        for a in (lazy, full):
            got = a.attention_blocks(layer, bins)
            np.testing.assert_allclose(got, want, atol=ATOL)
            np.testing.assert_allclose(got.sum(axis=2), 1.0, atol=ATOL)


def test_head_stats_equal_eager(case: Any) -> None:
    _, lazy, full, ref = case
    t = ref.shape[2]
    i, j = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(ref > 0, ref * np.log(ref), 0.0)
    want = {
        "first_token": ref[..., 0].mean(-1),
        "self": np.diagonal(ref, axis1=2, axis2=3).mean(-1),
        "previous_token": np.concatenate(
            [np.zeros((*ref.shape[:2], 1)), np.diagonal(ref, offset=-1, axis1=2, axis2=3)],
            axis=-1).mean(-1),
        "mean_distance": (ref * np.abs(i - j)).sum(-1).mean(-1),
        "entropy": -plogp.sum(-1).mean(-1),
    }
    for a in (lazy, full):
        stats = a.head_stats()
        for name, value in want.items():
            assert stats[name].shape == ref.shape[:2] and stats[name].dtype == np.float32
            np.testing.assert_allclose(stats[name], value, atol=ATOL, err_msg=name)


def test_causal_zeros_and_sliding_window(case: Any) -> None:
    family, lazy, _, ref = case
    t = ref.shape[2]
    rows = lazy.attention_rows(0, None, list(range(t)))
    if family in CAUSAL_FAMILIES:
        assert np.all(np.triu(rows, k=1) == 0)
    if family == "gemma3":  # layer 0 slides over 4 tokens: nothing further back
        window = lazy.lazy.records[0].window or 4
        for h in range(lazy.n_heads):
            r = lazy.attention_rows(0, [h], list(range(t)))
            assert np.all(np.tril(r, k=-window) == 0)
        assert np.tril(lazy.attention_rows(1, None, list(range(t))), k=-4).sum() > 0


def test_kept_hidden_states_and_contexts(case: Any) -> None:
    _, lazy, full, _ = case
    np.testing.assert_allclose(lazy.hidden(-1, [3]), full.hidden(-1, [3]), atol=1e-4)
    np.testing.assert_allclose(lazy.hidden("embeddings", [0]), full.hidden_states[0, [0]],
                               atol=1e-5)
    np.testing.assert_allclose(lazy.context(1, [0, 3]), full.contexts[1, [0, 3]], atol=1e-4)
    from exbert.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="not kept"):
        lazy.hidden(0, [1])


def test_predictions_equal_full(case: Any) -> None:
    _, lazy, full, _ = case
    if full.predictions is None:
        assert lazy.predictions is None
        return
    for a, b in zip(lazy.predictions, full.predictions, strict=True):
        assert [p.token_id for p in a[:1]] == [p.token_id for p in b[:1]]
        assert abs(a[0].prob - b[0].prob) < 1e-4


def test_lazy_memory_is_linear_in_tokens(case: Any) -> None:
    _, lazy, _, ref = case
    layers, heads, t, _ = ref.shape
    # queries and keys per layer: far less than the T x T attention at long lengths
    assert lazy.lazy.nbytes <= layers * 2 * heads * t * 64 * 4


def test_softcapped_attention_equals_eager(tmp_path: Path, causal_tokenizer_dir: Path) -> None:
    """Gemma 2's attention softcapping (SDPA has none: the recorder runs eager for it, and
    the recomputed rows apply tanh capping) with its sliding window."""
    import transformers as tf

    import exbert

    config = tf.Gemma2Config(
        vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=4,
        attn_logit_softcapping=5.0, final_logit_softcapping=30.0, query_pre_attn_scalar=16,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    module = tf.Gemma2ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.mul_(30.0)  # scores well past the cap
    module.save_pretrained(tmp_path, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(causal_tokenizer_dir)).save_pretrained(tmp_path)
    model = exbert.load(tmp_path)
    lazy = model.analyze(TEXT, attention="lazy", top_k=3)
    full = model.analyze(TEXT, attention="full", top_k=3)
    assert lazy.lazy is not None and lazy.lazy.records[0].softcap == 5.0
    rows = list(range(lazy.n_tokens))
    for layer in range(2):
        np.testing.assert_allclose(lazy.attention_rows(layer, None, rows),
                                   full.attentions[layer].mean(0), atol=ATOL)
    assert lazy.predictions is not None and full.predictions is not None
    for a, b in zip(lazy.predictions, full.predictions, strict=True):
        assert [p.token_id for p in a] == [p.token_id for p in b]
        np.testing.assert_allclose([p.prob for p in a], [p.prob for p in b], atol=1e-5)


def test_small_chunks_give_the_same_numbers(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few rows (what long inputs get) change nothing: windows start mid-text,
    causal squares, block edges inside chunks, statistics summed over chunks."""
    import exbert.analysis.attention as attention

    _, lazy, _, ref = case
    t = ref.shape[2]
    monkeypatch.setattr(attention, "CHUNK_BYTES", 4 * ref.shape[1] * t * 3)  # 3 rows a chunk
    fresh = type(lazy)(**{**vars(lazy), "_stats": {}, "_blocks": {}})
    np.testing.assert_allclose(fresh.attention_rows(0, None, list(range(t))),
                               ref[0].mean(0), atol=ATOL)
    np.testing.assert_allclose(fresh.attention_cols(1, [0], [0, t - 1]), ref[1, 0][:, [0, t - 1]].T,
                               atol=ATOL)
    np.testing.assert_allclose(fresh.attention_blocks(0, 7),
                               np.stack([_blocks(ref[0, h], 7) for h in range(ref.shape[1])]),
                               atol=ATOL)
    stats = fresh.head_stats()
    np.testing.assert_allclose(stats["first_token"], ref[..., 0].mean(-1), atol=ATOL)
    np.testing.assert_allclose(stats["self"], np.diagonal(ref, axis1=2, axis2=3).mean(-1),
                               atol=ATOL)
    i, j = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")
    np.testing.assert_allclose(stats["mean_distance"], (ref * np.abs(i - j)).sum(-1).mean(-1),
                               atol=ATOL * t)


def test_kept_layer_summaries_answer_windows_and_columns(case: Any) -> None:
    """With a layer's summary kept (normalisers, blocks, statistics), windows and columns
    come from it, with the same numbers as eager attention."""
    _, lazy, _, ref = case
    fresh = type(lazy)(**{**vars(lazy), "_stats": {}, "_blocks": {}, "_summaries": {}})
    t = ref.shape[2]
    assert fresh.summarised == []
    fresh.layer_summary(-1)
    last = ref.shape[0] - 1
    assert fresh.summarised == [last]
    np.testing.assert_allclose(fresh.attention_window(last, 2, t - 1, heads=[2, 0]),
                               ref[last][[2, 0]][:, 2 : t - 1, 2 : t - 1], atol=ATOL)
    np.testing.assert_allclose(fresh.attention_cols(last, [1, 3], [0, t // 2], weights=[1, 3]),
                               (0.25 * ref[last, 1] + 0.75 * ref[last, 3])[:, [0, t // 2]].T,
                               atol=ATOL)
    s = fresh.layer_summary(last)
    np.testing.assert_allclose(s.blocks, np.stack([_blocks(ref[last, h], min(256, t))
                                                   for h in range(ref.shape[1])]), atol=ATOL)
    assert fresh.nbytes > lazy.lazy.nbytes
