"""Attention flow: max-flow on hand-made layered graphs with known answers, cross-checked
against networkx's max-flow on random graphs, and attention_flow on tiny models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import exbert
from exbert.analysis.flow import layered_max_flow
from exbert.errors import InvalidRequest

TEXT = "The cat sat on the mat because the cat was tired."


def test_hand_made_graph() -> None:
    """Two edge layers, three tokens. Edge layer 1 joins the top nodes (rows) to the middle
    ones, edge layer 0 the middle nodes to the inputs (columns).

    From top token 0 to input 0: paths 0->0->0 (min(0.5, 0.2) = 0.2), 0->1->0
    (min(0.3, 0.6) = 0.3), 0->2->0 (min(0.2, 0) = 0): 0.5 in all. To input 2: through middle
    2 only 0.2 arrives, through middle 1 at most 0.3 leaves toward input 2 but only
    0.1 of it fits (edge 1->2 of layer 0), through middle 0 min(0.5, 0.7): 0.5; 0.2 + 0.1 +
    0.5 = 0.8. Top token 2 has one edge, 2->2 of capacity 1, and middle 2 sends 0.4 to input 1
    and 0.6 to input 2, so it carries 0.4 and 0.6 (and nothing to input 0)."""
    caps = np.array([
        [[0.2, 0.1, 0.7],   # layer 0: middle 0 -> inputs
         [0.6, 0.3, 0.1],   # middle 1
         [0.0, 0.4, 0.6]],  # middle 2
        [[0.5, 0.3, 0.2],   # layer 1: top 0 -> middles
         [0.0, 1.0, 0.0],   # top 1
         [0.0, 0.0, 1.0]],  # top 2
    ])
    flow = layered_max_flow(caps)
    np.testing.assert_allclose(flow[0], [0.5, 0.6, 0.8], atol=1e-7)
    np.testing.assert_allclose(flow[1], caps[0][1], atol=1e-7)  # one path: middle 1's edges
    np.testing.assert_allclose(flow[2], [0.0, 0.4, 0.6], atol=1e-7)


def test_bottleneck_in_the_middle_of_a_deep_graph() -> None:
    """A cut inside the graph, not at the source nor at the sink: every path from top token 0
    goes through middle layers whose edges to token 1 have capacity 0.05 and 0.15 (the rest of
    the flow runs back to token 0, which never reaches input 1)."""
    t, depth = 2, 4
    caps = np.zeros((depth, t, t))
    caps[:] = np.eye(t)
    caps[0] = [[0.5, 0.5], [0.0, 1.0]]  # to the inputs: token 0 splits, token 1 keeps
    caps[2] = [[0.95, 0.05], [0.0, 1.0]]
    caps[1] = [[0.85, 0.15], [0.0, 1.0]]
    flow = layered_max_flow(caps)
    # to input 1: 0.05 moves to token 1 at layer 2, 0.15 more at layer 1 (0.2 on token 1, which
    # keeps it), and the 0.8 left on token 0 sends 0.5 at most: min(0.8, 0.5) + 0.2 = 0.7
    np.testing.assert_allclose(flow[0], [0.5, 0.7], atol=1e-7)
    np.testing.assert_allclose(flow[1], [0.0, 1.0], atol=1e-7)


def test_random_graphs_match_networkx() -> None:
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(7)
    for trial in range(25):
        depth, t = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        caps = rng.random((depth, t, t)) * (rng.random((depth, t, t)) < 0.6)
        if trial % 2:
            caps = np.tril(caps)
        g = nx.DiGraph()
        g.add_nodes_from((m, a) for m in range(depth + 1) for a in range(t))
        for m in range(depth):
            for a, b in zip(*np.nonzero(caps[m]), strict=True):
                g.add_edge((m + 1, int(a)), (m, int(b)), capacity=float(caps[m, a, b]))
        want = [[nx.maximum_flow_value(g, (depth, i), (0, j)) for j in range(t)]
                for i in range(t)]
        np.testing.assert_allclose(layered_max_flow(caps), want, atol=1e-6)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_attention_flow_on_tiny_models(tiny: Any, family: str) -> None:
    model = tiny(family)
    full = model.analyze(TEXT, attention="full", top_k=0)
    lazy = model.analyze(TEXT, attention="lazy", top_k=0)
    flow = exbert.attention_flow(full, layer=-1)
    t = full.n_tokens
    assert flow.dtype == np.float32 and flow.shape == (t, t)
    np.testing.assert_allclose(flow.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(exbert.attention_flow(lazy, layer=-1), flow, atol=1e-4)
    if family == "llama":
        assert not np.triu(flow, k=1).any(), "no flow to later tokens in a causal model"
    # through one layer the flow is the layer's residual attention itself (and its rollout)
    np.testing.assert_allclose(exbert.attention_flow(full, layer=0), exbert.rollout(full)[0],
                               atol=1e-5)


def test_attention_flow_is_refused_past_its_token_limit(tiny: Any) -> None:
    from exbert.view import MAX_FLOW_TOKENS

    a = tiny("llama").analyze("word " * (MAX_FLOW_TOKENS + 5), top_k=0)
    assert a.n_tokens > MAX_FLOW_TOKENS
    with pytest.raises(InvalidRequest, match=f"at most {MAX_FLOW_TOKENS} tokens"):
        exbert.attention_flow(a)
    with pytest.raises(InvalidRequest):
        exbert.attention_flow(tiny("llama").analyze(TEXT, top_k=0), layer=7)
