"""The notebook widget's lenses from the Python side, on the shipped models: nothing is computed
with an analysis; the view's question (a custom message ``{"type": "lens", "id", "part"}``)
makes the kernel compute that part of the current analysis once and answer with it (JSON, the
rollout's frame as a buffer) and the analysis it is for; a new analysis (a mask, the induction
probe) drops them; ``lenses=False`` leaves them out.

The view's side (the lens panels asking the kernel in a real JupyterLab) is in
tests/e2e/test_jupyterlab_lenses.py; the browser's handling of answers in
frontend/test/hosts/widgetLenses.test.ts."""

from __future__ import annotations

import importlib
import json
from typing import Any

import numpy as np
import pytest

import exbert
from exbert.analysis.detectors import head_scores
from exbert.analysis.frame import decode_array
from exbert.analysis.rollout import rollout
from exbert.export.lenses import FLOW_LEFT_OUT, NO_MODEL

pytestmark = pytest.mark.integration

TEXT = "The cat sat on the mat because it was tired."


class Calls:
    """Counts the calls of the library's lens functions (calling through to them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, model: Any) -> None:
        self.n = {"logit_lens": 0, "head_scores": 0, "rollout": 0}
        # (exbert.analysis.rollout is also the function's name: the modules by their path)
        for name, path in (("head_scores", "detectors"), ("rollout", "rollout")):
            owner = importlib.import_module(f"exbert.analysis.{path}")
            monkeypatch.setattr(owner, name, self._counted(name, getattr(owner, name)))
        if model is not None:
            monkeypatch.setattr(model, "logit_lens", self._counted("logit_lens",
                                                                     model.logit_lens))

    def _counted(self, name: str, f: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n[name] += 1
            return f(*args, **kwargs)

        return counted


def ask(w, part: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    """Send the view's question for ``part``; the kernel's answer and its buffers."""
    sent: list[tuple[Any, Any]] = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append((content, buffers)))
    w._on_custom(w, {"type": "lens", "id": f"view-{part}", "part": part}, [])
    assert len(sent) == 1
    content, buffers = sent[0]
    json.dumps(content, allow_nan=False)  # what the comm sends
    assert content["type"] == "lens" and content["id"] == f"view-{part}"
    assert content["part"] == part
    return content, list(buffers or [])


def scores_of(result: dict[str, Any], name: str) -> np.ndarray:
    rows = result["data"]["scores"][name]
    return np.array([[np.nan if v is None else v for v in row] for row in rows])


def test_smollm2_widget_computes_its_lenses_when_asked(smollm2_model, monkeypatch):
    calls = Calls(monkeypatch, smollm2_model)
    w = exbert.show(smollm2_model, TEXT)
    a = w.analysis
    t = len(a.tokens)
    assert w.lenses is True and "lenses" in w.get_state()
    assert calls.n == {"logit_lens": 0, "head_scores": 0, "rollout": 0}
    assert w.lens_parts.computed == ()

    answer, buffers = ask(w, "logit_lens", monkeypatch)
    assert answer["key"] == {"text": TEXT, "text_b": None, "mask": [], "n_tokens": t}
    assert buffers == []
    lens = answer["result"]["data"]
    assert lens == smollm2_model.logit_lens(a).to_dict()  # the library's numbers
    assert len(lens["top"]) == a.n_layers + 1
    assert [c[0]["token"] for c in lens["top"][-1]] == [p[0].token for p in a.predictions]
    assert calls.n == {"logit_lens": 2, "head_scores": 0, "rollout": 0}  # (one is ours)
    ask(w, "logit_lens", monkeypatch)  # asked again: remembered
    assert calls.n["logit_lens"] == 2

    answer, _ = ask(w, "head_scores", monkeypatch)
    np.testing.assert_allclose(scores_of(answer["result"], "previous_token"),
                               head_scores(a)["previous_token"], atol=1e-4)
    answer, buffers = ask(w, "rollout", monkeypatch)
    assert answer["result"] == {"layers": list(range(a.n_layers)), "residual": 0.5}
    header, r = decode_array(bytes(buffers[0]))
    assert header["layers"] == list(range(a.n_layers))
    np.testing.assert_allclose(r.astype(np.float32), rollout(a), atol=2e-3)
    assert ask(w, "flow", monkeypatch)[0]["result"] == {"error": FLOW_LEFT_OUT}
    ask(w, "rollout", monkeypatch)
    ask(w, "head_scores", monkeypatch)
    # each computed once for the widget (the test's own head_scores and rollout, imported
    # before counting, are not counted)
    assert calls.n == {"logit_lens": 2, "head_scores": 1, "rollout": 1}
    assert w.lens_parts.computed == ("logit_lens", "head_scores", "rollout", "flow")


def test_minilm_widget_lenses_follow_the_mask(minilm_model, monkeypatch):
    calls = Calls(monkeypatch, minilm_model)
    w = exbert.show(minilm_model, TEXT)
    assert "head" in ask(w, "logit_lens", monkeypatch)[0]["result"]["error"].lower()
    _, before = ask(w, "rollout", monkeypatch)
    w.mask = [3]  # a new analysis: nothing computed for it until asked
    assert w.lens_parts.computed == () and calls.n["rollout"] == 1
    answer, after = ask(w, "rollout", monkeypatch)
    assert answer["key"]["mask"] == [3]
    assert bytes(after[0]) != bytes(before[0])
    _, r = decode_array(bytes(after[0]))
    np.testing.assert_allclose(r.astype(np.float32), rollout(w.analysis), atol=2e-3)


def test_lenses_can_be_left_out_or_lack_the_model(minilm_model, monkeypatch):
    w = exbert.show(minilm_model, TEXT, lenses=False)
    assert w.lenses is False and w.lens_parts is None
    w.mask = [2]  # a new analysis still has none
    assert w.lens_parts is None
    answer, _ = ask(w, "head_scores", monkeypatch)
    assert answer["key"] is None and "lenses=False" in answer["result"]["error"]
    fixed = exbert.show(minilm_model.analyze(TEXT, attention="full"))
    assert ask(fixed, "logit_lens", monkeypatch)[0]["result"] == {"error": NO_MODEL}
    assert "data" in ask(fixed, "head_scores", monkeypatch)[0]["result"]
    assert ask(fixed, "rollout", monkeypatch)[1]
    assert "unknown lens part" in ask(fixed, "nope", monkeypatch)[0]["result"]["error"]


def test_the_view_runs_the_induction_probe(smollm2_model, monkeypatch):
    w = exbert.show(smollm2_model, TEXT)
    w._on_custom(w, {"type": "induction_probe"}, [])  # the view's "Run induction probe"
    assert w.error == ""
    assert w.text != TEXT and w.lens_parts.computed == ()
    answer, _ = ask(w, "head_scores", monkeypatch)
    assert answer["key"]["text"] == w.text
    ind = scores_of(answer["result"], "induction")
    # the probe repeats its tokens: induction applies, and some head follows it strongly
    assert np.isfinite(ind).all() and ind.max() > 0.3
