"""The lenses carried by the HTML export and the notebook widget (exbert.export.lenses), on tiny
models: what the payload holds, that its numbers are the library's, NaN as null, the no-head
message, and the bounds that leave a large lens out."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import exbert.export.lenses as lenses_mod
from exbert.analysis.detectors import DETECTORS, head_scores
from exbert.analysis.frame import decode_array
from exbert.analysis.rollout import attention_flow, rollout
from exbert.cli import main
from exbert.export import export_html
from exbert.export.lenses import FLOW_LEFT_OUT, NO_MODEL, head_scores_json, lens_payload
from exbert.view import MAX_FLOW_TOKENS

TEXT = "The cat sat on the mat."


def strict_json(obj) -> dict:
    """``obj`` through JSON with NaN refused (what the browser's JSON.parse accepts)."""
    return json.loads(json.dumps(obj, allow_nan=False))


def script(doc: str, sid: str) -> str | None:
    m = re.search(rf'<script type="application/[a-z-]+" id="{sid}">(.*?)</script>', doc, re.S)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def causal(tiny):
    model = tiny("llama")
    return model, model.analyze(TEXT, attention="full")


def test_payload_holds_every_lens_of_the_analysis(causal):
    model, a = causal
    p = lens_payload(model, a, flow=True)
    info = strict_json(p.info)
    n_layers, n_heads, t = a.attentions.shape[:3]
    assert set(info) == {"key", "logit_lens", "head_scores", "rollout", "flow"}
    assert info["key"] == {"text": TEXT, "text_b": None, "mask": [], "n_tokens": t}
    lens = info["logit_lens"]["data"]
    assert len(lens["top"]) == n_layers + 1 and lens["positions"] == list(range(t))
    assert all(len(cell) == 5 for row in lens["top"] for cell in row)
    assert np.array(lens["target_prob"]).shape == (n_layers + 1, t)
    hs = info["head_scores"]["data"]
    assert hs["names"] == list(DETECTORS) and (hs["layers"], hs["heads"]) == (n_layers, n_heads)
    want = head_scores(a)
    for name in DETECTORS:
        got = np.array([[np.nan if v is None else v for v in row] for row in hs["scores"][name]])
        np.testing.assert_allclose(got, want[name], atol=1e-4)
    # rollout (all heads) and flow (every layer) as float16 frames [L, T, T]
    assert info["rollout"] == {"layers": list(range(n_layers)), "residual": 0.5}
    header, r = decode_array(p.rollout)
    assert header["mode"] == "rollout" and r.shape == (n_layers, t, t)
    np.testing.assert_allclose(r.astype(np.float32), rollout(a), atol=2e-3)
    assert info["flow"]["layers"] == list(range(n_layers))
    header, f = decode_array(p.flow)
    assert header["mode"] == "flow" and f.shape == (n_layers, t, t)
    for layer in range(n_layers):
        np.testing.assert_allclose(f[layer].astype(np.float32),
                                   attention_flow(a, layer=layer), atol=2e-3)
    assert set(p.arrays) == {"rollout", "flow"} and p.nbytes == len(p.rollout) + len(p.flow)


def test_flow_is_opt_in_and_its_absence_says_why(causal):
    model, a = causal
    p = lens_payload(model, a)
    assert p.flow is None and set(p.arrays) == {"rollout"}
    assert p.info["flow"] == {"error": FLOW_LEFT_OUT}


def test_nan_scores_are_null():
    scores = {"self": np.array([[0.5, np.nan]], dtype=np.float32),
              "induction": np.full((1, 2), np.nan, dtype=np.float32)}
    got = strict_json(head_scores_json(scores))
    assert got == {"names": ["self", "induction"], "layers": 1, "heads": 2,
                   "scores": {"self": [[0.5, None]], "induction": [[None, None]]}}


def test_a_text_without_repeats_has_null_induction_scores(causal):
    model, a = causal
    hs = strict_json(lens_payload(model, a).info)["head_scores"]["data"]
    # no token repeats in TEXT: induction applies to no token, so every head's score is null
    assert all(v is None for row in hs["scores"]["induction"] for v in row)
    assert all(v is not None for row in hs["scores"]["self"] for v in row)


def test_an_encoder_without_a_head_says_so_and_keeps_the_other_lenses(tiny):
    model = tiny("bert-headless")
    a = model.analyze(TEXT, attention="full")
    info = strict_json(lens_payload(model, a).info)
    assert set(info["logit_lens"]) == {"error"}
    assert "head" in info["logit_lens"]["error"].lower()
    assert "data" in info["head_scores"] and "layers" in info["rollout"]


def test_an_analysis_alone_has_no_logit_lens(causal):
    _, a = causal
    p = lens_payload(None, a)
    assert p.info["logit_lens"] == {"error": NO_MODEL}
    assert "error" in p.info["flow"] and p.flow is None and p.rollout is not None


def test_lenses_over_the_bound_are_left_out_with_a_message(causal, monkeypatch):
    model, a = causal
    t = len(a.tokens)
    monkeypatch.setattr(lenses_mod, "ALL_LAYERS_BYTES", a.n_layers * t * t * 2 - 1)
    p = lens_payload(model, a, flow=True)
    assert p.rollout is None and "left out" in p.info["rollout"]["error"]
    assert "left out" in p.info["logit_lens"]["error"]
    assert p.flow is not None  # flow is bounded by MAX_FLOW_TOKENS instead


def test_flow_only_for_short_inputs(tiny):
    model = tiny("gpt2")
    a = model.analyze(" ".join(["word"] * (MAX_FLOW_TOKENS + 4)), attention="full")
    assert len(a.tokens) > MAX_FLOW_TOKENS
    p = lens_payload(model, a, flow=True)
    assert p.flow is None and str(MAX_FLOW_TOKENS) in p.info["flow"]["error"]
    assert p.rollout is not None and "data" in p.info["logit_lens"]


def test_export_html_carries_the_lenses_or_not(causal):
    model, a = causal
    doc = export_html(model, TEXT)
    info = json.loads(script(doc, "exbert-lenses"))
    assert info["key"]["text"] == TEXT and "data" in info["logit_lens"]
    want = lens_payload(model, a)
    got = base64.b64decode("".join(script(doc, "exbert-lens-rollout").split()))
    assert got == want.rollout
    assert info["flow"] == {"error": FLOW_LEFT_OUT} and "exbert-lens-flow" not in doc
    bare = export_html(model, TEXT, lenses=False)
    assert script(bare, "exbert-lenses") is None and "exbert-lens-rollout" not in bare
    assert len(bare) < len(doc)


def test_cli_export_no_lenses(tiny_dir, tmp_path):
    folder = str(tiny_dir("llama"))
    with_lenses, without = tmp_path / "a.html", tmp_path / "b.html"
    assert main(["export", TEXT, "--model", folder, "--out", str(with_lenses)]) == 0
    assert main(["export", TEXT, "--model", folder, "--no-lenses", "--out", str(without)]) == 0
    assert 'id="exbert-lenses"' in with_lenses.read_text()
    assert 'id="exbert-lenses"' not in without.read_text()
