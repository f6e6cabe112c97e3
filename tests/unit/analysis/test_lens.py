"""The logit lens on tiny models of every family with a head.

Layer L must be the model's own predictions; a middle layer must equal the final norm + head
(or the masked-LM head) applied by hand to a *fresh* plain transformers module's hidden state,
with a float64 softmax over the whole vocabulary; lazy analyses cover their kept positions;
the projection runs in chunks of bounded rows (never [layers, T, vocab]).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

import exbert
from exbert.analysis import lens as lens_module
from exbert.analysis.lens import lens_from_hidden, logit_lens
from exbert.errors import InvalidInput, NoOutputHead
from exbert.view import MAX_TOP_K
from support import FAMILIES, tiny_config

TEXT = "The quick brown fox jumps over the lazy dog, twice!"


def _reference_logits(ref: Any, family: str, hidden: torch.Tensor) -> torch.Tensor:
    """The family's final norm + output head (or masked-LM head) applied by hand."""
    if family == "bert":
        return ref.cls.predictions.decoder(ref.cls.predictions.transform(hidden))
    if family == "roberta":
        h = ref.lm_head
        return h.decoder(h.layer_norm(torch.nn.functional.gelu(h.dense(hidden))))
    if family == "distilbert":
        return ref.vocab_projector(ref.vocab_layer_norm(ref.activation(ref.vocab_transform(
            hidden))))
    if family == "albert":
        p = ref.predictions
        return p.decoder(p.LayerNorm(p.activation(p.dense(hidden))))
    if family == "gpt2":
        return ref.lm_head(ref.transformer.ln_f(hidden))
    logits = ref.lm_head(ref.model.norm(hidden))  # llama, gemma3
    cap = getattr(ref.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


@pytest.fixture(scope="module", params=FAMILIES)
def case(request: pytest.FixtureRequest, tiny: Any, tiny_dir: Any) -> tuple[str, Any, Any, Any]:
    family = request.param
    model = tiny(family)
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    return family, model, analysis, logit_lens(model, analysis, 5)


def _check_last_layer_is_the_prediction(analysis: Any, lens: Any, atol: float = 1e-5) -> None:
    last = lens.top[-1]
    for column, position in enumerate(lens.positions):
        mine = last[column]
        own = analysis.predictions[position][: len(mine)]
        assert [p.token_id for p in mine] == [p.token_id for p in own], position
        assert [p.token for p in mine] == [p.token for p in own]
        np.testing.assert_allclose([p.prob for p in mine], [p.prob for p in own], atol=atol)


def test_last_layer_equals_the_models_predictions(case: Any) -> None:
    _family, model, analysis, lens = case
    assert lens.n_layers == model.info.layers + 1
    assert lens.positions == tuple(range(analysis.n_tokens))
    _check_last_layer_is_the_prediction(analysis, lens)
    assert lens.notes["last_layer_matches_predictions"] is True
    # the target is the last layer's top-1: first at layer L, with that probability
    assert lens.target_ids == [cell[0].token_id for cell in lens.top[-1]]
    assert lens.target_tokens == [cell[0].token for cell in lens.top[-1]]
    assert (lens.target_rank[-1] == 0).all()
    np.testing.assert_allclose(lens.target_prob[-1], [c[0].prob for c in lens.top[-1]],
                               rtol=1e-6)


def test_every_layer_equals_the_head_applied_by_hand(case: Any, tiny_dir: Any) -> None:
    """Each hidden state of a fresh transformers module, through the family's norm and head
    written out here, softmaxed in float64: top-k ids and probabilities, the target's
    probability and rank."""
    family, _model, analysis, lens = case
    folder = tiny_dir(family)
    ids = AutoTokenizer.from_pretrained(str(folder))(TEXT, return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == analysis.input_ids
    ref = tiny_config(family)[1].from_pretrained(str(folder)).eval()
    with torch.no_grad():
        out = ref(ids, output_hidden_states=True)
        states = out.hidden_states
        last = len(states) - 1
        for layer in range(last + 1):
            if layer == last:  # the model's own logits
                logits = out.logits[0].double()
            else:
                logits = _reference_logits(ref, family, states[layer][0]).double()
            probs = torch.softmax(logits, -1)
            top = torch.topk(probs, 5, dim=-1)
            got = lens.top[layer]
            assert [[p.token_id for p in cell] for cell in got] == top.indices.tolist(), layer
            np.testing.assert_allclose([[p.prob for p in cell] for cell in got],
                                       top.values.numpy(), atol=1e-6)
            target = torch.tensor(lens.target_ids)
            wanted = probs.gather(1, target[:, None])[:, 0]
            np.testing.assert_allclose(lens.target_prob[layer], wanted.numpy(), atol=1e-6)
            rank = (probs > wanted[:, None]).sum(-1)
            assert lens.target_rank[layer].tolist() == rank.tolist(), layer


def test_gemma_final_logit_softcapping(tmp_path: Path, causal_tokenizer_dir: Path) -> None:
    """Gemma 2's softcapping (tanh(logits / cap) * cap) changes the probabilities, not the
    order: the lens applies it too, so layer L still equals the predictions."""
    config, cls = tiny_config("gemma3")
    config.final_logit_softcapping = 0.5  # small enough to bite on tiny random logits
    torch.manual_seed(1)
    cls(config).eval().save_pretrained(tmp_path, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(causal_tokenizer_dir)).save_pretrained(tmp_path)
    model = exbert.load(tmp_path)
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    lens = logit_lens(model, analysis, 5)
    _check_last_layer_is_the_prediction(analysis, lens)
    ref = cls.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        hidden = torch.from_numpy(analysis.hidden_states[1])
        probs = torch.softmax(_reference_logits(ref, "gemma3", hidden).double(), -1)
        plain = torch.softmax(ref.lm_head(ref.model.norm(hidden)).double(), -1)
    top = torch.topk(probs, 5, dim=-1)
    np.testing.assert_allclose([[p.prob for p in c] for c in lens.top[1]], top.values.numpy(),
                               atol=1e-6)
    # the cap matters here: without it the probabilities would differ (by 5% and more)
    assert float((plain / probs - 1).abs().max()) > 0.05


def test_top_k_bounds(tiny: Any) -> None:
    model = tiny("llama")
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    for bad in (-1, MAX_TOP_K + 1, 2.5, True):
        with pytest.raises(InvalidInput):
            logit_lens(model, analysis, bad)
    one = logit_lens(model, analysis, 1)
    assert all(len(cell) == 1 for row in one.top for cell in row)
    most = logit_lens(model, analysis, MAX_TOP_K)
    assert all(len(cell) == MAX_TOP_K for row in most.top for cell in row)
    probs = np.array([[[p.prob for p in cell] for cell in row] for row in most.top])
    assert (np.diff(probs, axis=-1) <= 0).all() and (probs.sum(-1) <= 1 + 1e-5).all()
    none = logit_lens(model, analysis, 0)  # the target's probability and rank only
    assert all(cell == [] for row in none.top for cell in row)
    assert none.target_ids == one.target_ids
    np.testing.assert_array_equal(none.target_rank, one.target_rank)


def test_a_final_norm_under_another_name_is_found_or_refused(tiny: Any) -> None:
    """A final norm the lens does not know by name is found as the one norm module beside the
    layers; with two candidates the lens refuses rather than guess (never a silent skip)."""
    model = tiny("llama")
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    expected = logit_lens(model, analysis, 3)
    base = model.module.base_model
    norm = base.norm
    try:
        del base.norm
        base.final_rms = norm  # a name the lens does not list
        got = logit_lens(model, analysis, 3)
        base.other_norm = copy.deepcopy(norm)
        with pytest.raises(NoOutputHead, match="final one"):
            logit_lens(model, analysis, 3)
    finally:
        for name in ("final_rms", "other_norm"):
            if hasattr(base, name):
                delattr(base, name)
        base.norm = norm
    np.testing.assert_allclose(got.target_prob, expected.target_prob, atol=1e-6)
    assert got.target_ids == expected.target_ids


def test_headless_encoder_raises_no_output_head(tiny: Any) -> None:
    model = tiny("bert-headless")
    analysis = model.analyze(TEXT, attention="full", top_k=0)
    with pytest.raises(NoOutputHead) as caught:
        logit_lens(model, analysis)
    message = str(caught.value)
    assert model.info.name in message and "no output head" in message
    assert "minilm-l6-mlm" in message and "ForMaskedLM" in message
    assert caught.value.status == 422


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_lazy_analysis_covers_its_kept_positions(tiny: Any, family: str) -> None:
    model = tiny(family)
    full = model.analyze(TEXT, attention="full", top_k=5)
    keep = [0, 3, 7]
    lazy = model.analyze(TEXT, attention="lazy", top_k=5, keep_positions=keep)
    got = logit_lens(model, lazy, 5)
    want = logit_lens(model, full, 5)
    assert got.positions == tuple(keep) and len(got.target_ids) == len(keep)
    assert got.target_prob.shape == (model.info.layers + 1, len(keep))
    for layer in range(got.n_layers):
        for column, position in enumerate(keep):
            assert [p.token_id for p in got.top[layer][column]] == \
                [p.token_id for p in want.top[layer][position]]
    np.testing.assert_allclose(got.target_prob, want.target_prob[:, keep], atol=1e-5)
    _check_last_layer_is_the_prediction(lazy, got)
    # a lazy analysis that kept nothing has an empty lens
    bare = logit_lens(model, model.analyze(TEXT, attention="lazy", top_k=0), 5)
    assert bare.positions == () and bare.target_prob.shape == (model.info.layers + 1, 0)


def test_projection_runs_in_bounded_chunks(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No [layers, T, vocab]: every projection is at most one chunk of rows; chunks that cut
    through layers and positions give the same lens."""
    model = tiny("llama")
    analysis = model.analyze(TEXT + " " + TEXT, attention="full", top_k=5)
    want = logit_lens(model, analysis, 5)
    calls: list[int] = []
    score = lens_module._score

    def spy(head: Any, x: torch.Tensor, k: int, targets: Any) -> Any:
        calls.append(int(x.shape[0]))
        return score(head, x, k, targets)

    monkeypatch.setattr(lens_module, "_score", spy)
    monkeypatch.setattr(lens_module, "_MAX_ROWS", 7)
    monkeypatch.setattr(lens_module, "_MIN_ROWS", 1)
    got = logit_lens(model, analysis, 5)
    n, states = analysis.n_tokens, model.info.layers + 1
    assert max(calls) == 7 and sum(calls) == states * n
    assert [[c[0].token_id for c in row] for row in got.top] == \
        [[c[0].token_id for c in row] for row in want.top]
    np.testing.assert_allclose(got.target_prob, want.target_prob, atol=1e-6)
    np.testing.assert_array_equal(got.target_rank, want.target_rank)
    # the default chunk is bounded in bytes whatever the length
    rows = lens_module._chunk_rows(model.info.vocab_size)
    assert rows * model.info.vocab_size * 4 <= lens_module._CHUNK_BYTES


def test_translate_hook_and_tuned_label(tiny: Any) -> None:
    """``lens_from_hidden``'s translator runs before the head on every hidden state."""
    model = tiny("llama")
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    seen: set[int] = set()

    def zero(index: int, rows: torch.Tensor) -> torch.Tensor:
        seen.add(index)
        return rows * 0

    lens = lens_from_hidden(model, analysis, 3, translate=zero, lens="tuned")
    assert lens.lens == "tuned" and seen == set(range(model.info.layers + 1))
    # zero states -> zero logits (no bias) -> the uniform distribution
    probs = np.array([[[p.prob for p in c] for c in row] for row in lens.top])
    np.testing.assert_allclose(probs, 1 / model.info.vocab_size, rtol=1e-4)
    same = lens_from_hidden(model, analysis, 3, translate=lambda _i, h: h)
    np.testing.assert_array_equal(same.target_prob, logit_lens(model, analysis, 3).target_prob)


def test_to_dict_has_the_api_shape(case: Any) -> None:
    """Exactly the fields of the server's ``LogitLensOut``, from which the frontend's
    ``LogitLensData`` is generated (OpenAPI -> schema.d.ts), and valid for it."""
    from exbert.server.lens_schemas import LogitLensOut
    from exbert.server.schemas import PredictionOut

    _family, model, analysis, lens = case
    data = json.loads(json.dumps(lens.to_dict()))
    assert set(data) == set(LogitLensOut.model_fields)
    LogitLensOut.model_validate(data)
    assert data["lens"] == "logit" and data["top_k"] == 5 and data["model"] == model.info.name
    assert set(data["top"][0][0][0]) == set(PredictionOut.model_fields)
    assert np.array(data["target_prob"]).shape == (model.info.layers + 1, analysis.n_tokens)
    assert np.array(data["target_rank"]).dtype.kind == "i"


def test_model_method_delegates(tiny: Callable[[str], Any]) -> None:
    model = tiny("gpt2")
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    analysis.hidden_states.flags.writeable = False  # as decoded from bytes: read as it is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lens = model.logit_lens(analysis, top_k=2)
    assert lens.top_k == 2 and lens.n_layers == model.info.layers + 1
    _check_last_layer_is_the_prediction(analysis, lens)


def test_ranks_inside_and_outside_the_top_k() -> None:
    """The target's rank is a count of strictly larger logits whether the target is among the
    top-k taken (read there) or further down (a comparison pass), ties included; the
    probabilities are a softmax over everything."""
    from exbert.analysis.lens_head import OutputHead

    vocab = 64
    head = OutputHead(prepare=lambda _i, x: x, weight=torch.eye(vocab), bias=None,
                      finish=lambda _l: None, description="identity")
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, vocab, generator=gen) * 3
    logits[1, :10] = 5.0  # ties at the top
    logits[4] = 0.0  # all tied
    targets = torch.tensor([int(logits[0].argmax()), 3, int(logits[2].argsort()[-5]),
                            int(logits[3].argsort()[5]), 7, int(logits[5].argsort()[-40])])
    ids, probs, target_prob, rank = lens_module._score(head, logits, 3, targets)
    wanted = logits.gather(1, targets[:, None])
    assert rank.tolist() == (logits > wanted).sum(-1).tolist()
    assert rank.tolist()[0] == 0 and rank.tolist()[4] == 0
    soft = torch.softmax(logits.double(), -1)
    np.testing.assert_allclose(target_prob, soft.gather(1, targets[:, None])[:, 0], rtol=1e-6)
    np.testing.assert_allclose(probs, soft.gather(1, torch.from_numpy(ids)), rtol=1e-6)
    assert ids.shape == (6, 3) and (np.diff(probs, axis=-1) <= 0).all()


def test_hidden_states_of_another_width_are_refused(tiny: Any) -> None:
    from dataclasses import replace

    from exbert.errors import InvalidRequest

    model = tiny("llama")
    analysis = model.analyze(TEXT, attention="full", top_k=0)
    narrow = replace(analysis, hidden_states=np.ascontiguousarray(
        analysis.hidden_states[..., :16]))
    with pytest.raises(InvalidRequest, match="width 16"):
        logit_lens(model, narrow)
