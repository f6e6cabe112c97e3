"""The logit lens: what each layer already predicts (issue 14). CONTRACT STUB, to be built.

``logit_lens(model, analysis, top_k)`` applies the model's own final normalisation and output
head (the masked-LM head's transform + decoder for masked LMs) to every hidden state
``hidden_states[0..L]`` of ``analysis`` and keeps only the top-k per layer and token, computed in
chunks (never [layers, T, vocab]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.analysis.types import Analysis, ModelHandle, Prediction, Token
from exbert.view import DEFAULT_LENS_TOP_K

if TYPE_CHECKING:
    pass


@dataclass
class LogitLens:
    """A layers x tokens grid of predictions.

    - ``top[l][i]``: the top-k :class:`Prediction` (token, prob, token_id) of hidden state ``l``
      at token ``positions[i]``; ``l = 0`` is the embeddings, ``l = L`` the model's own output
      (equal to the analysis' predictions).
    - ``target_ids`` / ``target_tokens`` [P]: the token the last layer ranks first, per position.
    - ``target_prob`` float32 [L+1, P]: that token's probability at each layer.
    - ``target_rank`` int32 [L+1, P]: its rank at each layer (0 = first).
    - ``positions``: the token positions covered (all tokens of a full analysis; the kept
      positions of a lazy one).
    - ``lens``: ``"logit"`` (the model's own head) or ``"tuned"`` (a fitted per-layer lens).
    """

    model: str
    tokens: list[Token]
    positions: tuple[int, ...]
    top: list[list[list[Prediction]]]
    target_ids: list[int]
    target_tokens: list[str]
    target_prob: np.ndarray
    target_rank: np.ndarray
    lens: str = "logit"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        """Rows of the grid: L + 1 (embeddings, then each layer's output)."""
        return len(self.top)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the server's and the exports' shape)."""
        raise NotImplementedError


def logit_lens(model: ModelHandle, analysis: Analysis, top_k: int = DEFAULT_LENS_TOP_K
               ) -> LogitLens:
    """The logit lens of ``analysis`` (see the module docstring). Raises
    :class:`~exbert.errors.NoOutputHead` for a model without an output head."""
    raise NotImplementedError
