"""Head detectors, the induction probe, rollout and flow on a real model (SmolLM2-135M).

The check for "real previous-token and induction heads come out on top": the detectors rank
the heads, and the raw attention of the heads they put on top must show the pattern itself,
token by token (not just a mean). On the induction probe (50 random words twice) the best
induction head must (1) score above 0.5 and above 20 times the median head, (2) attend most, for
at least 80 % of the second copy's tokens, to the token after the earlier occurrence, and (3) sit
above a previous-token head (score > 0.5) of an earlier layer, the two-layer circuit of Olsson
et al. 2022. On ordinary text the best previous-token head must score above 0.5 and attend most
to the previous token for at least 80 % of the tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import exbert
from exbert.analysis import DETECTORS, head_scores

pytestmark = pytest.mark.integration

TEXT = ("Mr. Sherlock Holmes, who was usually very late in the mornings, save upon those not "
        "infrequent occasions when he was up all night, was seated at the breakfast table.")


@pytest.fixture(scope="module")
def probe(smollm2_model: Any) -> Any:
    return smollm2_model.induction_probe(length=50, seed=0)


def _top(scores: np.ndarray) -> tuple[int, int]:
    layer, head = np.unravel_index(np.nanargmax(scores), scores.shape)
    return int(layer), int(head)


def test_induction_heads_come_out_on_top_of_the_probe(probe: Any) -> None:
    scores = head_scores(probe)
    ind = scores["induction"]
    layer, head = _top(ind)
    assert ind[layer, head] > 0.5
    assert ind[layer, head] > 20 * np.median(ind), (ind[layer, head], np.median(ind))
    # its own attention: from the second copy's tokens to the token after the first occurrence
    words = [i for i, t in enumerate(probe.tokens) if not t.special]
    n = len(words) // 2
    queries = words[n + 1 :]  # the first token of the second copy has no earlier next token
    rows = probe.attention_rows(layer, [head], queries)
    targets = np.array([words[k - n + 1] for k in range(n + 1, 2 * n)])
    hits = (rows.argmax(axis=1) == targets).mean()
    assert hits >= 0.8, hits
    # a previous-token head in an earlier layer composes with it
    prev = scores["previous_token"][:layer]
    assert prev.size and np.nanmax(prev) > 0.5


def test_previous_token_heads_on_ordinary_text(smollm2_model: Any) -> None:
    a = smollm2_model.analyze(TEXT, top_k=0)
    scores = smollm2_model.head_scores(a)
    layer, head = _top(scores["previous_token"])
    assert scores["previous_token"][layer, head] > 0.5
    rows = a.attention_rows(layer, [head], range(1, a.n_tokens))
    hits = (rows.argmax(axis=1) == np.arange(a.n_tokens - 1)).mean()
    assert hits >= 0.8, hits
    assert set(scores) == set(DETECTORS)


def test_lazy_probe_gives_the_same_scores(smollm2_model: Any, probe: Any) -> None:
    lazy = smollm2_model.analyze(probe.text, attention="lazy", top_k=0)
    assert lazy.input_ids == probe.input_ids, "the probe's text re-tokenises to its tokens"
    full, again = head_scores(probe), head_scores(lazy)
    for name in DETECTORS:
        np.testing.assert_allclose(again[name], full[name], atol=1e-4, err_msg=name)


def test_rollout_and_flow_on_a_real_model(smollm2_model: Any) -> None:
    a = smollm2_model.analyze("The cat sat on the mat.", top_k=0)
    r = exbert.rollout(a)
    assert r.shape == (a.n_layers, a.n_tokens, a.n_tokens)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-4)
    assert not np.triu(r, k=1).any()
    flow = exbert.attention_flow(a, layer=3, heads=[0, 4], weights=[1.0, 3.0])
    np.testing.assert_allclose(flow.sum(-1), 1.0, atol=1e-5)
    assert not np.triu(flow, k=1).any()
