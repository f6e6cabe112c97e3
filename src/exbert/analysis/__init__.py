"""Run a model on a text: tokens, attentions, hidden states, per-head contexts, predictions;
and the lenses on an analysis: logit lens, rollout and flow, head detectors."""

from exbert.analysis.detectors import DETECTORS, head_scores
from exbert.analysis.lens import LogitLens, logit_lens
from exbert.analysis.probe import induction_probe
from exbert.analysis.rollout import attention_flow, rollout
from exbert.analysis.run import analyze, analyze_batch
from exbert.analysis.types import Analysis, Prediction, Token

__all__ = ["DETECTORS", "Analysis", "LogitLens", "Prediction", "Token", "analyze",
           "analyze_batch", "attention_flow", "head_scores", "induction_probe", "logit_lens",
           "rollout"]
