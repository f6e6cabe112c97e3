"""The lens routes through the real app on SmolLM2 and MiniLM: SmolLM2's logit lens ends in its
own predictions and sharpens towards the last layer; the induction probe's text, analysed as
any text, shows induction heads in the head-scores route; rollout and flow frames have the
structure rollout has; MiniLM (no output head) answers a 422 NoOutputHead for its lens and its
other lenses as usual."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from exbert.analysis.frame import decode_array
from exbert.server import create_app

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1:5050"
SMOL, MINI = "smollm2-135m", "minilm-l6"
TEXT = "The capital of France is Paris, and the capital of Italy is Rome."


@pytest.fixture(scope="module")
def client(smollm2_model, minilm_model):
    app = create_app({SMOL: smollm2_model, MINI: minilm_model})
    with TestClient(app, base_url=BASE) as c:
        yield c


def analyse(client, model, text, **extra):
    r = client.post("/api/analyze?format=json", json={"model": model, "text": text, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def frame(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    header, data = decode_array(r.content)
    return header, data.astype(np.float32)


def test_smollm2_lens_ends_in_its_own_predictions(client):
    a = analyse(client, SMOL, TEXT)
    r = client.get(f"/api/analyses/{a['analysis_id']}/lens")
    assert r.status_code == 200, r.text
    lens = r.json()
    assert len(lens["top"]) == a["n_layers"] + 1 == 31
    assert lens["positions"] == list(range(len(a["tokens"])))
    own = [p[0]["token_id"] for p in a["predictions"]]
    assert [cell[0]["token_id"] for cell in lens["top"][-1]] == own
    prob, rank = np.array(lens["target_prob"]), np.array(lens["target_rank"])
    assert np.all(rank[-1] == 0)
    # the last layer's answer emerges over the layers: later rows give it more probability
    assert prob[-1].mean() > prob[len(prob) // 2].mean() > prob[1].mean()
    # "Rome" is predicted after "Italy is" by the last layer
    italy = [t["text"] for t in a["tokens"]].index(" is", 8)
    assert lens["target_tokens"][italy].strip() == "Rome"


def test_the_probe_shows_induction_heads(client):
    r = client.post("/api/induction-probe", json={"model": SMOL, "length": 40, "seed": 1})
    assert r.status_code == 200, r.text
    probe = r.json()
    a = analyse(client, SMOL, probe["text"])
    assert len(a["tokens"]) == probe["n_tokens"] == 80  # SmolLM2 adds no special token
    r = client.get(f"/api/analyses/{a['analysis_id']}/head-scores")
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    induction = np.array(scores["induction"], dtype=np.float64)
    assert induction.shape == (30, 9)
    # a few heads put most of their attention on the token after the earlier occurrence;
    # the typical head almost none
    assert induction.max() > 0.5 and np.median(induction) < 0.1, induction.max()
    # the predictions of the second copy are the first copy's next tokens (induction at work)
    texts = [t["text"] for t in a["tokens"]]
    second = range(40, 79)
    hits = sum(a["predictions"][i][0]["token"] == texts[i + 1] for i in second)
    assert hits > len(second) // 2


def test_rollout_and_flow_frames(client):
    a = analyse(client, SMOL, "The cat sat on the mat.")
    t = len(a["tokens"])
    base = f"/api/analyses/{a['analysis_id']}/rollout"
    h, last = frame(client, base)
    assert h["shape"] == [1, t, t] and h["layers"] == [29]
    h, first = frame(client, base, layer=0)
    assert h["shape"] == [1, t, t] and h["layers"] == [0]
    for roll in (first, last):
        np.testing.assert_allclose(roll.sum(-1), 1, atol=1e-2)
        assert np.all(np.triu(roll[0], 1) == 0)  # causal
    # rollout mixes over the layers: the last layer's rows spread further back than layer 0's
    assert np.diagonal(last[0]).mean() < np.diagonal(first[0]).mean()
    h, flow = frame(client, base, mode="flow", layer=-1, heads="0,1,2")
    assert h["shape"] == [1, t, t] and h["layers"] == [29] and h["heads"] == [0, 1, 2]
    np.testing.assert_allclose(flow.sum(-1), 1, atol=1e-2)


def test_minilm_has_no_lens_but_the_others(client):
    a = analyse(client, MINI, TEXT)
    aid = a["analysis_id"]
    r = client.get(f"/api/analyses/{aid}/lens")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["type"] == "NoOutputHead" and "head" in err["message"]
    scores = client.get(f"/api/analyses/{aid}/head-scores").json()
    assert np.array(scores["scores"]["previous_token"], dtype=float).shape == (6, 12)
    t = len(a["tokens"])
    h, roll = frame(client, f"/api/analyses/{aid}/rollout")
    assert h["shape"] == [1, t, t] and h["layers"] == [5]
    assert np.triu(roll[0], 1).sum() > 0.1  # bidirectional: attention to later tokens too
