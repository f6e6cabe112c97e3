"""Run a model on a text: tokens, attentions, hidden states, per-head contexts, predictions."""

from exbert.analysis.run import analyze, analyze_batch
from exbert.analysis.types import Analysis, Prediction, Token

__all__ = ["Analysis", "Prediction", "Token", "analyze", "analyze_batch"]
