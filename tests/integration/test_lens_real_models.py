"""The logit lens on the shipped real models: SmolLM2 (Llama, tied embeddings) and Gemma 3 270M
(262k vocabulary, embeddings scaled by sqrt(hidden)).

- Layer L is the model's own prediction: the same top-k tokens, probabilities within 1e-4.
- Sanity of the middle: the probability of the token that the last layer predicts rises
  towards the last layers (nostalgebraist 2020: the logit lens sharpens with depth). Measured
  here on factual text, SmolLM2: mean target probability ~0.06 over the first half of its 31
  hidden states, ~0.6 over the last quarter; Gemma 3: ~0.0 and ~0.5, with the target's
  median rank falling from thousands to 0. The checks leave a wide margin.
- A lazy analysis' lens covers its kept positions with the full analysis' numbers.
- Memory: the lens's peak (Linux's VmHWM, reset before it) stays far below the
  [layers + 1, T, vocab] float32 array that it never builds.
- MiniLM (a BertModel) has no output head: NoOutputHead names the alternative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.errors import NoOutputHead

TEXT = ("The capital of France is Paris. The capital of Germany is Berlin, and the capital of "
        "Italy is Rome.")


def _last_layer_is_the_prediction(analysis: Any, lens: Any) -> None:
    for column, position in enumerate(lens.positions):
        own = analysis.predictions[position]
        mine = lens.top[-1][column]
        assert [p.token_id for p in mine] == [p.token_id for p in own], position
        np.testing.assert_allclose([p.prob for p in mine], [p.prob for p in own], atol=1e-4)


def _rises_with_depth(lens: Any) -> None:
    states = lens.n_layers
    mean = lens.target_prob.mean(axis=1)
    first_half, last_quarter = mean[: states // 2].mean(), mean[-(states // 4):].mean()
    assert last_quarter > 2 * first_half + 0.1, (first_half, last_quarter)
    # and as a trend over all layers, not only the ends
    assert np.corrcoef(np.arange(states), mean)[0, 1] > 0.6
    median_rank = np.median(lens.target_rank, axis=1)
    assert median_rank[-(states // 4):].max() < median_rank[: states // 2].min()
    assert (lens.target_rank[-1] == 0).all()


@pytest.mark.parametrize("fixture", ["smollm2_model", "gemma3_model"])
def test_real_model_lens(fixture: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(fixture)
    analysis = model.analyze(TEXT, attention="full", top_k=5)
    lens = model.logit_lens(analysis, top_k=5)
    assert lens.n_layers == model.info.layers + 1
    assert lens.positions == tuple(range(analysis.n_tokens))
    _last_layer_is_the_prediction(analysis, lens)
    _rises_with_depth(lens)
    # the continuation of a fact: " Rome" after "the capital of Italy is", at the last layer
    rome = next(i for i, t in enumerate(analysis.tokens) if t.text.strip() == "Rome")
    assert lens.target_tokens[rome - 1].strip() == "Rome"
    if fixture == "smollm2_model":  # a lazy analysis: its kept positions, the same numbers
        keep = [3, rome - 1, analysis.n_tokens - 1]
        lazy = model.analyze(TEXT, attention="lazy", top_k=5, keep_positions=keep)
        part = model.logit_lens(lazy, top_k=5)
        assert part.positions == tuple(keep)
        assert part.target_ids == [lens.target_ids[p] for p in keep]
        np.testing.assert_allclose(part.target_prob, lens.target_prob[:, keep], atol=1e-4)
        _last_layer_is_the_prediction(lazy, part)


def test_minilm_has_no_output_head(minilm_model: Any) -> None:
    analysis = minilm_model.analyze("The cat sat on the mat.", attention="full", top_k=0)
    with pytest.raises(NoOutputHead, match="minilm-l6-mlm"):
        minilm_model.logit_lens(analysis)


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def test_lens_memory_stays_bounded(smollm2_model: Any) -> None:
    clear = Path("/proc/self/clear_refs")
    if not clear.exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    model = smollm2_model
    text = " ".join([TEXT] * 8)
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"][:128]
    analysis = model.analyze(model.tokenizer.decode(ids), attention="full", top_k=1)
    n, states, vocab = analysis.n_tokens, model.info.layers + 1, model.info.vocab_size
    whole_mb = states * n * vocab * 4 / 2**20  # what the lens must never hold (~770 MB)
    model.logit_lens(analysis, top_k=5)  # warm: allocator pools, lazy imports
    before = _status_mb("VmRSS")
    clear.write_text("5")  # VmHWM := VmRSS
    lens = model.logit_lens(analysis, top_k=5)
    peak = _status_mb("VmHWM") - before
    assert lens.target_prob.shape == (states, n)
    assert peak < min(200.0, whole_mb / 4), (peak, whole_mb)
