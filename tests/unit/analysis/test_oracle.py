"""Oracle tests: exbert's analysis against plain transformers, per model family.

The reference is a *fresh* transformers module loaded from the same saved folder (eager
attention), fed by the tokenizer directly, with its attention modules located by explicit
per-family paths (not by exbert's hook regex). So a wrong weight load, wrong token ids, a hook on
the wrong module, a wrong layer order or a wrong head split each make a test here fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from support import CAUSAL_FAMILIES, FAMILIES, MLM_FAMILIES, recorded_outputs, tiny_config

TEXT = "The quick brown fox jumps over the lazy dog, twice!"
TEXT_B = "Then it sleeps."
ATOL = 1e-5


def _layers(ref: Any, family: str) -> list[Any]:
    """The attention modules of each layer, in order (ALBERT: one shared module, L times)."""
    if family in ("bert", "roberta"):
        base = ref.bert if family == "bert" else ref.roberta
        return [layer.attention for layer in base.encoder.layer]
    if family == "distilbert":
        return [layer.attention for layer in ref.distilbert.transformer.layer]
    if family == "albert":
        shared = ref.albert.encoder.albert_layer_groups[0].albert_layers[0].attention
        return [shared] * ref.config.num_hidden_layers
    if family == "gpt2":
        return [block.attn for block in ref.transformer.h]
    return [layer.self_attn for layer in ref.model.layers]


def _out_proj(attn: Any, family: str) -> torch.nn.Module:
    return {
        "bert": lambda a: a.output.dense,
        "roberta": lambda a: a.output.dense,
        "distilbert": lambda a: a.out_lin,
        "albert": lambda a: a.dense,
        "gpt2": lambda a: a.c_proj,
    }.get(family, lambda a: a.o_proj)(attn)


def _value_module(attn: Any, family: str) -> torch.nn.Module:
    return {
        "bert": lambda a: a.self.value,
        "roberta": lambda a: a.self.value,
        "distilbert": lambda a: a.v_lin,
        "albert": lambda a: a.value,
        "gpt2": lambda a: a.c_attn,
    }.get(family, lambda a: a.v_proj)(attn)


class Reference:
    """A plain transformers run of one input: outputs, per-layer projection outputs, values."""

    def __init__(self, folder: Path, family: str, input_ids: list[int],
                 token_type_ids: list[int] | None) -> None:
        _, cls = tiny_config(family)
        self.module = cls.from_pretrained(str(folder), attn_implementation="eager").eval()
        self.family = family
        # ALBERT shares one module across layers: register once, record every call.
        attns = list(dict.fromkeys(_layers(self.module, family)))
        kwargs: dict[str, Any] = {"input_ids": torch.tensor([input_ids])}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = torch.tensor([token_type_ids])
        with (recorded_outputs(_out_proj(a, family) for a in attns) as proj_out,
              recorded_outputs(_value_module(a, family) for a in attns) as values,
              torch.no_grad()):
            self.out = self.module(**kwargs, output_attentions=True, output_hidden_states=True)
        self.proj_out: list[torch.Tensor] = proj_out
        self.values: list[torch.Tensor] = values

    def values_per_kv_head(self, layer: int, heads: int, kv_heads: int, head_dim: int
                           ) -> torch.Tensor:
        """Value vectors of ``layer`` as [T, kv_heads, head_dim]."""
        v = self.values[layer]
        if self.family == "gpt2":  # c_attn packs q, k, v
            v = v.split(v.shape[-1] // 3, dim=-1)[2]
        return v.reshape(v.shape[0], kv_heads, head_dim)


def _reference_for(tiny_dir: Callable[[str], Path], family: str, text: str,
                   text_b: str | None = None) -> tuple[Reference, Any]:
    folder = tiny_dir(family)
    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = tok(text) if text_b is None else tok(text, text_b)
    types = enc.get("token_type_ids") if family in ("bert", "albert") else None
    return Reference(folder, family, list(enc["input_ids"]), types), enc


@pytest.fixture(scope="module", params=FAMILIES)
def case(request: pytest.FixtureRequest, tiny: Any, tiny_dir: Any) -> tuple[str, Any, Any, Any]:
    family = request.param
    model = tiny(family)
    text_b = TEXT_B if family in MLM_FAMILIES else None
    analysis = model.analyze(TEXT, text_b=text_b, top_k=5)
    ref, enc = _reference_for(tiny_dir, family, TEXT, text_b)
    return family, model, analysis, (ref, enc)


def test_input_ids_are_the_tokenizers(case: Any) -> None:
    _, _, a, (_, enc) = case
    assert a.input_ids == list(enc["input_ids"])
    assert len(a.tokens) == len(a.input_ids)


def test_shapes_and_dtypes(case: Any) -> None:
    _, model, a, _ = case
    info = model.info
    t = len(a.tokens)
    assert a.attentions.shape == (info.layers, info.heads, t, t)
    assert a.hidden_states.shape == (info.layers + 1, t, info.hidden_size)
    assert a.contexts.shape == (info.layers, t, info.heads, info.head_dim)
    for arr in (a.attentions, a.hidden_states, a.contexts):
        assert arr.dtype == np.float32
        assert arr.flags.c_contiguous
    assert a.predictions is not None
    assert len(a.predictions) == t
    assert all(len(row) == 5 for row in a.predictions)


def test_attentions_equal_transformers(case: Any) -> None:
    _, _, a, (ref, _) = case
    expected = torch.stack(ref.out.attentions, dim=1)[0].numpy()
    np.testing.assert_allclose(a.attentions, expected, atol=ATOL, rtol=0)


def test_attention_rows_sum_to_one(case: Any) -> None:
    _, _, a, _ = case
    np.testing.assert_allclose(a.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert (a.attentions >= 0).all()


def test_causal_attention_is_zero_above_the_diagonal(case: Any) -> None:
    family, _, a, _ = case
    t = a.attentions.shape[-1]
    upper = np.triu(np.ones((t, t), dtype=bool), k=1)
    if family in CAUSAL_FAMILIES:
        assert np.all(a.attentions[..., upper] == 0.0)
    else:  # bidirectional: tokens do see what follows them
        assert np.all(a.attentions[..., upper].sum(axis=-1) > 0)


def test_hidden_states_equal_transformers(case: Any) -> None:
    _, _, a, (ref, _) = case
    expected = torch.stack(ref.out.hidden_states, dim=1)[0].numpy()
    np.testing.assert_allclose(a.hidden_states, expected, atol=ATOL, rtol=1e-5)


def test_output_projection_of_contexts_is_the_attention_output(case: Any) -> None:
    """``proj(contexts[l].reshape(T, H*dh))`` equals what the projection returned in layer l."""
    family, model, a, (ref, _) = case
    attns = _layers(ref.module, family)
    t = a.contexts.shape[1]
    assert len(ref.proj_out) == model.info.layers
    for layer in range(model.info.layers):
        proj = _out_proj(attns[layer], family)
        ctx = torch.from_numpy(a.contexts[layer]).reshape(t, -1)
        with torch.no_grad():
            got = proj(ctx)
        torch.testing.assert_close(got, ref.proj_out[layer], atol=ATOL, rtol=1e-4)


def test_contexts_are_attention_weighted_values(case: Any) -> None:
    """Independent of any hook on the output projection: context[l, t, h] = sum_j A[l,h,t,j]
    V[l, j, kv(h)], with query head h reading KV head h // (heads / kv_heads) (GQA)."""
    _, model, a, (ref, _) = case
    info = model.info
    group = info.heads // info.kv_heads
    for layer in range(info.layers):
        v = ref.values_per_kv_head(layer, info.heads, info.kv_heads, info.head_dim)
        v = v.repeat_interleave(group, dim=1)  # [T, H, dh]
        att = torch.from_numpy(a.attentions[layer])  # [H, T, T]
        expected = torch.einsum("htj,jhd->thd", att, v)
        torch.testing.assert_close(
            torch.from_numpy(a.contexts[layer]), expected, atol=ATOL, rtol=1e-4
        )


def test_top1_prediction_is_the_logits_argmax(case: Any) -> None:
    _, _, a, (ref, _) = case
    logits = ref.out.logits[0]
    probs = torch.softmax(logits, dim=-1)
    assert a.predictions is not None
    for i, row in enumerate(a.predictions):
        assert row[0].token_id == int(logits[i].argmax())
        top = torch.topk(probs[i], len(row))
        assert [p.token_id for p in row] == top.indices.tolist()
        np.testing.assert_allclose([p.prob for p in row], top.values.numpy(), rtol=1e-4)
        assert all(x.prob >= y.prob for x, y in itertools.pairwise(row))


def test_prediction_text_decodes_the_token_id(case: Any, tiny_dir: Any) -> None:
    family, _, a, _ = case
    tok = AutoTokenizer.from_pretrained(str(tiny_dir(family)))
    assert a.predictions is not None
    for row in a.predictions[:3]:
        for p in row:
            assert p.token == tok.decode([p.token_id])


def test_analysis_is_deterministic(case: Any) -> None:
    _family, model, a, _ = case
    again = model.analyze(a.text, text_b=a.text_b, top_k=5)
    np.testing.assert_array_equal(again.attentions, a.attentions)
    np.testing.assert_array_equal(again.contexts, a.contexts)


@pytest.mark.parametrize("family", MLM_FAMILIES)
def test_masked_analysis_equals_transformers_on_masked_ids(tiny: Any, tiny_dir: Any,
                                                           family: str) -> None:
    model = tiny(family)
    plain = model.analyze(TEXT)
    position = 2
    masked = model.analyze(TEXT, mask=[position])
    mask_id = model.tokenizer.mask_token_id
    assert masked.input_ids[position] == mask_id
    assert masked.tokens[position].masked
    assert masked.mask == (position,)
    ids = list(plain.input_ids)
    ids[position] = mask_id
    assert masked.input_ids == ids
    assert not np.allclose(masked.attentions, plain.attentions, atol=1e-6)
    types = [0] * len(ids) if family in ("bert", "albert") else None
    ref = Reference(tiny_dir(family), family, ids, types)
    expected = torch.stack(ref.out.attentions, dim=1)[0].numpy()
    np.testing.assert_allclose(masked.attentions, expected, atol=ATOL, rtol=0)
    assert masked.predictions is not None
    assert masked.predictions[position][0].token_id == int(ref.out.logits[0, position].argmax())


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_batch_analysis_equals_single_analyses(tiny: Any, family: str) -> None:
    """Padding in a batch changes nothing for the real tokens of each text."""
    model = tiny(family)
    texts = ["A short one.", "A much longer sentence, with more tokens than the first one."]
    batch = model.analyze_batch(texts, top_k=3)
    for text, got in zip(texts, batch, strict=True):
        single = model.analyze(text, top_k=3)
        assert got.input_ids == single.input_ids
        np.testing.assert_allclose(got.attentions, single.attentions, atol=1e-5)
        np.testing.assert_allclose(got.hidden_states, single.hidden_states, atol=1e-4)
        np.testing.assert_allclose(got.contexts, single.contexts, atol=1e-5)
        assert got.predictions is not None and single.predictions is not None
        assert [r[0].token_id for r in got.predictions] == [
            r[0].token_id for r in single.predictions
        ]
