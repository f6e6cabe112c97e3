"""The logit lens: what each layer already predicts (issue 14).

``logit_lens(model, analysis, top_k)`` applies the model's own final normalisation and output
head (the masked-LM head's transform + decoder for masked LMs; :mod:`exbert.analysis.lens_head`
says what that is per family, and where transformers already normalised) to every hidden state
``hidden_states[0..L]`` of ``analysis`` and keeps only the top-k per layer and token, plus the
probability and rank at every layer of the token the last layer ranks first. Layer L is the
model's own prediction (the same numbers as ``analysis.predictions``).

How (bounded memory at any length): the (layer, position) rows are projected in chunks of at
most ``_CHUNK_BYTES`` of float32 logits (one GEMM over rows of several layers, up to
``_MAX_ROWS``), then per row a top-16 (unsorted, then those 16 sorted), the target's rank
(read in the top-16 when the target is there: every larger logit is too; else one comparison
pass over that row), and the log-normaliser from the top-1 as the shift (``exp`` in place,
clamped at e^-87 to stay clear of subnormals: no softmax array). Never [layers, T, vocab]: the
peak is one chunk's logits plus its boolean comparison, independent of T. Layer L's rows go
first (their top-1 is every other row's target). A lazy analysis covers its kept positions
(``analysis.positions``), a full one every token. ``notes`` says which head ran and whether
layer L's top-1 equals ``analysis.predictions``' (it should: a check that the head is right).

Cost: the projection is (L+1) x T rows times the [V, D] head, ~(L+1) times the LM head of one
forward: SmolLM2 (31 hidden states, V=49152) 6.4x a whole forward's FLOPs, Gemma 3 (19, V=262144)
~12x. It is GEMM-bound (the rest adds ~30% to the matmuls on one core);
benchmarks/bench_lens.py measures it.

Other lenses reuse the machinery: :func:`lens_from_hidden` takes ``translate(index, rows) ->
rows``, called on each chunk's float32 torch rows [R, D] of hidden state ``index`` (0 = the
embeddings .. L) *before* the head's own preparation (final norm / masked-LM transform), on the
model's device. A tuned lens (a fitted per-layer affine translator, Belrose et al. 2023) is
``lens_from_hidden(model, analysis, top_k, translate=lambda i, h: h @ A[i].T + b[i],
lens="tuned")``. Note that for causal LMs ``hidden_states[L]`` is already after the final norm
(transformers returns it so), so ``translate`` sees the normalised state at index L; a tuned
lens leaves index L as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from exbert.analysis.lens_head import OutputHead, resolve_head
from exbert.analysis.predict import check_top_k
from exbert.analysis.types import Analysis, ModelHandle, Prediction, Token
from exbert.errors import InvalidRequest
from exbert.view import DEFAULT_LENS_TOP_K

if TYPE_CHECKING:
    import torch

    Translate = Callable[[int, torch.Tensor], torch.Tensor]

_CHUNK_BYTES = 64 * 1024 * 1024  # float32 logits of one chunk: [R, V] (Gemma 3: 64 rows)
_MAX_ROWS = 128  # past this the GEMM gains nothing (SmolLM2: 67 GFLOP/s a core at 128 rows)
_MIN_ROWS = 8
_RANK_K = 16  # top-k taken for ranks (the target's rank is read there when it is in it)
_EXP_FLOOR = -87.0  # e^-87 is just above float32's smallest normal number


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
    - ``top_k``: predictions kept per cell (the vocabulary size when that is smaller).
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
    top_k: int = DEFAULT_LENS_TOP_K

    @property
    def n_layers(self) -> int:
        """Rows of the grid: L + 1 (embeddings, then each layer's output)."""
        return len(self.top)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the server's and the exports' shape: TS ``LogitLensData``)."""
        return {
            "model": self.model,
            "lens": self.lens,
            "top_k": self.top_k,
            "positions": list(self.positions),
            "top": [[[dict(vars(p)) for p in cell] for cell in row] for row in self.top],
            "target_ids": list(self.target_ids),
            "target_tokens": list(self.target_tokens),
            "target_prob": self.target_prob.tolist(),
            "target_rank": self.target_rank.tolist(),
        }


def logit_lens(model: ModelHandle, analysis: Analysis, top_k: int = DEFAULT_LENS_TOP_K
               ) -> LogitLens:
    """The logit lens of ``analysis`` (see the module docstring). Raises
    :class:`~exbert.errors.NoOutputHead` for a model without an output head."""
    return lens_from_hidden(model, analysis, top_k)


def lens_from_hidden(model: ModelHandle, analysis: Analysis, top_k: int = DEFAULT_LENS_TOP_K,
                     translate: Translate | None = None, *, lens: str = "logit") -> LogitLens:
    """The model's output head applied to every hidden state of ``analysis``, each first passed
    through ``translate(index, rows)`` when given (see the module docstring)."""
    check_top_k(top_k)
    head = resolve_head(model)
    if translate is None and analysis.hidden_states.shape[-1] != model.info.hidden_size:
        # (another model's analysis is fine when its hidden states fit: a fitted head on a
        # frozen encoder reads the encoder's own analysis)
        raise InvalidRequest(
            f"the analysis of {analysis.model} has hidden states of width "
            f"{analysis.hidden_states.shape[-1]}, and {model.info.name}'s head reads "
            f"{model.info.hidden_size}", model=model.info.name)
    positions = (tuple(analysis.positions) if analysis.positions is not None
                 else tuple(range(analysis.n_tokens)))
    hidden = analysis.hidden_states
    if hidden.shape[1] != len(positions):
        raise InvalidRequest(f"the analysis keeps {hidden.shape[1]} hidden states per layer "
                             f"for {len(positions)} positions")
    k = min(top_k, head.vocab_size)
    with model.lock:
        grid = _project(head, hidden, max(k, 1), translate)
        ids = np.unique(np.concatenate([grid.ids[:, :, :k].ravel(), grid.ids[-1, :, 0]]))
        texts = dict(zip(ids.tolist(), model.tokenizer.batch_decode([[int(i)] for i in ids]),
                         strict=True))
    top = [[[Prediction(texts[i], p, i) for i, p in zip(row_i, row_p, strict=True)]
            for row_i, row_p in zip(layer_i, layer_p, strict=True)]
           for layer_i, layer_p in zip(grid.ids[:, :, :k].tolist(),
                                       grid.probs[:, :, :k].tolist(), strict=True)]
    targets = grid.ids[-1, :, 0].tolist() if len(positions) else []
    notes: dict[str, Any] = {"head": head.description}
    if analysis.predictions is not None and len(positions):
        own = [analysis.predictions[p][0].token_id if analysis.predictions[p] else -1
               for p in positions]
        notes["last_layer_matches_predictions"] = own == targets
    return LogitLens(
        model=model.info.name, tokens=analysis.tokens, positions=positions, top=top,
        target_ids=targets, target_tokens=[texts[i] for i in targets],
        target_prob=grid.target_prob, target_rank=grid.target_rank, lens=lens, notes=notes,
        top_k=k,
    )


@dataclass
class _Grid:
    ids: np.ndarray  # int64 [S, P, k]
    probs: np.ndarray  # float32 [S, P, k]
    target_prob: np.ndarray  # float32 [S, P]
    target_rank: np.ndarray  # int32 [S, P]


def _chunk_rows(vocab: int) -> int:
    return max(_MIN_ROWS, min(_MAX_ROWS, _CHUNK_BYTES // (4 * vocab)))


def _spans(layers: Sequence[int], n: int, rows: int) -> list[list[tuple[int, int, int]]]:
    """(layer, p0, p1) segments of ``layers`` x ``n`` positions, layer-major, cut into chunks
    of at most ``rows`` rows."""
    chunks: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    free = rows
    for layer in layers:
        p = 0
        while p < n:
            take = min(free, n - p)
            current.append((layer, p, p + take))
            p, free = p + take, free - take
            if free == 0:
                chunks.append(current)
                current, free = [], rows
    if current:
        chunks.append(current)
    return chunks


def _project(head: OutputHead, hidden: np.ndarray, k: int, translate: Translate | None) -> _Grid:
    import torch

    n_states, n = hidden.shape[:2]
    grid = _Grid(np.zeros((n_states, n, k), np.int64), np.zeros((n_states, n, k), np.float32),
                 np.zeros((n_states, n), np.float32), np.zeros((n_states, n), np.int32))
    if n == 0:
        return grid
    rows = _chunk_rows(head.vocab_size)
    last = n_states - 1
    targets: torch.Tensor | None = None
    with torch.inference_mode():
        # the last layer first: its top-1 is every row's target
        for layers in ([last], list(range(last))):
            for chunk in _spans(layers, n, rows):
                parts = []
                for layer, p0, p1 in chunk:
                    # a copy of the chunk's rows (hidden may be a read-only array)
                    x = torch.tensor(hidden[layer, p0:p1], device=head.weight.device)
                    if translate is not None:
                        x = translate(layer, x)
                    parts.append(head.prepare(layer, x.to(head.weight.dtype)))
                want = None if targets is None else torch.cat(
                    [targets[p0:p1] for _, p0, p1 in chunk])
                out = _score(head, torch.cat(parts) if len(parts) > 1 else parts[0], k, want)
                r = 0
                for layer, p0, p1 in chunk:
                    span = slice(r, r + p1 - p0)
                    grid.ids[layer, p0:p1] = out[0][span]
                    grid.probs[layer, p0:p1] = out[1][span]
                    grid.target_prob[layer, p0:p1] = out[2][span]
                    grid.target_rank[layer, p0:p1] = out[3][span]
                    r += p1 - p0
            targets = torch.from_numpy(grid.ids[last, :, 0]).to(head.weight.device)
    return grid


def _score(head: OutputHead, x: torch.Tensor, k: int, targets: torch.Tensor | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k ids and probabilities, the target's probability and rank, for rows ``x`` [R, D]
    (``targets`` None: each row's own top-1)."""
    import torch

    logits = torch.nn.functional.linear(x, head.weight, head.bias)
    if logits.dtype != torch.float32:
        logits = logits.float()
    head.finish(logits)
    # unsorted top-k, then sorting those few: cheaper than a sorted top-k over V
    values, ids = torch.topk(logits, min(max(k, _RANK_K), logits.shape[1]), dim=-1,
                             sorted=False)
    values, order = values.sort(dim=-1, descending=True)
    ids = ids.gather(1, order)
    if targets is None:
        wanted = values[:, :1]
        rank = torch.zeros(len(x), dtype=torch.int32)
    else:
        wanted = logits.gather(1, targets[:, None])
        # every logit above a top-k member is in the top-k: there the rank is a count over
        # the top-k; a full comparison pass only for the rows whose target is further down
        rank = (values > wanted).sum(-1, dtype=torch.int32)
        down = torch.nonzero(~(ids == targets[:, None]).any(-1))[:, 0]
        if len(down) == len(x):
            rank = (logits > wanted).sum(-1, dtype=torch.int32)
        elif len(down):
            rank[down] = (logits[down] > wanted[down]).sum(-1, dtype=torch.int32)
        rank = rank.cpu()
    shift = values[:, :1]
    # exp of the shifted logits in place; clamped first, since exp's results below float32's
    # smallest normal number (subnormals) take a slow path (4x slower end to end), and
    # together they weigh less than V * e^-87 ~ 1e-33
    log_norm = logits.sub_(shift).clamp_(min=_EXP_FLOOR).exp_().sum(-1, keepdim=True)
    log_norm = log_norm.log_().add_(shift)
    probs = (values[:, :k] - log_norm).exp_()
    target_prob = (wanted - log_norm).exp_()[:, 0]
    return (ids[:, :k].cpu().numpy(), probs.cpu().numpy(), target_prob.cpu().numpy(),
            rank.numpy())
