"""The engine on the real shipped models (SmolLM2, MiniLM, Gemma 3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from exbert.errors import MaskNotSupported
from support import recorded_outputs

pytestmark = pytest.mark.integration


def test_smollm2_predicts_paris(smollm2_model: Any) -> None:
    a = smollm2_model.analyze("The capital of France is")
    assert a.predictions is not None
    top = a.predictions[-1][0]
    assert top.token == " Paris"
    assert top.prob > 0.5
    assert [t.text for t in a.tokens] == ["The", " capital", " of", " France", " is"]


def test_smollm2_info(smollm2_model: Any) -> None:
    info = smollm2_model.info
    assert info.kind == "autoregressive"
    assert info.architecture == "LlamaForCausalLM"
    assert (info.layers, info.heads, info.kv_heads, info.hidden_size, info.head_dim) == (
        30, 9, 3, 576, 64)
    assert info.vocab_size == 49152
    assert info.has_lm_head and info.mask_token is None
    assert info.max_tokens == info.max_positions == 8192  # lazy mode reaches the limit


def test_smollm2_attentions_are_causal_and_normalised(smollm2_model: Any) -> None:
    a = smollm2_model.analyze("Attention is all you need, they said.")
    n = len(a.tokens)
    assert a.attentions.shape == (30, 9, n, n)
    assert a.hidden_states.shape == (31, n, 576)
    assert a.contexts.shape == (30, n, 9, 64)
    np.testing.assert_allclose(a.attentions.sum(-1), 1.0, atol=1e-4)
    assert np.all(a.attentions[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] == 0)
    with pytest.raises(MaskNotSupported):
        smollm2_model.analyze("No masks here.", mask=[1])


def test_smollm2_contexts_times_o_proj_is_the_attention_output(smollm2_model: Any) -> None:
    """GQA (9 query heads, 3 KV heads): per-query-head contexts through o_proj reproduce what
    o_proj returned, and equal attention-weighted values of the head's KV group."""
    module = smollm2_model.module
    layers = module.model.layers
    with (recorded_outputs(layer.self_attn.o_proj for layer in layers) as outputs,
          recorded_outputs(layer.self_attn.v_proj for layer in layers) as values):
        a = smollm2_model.analyze("Grouped query attention shares keys and values.")
    n = len(a.tokens)
    assert len(outputs) == 30
    for layer in (0, 14, 29):
        o_proj = layers[layer].self_attn.o_proj
        with torch.no_grad():
            got = o_proj(torch.from_numpy(a.contexts[layer]).reshape(n, 9 * 64))
        torch.testing.assert_close(got, outputs[layer], atol=1e-4, rtol=1e-4)
        v = values[layer].reshape(n, 3, 64).repeat_interleave(3, dim=1)  # [T, 9, 64]
        expected = torch.einsum("htj,jhd->thd", torch.from_numpy(a.attentions[layer]), v)
        torch.testing.assert_close(torch.from_numpy(a.contexts[layer]), expected,
                                   atol=1e-4, rtol=1e-4)


def test_smollm2_pair(smollm2_model: Any) -> None:
    a = smollm2_model.analyze("The cat sat on the mat.", text_b="Where did the cat sit?")
    assert {t.segment for t in a.tokens} == {0, 1}
    assert "".join(t.text for t in a.tokens if t.segment == 1) == "Where did the cat sit?"


def test_minilm_has_attentions_and_contexts_but_no_predictions(minilm_model: Any) -> None:
    info = minilm_model.info
    assert info.kind == "bidirectional"
    assert info.has_lm_head is False
    assert info.mask_token == "[MASK]"
    assert (info.layers, info.heads, info.hidden_size, info.head_dim) == (6, 12, 384, 32)
    a = minilm_model.analyze("The quick brown fox jumps over the lazy dog.")
    n = len(a.tokens)
    assert a.tokens[0].text == "[CLS]" and a.tokens[-1].text == "[SEP]"
    assert a.attentions.shape == (6, 12, n, n)
    assert a.contexts.shape == (6, n, 12, 32)
    assert a.hidden_states.shape == (7, n, 384)
    np.testing.assert_allclose(a.attentions.sum(-1), 1.0, atol=1e-4)
    assert a.predictions is None
    assert a.predictions_unavailable is not None
    assert "head" in a.predictions_unavailable
    assert np.abs(a.contexts).sum() > 0


def test_minilm_contexts_times_output_dense(minilm_model: Any) -> None:
    layers = minilm_model.module.encoder.layer
    with recorded_outputs(layer.attention.output.dense for layer in layers) as outputs:
        a = minilm_model.analyze("Contexts go through the output dense layer.")
    n = len(a.tokens)
    for layer in range(6):
        with torch.no_grad():
            got = layers[layer].attention.output.dense(
                torch.from_numpy(a.contexts[layer]).reshape(n, 384))
        torch.testing.assert_close(got, outputs[layer], atol=1e-4, rtol=1e-4)


def test_minilm_mask_changes_attention(minilm_model: Any) -> None:
    text = "The cat sat on the mat."
    plain = minilm_model.analyze(text)
    masked = minilm_model.analyze(text, mask=[2])
    assert masked.input_ids[2] == minilm_model.tokenizer.mask_token_id
    assert masked.tokens[2].text == "cat" and masked.tokens[2].masked
    assert not np.allclose(plain.attentions, masked.attentions, atol=1e-4)


def test_minilm_sentence_pair(minilm_model: Any) -> None:
    text, text_b = "The cat sat.", "It was happy."
    a = minilm_model.analyze(text, text_b=text_b)
    assert [t.text for t in a.tokens] == [
        "[CLS]", "The", "cat", "sat", ".", "[SEP]", "It", "was", "happy", ".", "[SEP]"]
    assert [t.segment for t in a.tokens] == [0] * 6 + [1] * 5
    assert [(t.start, t.end) for t in a.tokens[6:10]] == [(0, 2), (3, 6), (7, 12), (12, 13)]
    # Token types reach the model: the pair differs from the same ids with all-zero types.
    with torch.no_grad():
        out = minilm_model.module(input_ids=torch.tensor([a.input_ids]),
                                  token_type_ids=torch.zeros(1, len(a.input_ids), dtype=torch.long),
                                  output_attentions=True)
    assert not np.allclose(torch.stack(out.attentions, 1)[0].numpy(), a.attentions, atol=1e-5)


@pytest.mark.slow
def test_gemma3_analyses_french(gemma3_model: Any) -> None:
    info = gemma3_model.info
    assert info.kind == "autoregressive"
    assert info.architecture == "Gemma3ForCausalLM"
    assert (info.layers, info.heads, info.kv_heads) == (18, 4, 1)
    text = "Paris est la capitale de la"
    a = gemma3_model.analyze(text)
    n = len(a.tokens)
    assert a.attentions.shape == (18, 4, n, n)
    assert a.contexts.shape == (18, n, 4, info.head_dim)
    assert a.hidden_states.shape == (19, n, info.hidden_size)
    np.testing.assert_allclose(a.attentions.sum(-1), 1.0, atol=1e-4)
    for t in a.tokens:
        if not t.special:
            assert t.text == text[t.start:t.end]
    assert a.predictions is not None
    assert a.tokens[0].special and a.tokens[0].text == "<bos>"
    assert a.predictions[-1][0].token == " France"
    accents = gemma3_model.analyze("Élise a mangé une crème brûlée à Noël.")
    assert "".join(t.text for t in accents.tokens if not t.special) == (
        "Élise a mangé une crème brûlée à Noël.")
