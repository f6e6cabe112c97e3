"""The lazy engine on the shipped real models: the same numbers as eager attention.

SmolLM2 (Llama, grouped-query 9/3, rotary), MiniLM (BERT, bidirectional) and Gemma 3 270M
(q/k norms, 512-token sliding-window layers beside global ones, 4/1 heads): lazy rows,
blocks and statistics equal the full (eager) analysis of the same text within 1e-4, and
Gemma's sliding-window layers give zero weight outside their window on a longer text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from support import SMALL_CORPUS_TEXT as SENTENCES

ATOL = 1e-4


def _text(model: Any, n_tokens: int) -> str:
    """A text of about ``n_tokens`` tokens from real sentences."""
    text = SENTENCES
    while len(model.tokenizer(text)["input_ids"]) < n_tokens:
        text += " " + SENTENCES
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"][: n_tokens - 2]
    return str(model.tokenizer.decode(ids))


def _compare(model: Any, n_tokens: int) -> None:
    text = _text(model, n_tokens)
    lazy = model.analyze(text, attention="lazy", top_k=1)
    full = model.analyze(text, attention="full", top_k=1)
    assert lazy.mode == "lazy" and full.mode == "full" and lazy.n_tokens == full.n_tokens
    t = full.n_tokens
    rows = [0, 1, t // 2, t - 1]
    for layer in range(full.n_layers):
        np.testing.assert_allclose(lazy.attention_rows(layer, None, rows),
                                   full.attentions[layer].mean(0)[rows], atol=ATOL)
    for layer in (0, full.n_layers // 2, full.n_layers - 1):
        np.testing.assert_allclose(lazy.attention_blocks(layer, 16),
                                   full.attention_blocks(layer, 16), atol=ATOL)
    want, got = full.head_stats(), lazy.head_stats()
    for name in want:
        # entropies and distances are sums over T terms: compare relative to their size
        scale = max(1.0, float(np.abs(want[name]).max()))
        np.testing.assert_allclose(got[name], want[name], atol=ATOL * scale, err_msg=name)
    if full.predictions is not None:
        assert lazy.predictions is not None
        assert [r[0].token_id for r in lazy.predictions] == [r[0].token_id for r in full.predictions]


@pytest.mark.parametrize("fixture", ["smollm2_model", "minilm_model", "gemma3_model"])
def test_lazy_equals_eager_on_real_models(fixture: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(fixture)
    _compare(model, min(300, model.info.max_tokens))


def test_gemma3_sliding_window_layers(gemma3_model: Any) -> None:
    model = gemma3_model
    analysis = model.analyze(_text(model, 700), attention="lazy", top_k=0)
    records = analysis.lazy.records
    sliding = [i for i, r in enumerate(records) if r.window is not None]
    full = [i for i, r in enumerate(records) if r.window is None]
    assert sliding and full, "Gemma 3 mixes sliding-window and global layers"
    t = analysis.n_tokens
    last = analysis.attention_rows(sliding[0], None, [t - 1])[0]
    window = records[sliding[0]].window
    assert window is not None and t > window
    assert np.all(last[: t - window] == 0) and last[t - window :].sum() == pytest.approx(1, abs=1e-4)
    assert analysis.attention_rows(full[0], None, [t - 1])[0][: t - window].sum() > 0


def test_auto_picks_lazy_for_long_inputs(smollm2_model: Any) -> None:
    from exbert.analysis.memory import full_attention_bytes
    from exbert.view import AUTO_LAZY_BYTES

    short = smollm2_model.analyze("The cat sat on the mat.", top_k=0)
    assert short.mode == "full"
    n = 700
    assert full_attention_bytes(smollm2_model.info, n) > AUTO_LAZY_BYTES
    assert smollm2_model.analyze(_text(smollm2_model, n), top_k=0).mode == "lazy"
