"""Masking, the frozen encoder's states at masked positions, and held-out accuracy, for the
fitted masked-LM head (:mod:`exbert.models.mlm_fit`).

A *window* is a list of word-piece ids without special tokens; each becomes
``[CLS] window [SEP]``. Every function is seeded and deterministic. Heavy imports inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class _Masking(Protocol):  # what encode_masked reads of mlm_fit.FitOptions
    @property
    def seed(self) -> int: ...
    @property
    def mask_rate(self) -> float: ...
    @property
    def encode_batch(self) -> int: ...
    @property
    def mask_share(self) -> float: ...
    @property
    def random_share(self) -> float: ...


@dataclass(frozen=True)
class Accuracy:
    """Top-1 / top-5 accuracy over ``n`` masked word pieces."""

    top1: float
    top5: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"top1": round(self.top1, 4), "top5": round(self.top5, 4), "n": self.n}


def _ids(tokenizer: Any, windows: list[list[int]]) -> torch.Tensor:
    import torch

    body = torch.tensor(windows, dtype=torch.long)
    cls = torch.full((len(windows), 1), int(tokenizer.cls_token_id), dtype=torch.long)
    sep = torch.full((len(windows), 1), int(tokenizer.sep_token_id), dtype=torch.long)
    return torch.cat([cls, body, sep], dim=1)


def mask_batch(ids: torch.Tensor, tokenizer: Any, rate: float, gen: torch.Generator,
               *, mask_share: float = 0.8, random_share: float = 0.1,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, chosen)``: ``rate`` of the non-special positions of ``ids`` [B, T] chosen
    (at least one per row); of the chosen, ``mask_share`` become ``[MASK]``, ``random_share``
    a random non-special token, the rest stay (BERT: 0.8 / 0.1 / 0.1)."""
    import torch

    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    chosen = (torch.rand(ids.shape, generator=gen) < rate) & ~special
    none = ~chosen.any(dim=1)
    if none.any():  # at least one per row: its first real token
        chosen[none, 1] = True
    inputs = ids.clone()
    r = torch.rand(ids.shape, generator=gen)
    inputs[chosen & (r < mask_share)] = int(tokenizer.mask_token_id)
    randomised = chosen & (r >= mask_share) & (r < mask_share + random_share)
    allowed = _normal_ids(tokenizer)
    picks = torch.randint(len(allowed), ids.shape, generator=gen)
    inputs[randomised] = allowed[picks[randomised]]
    return inputs, chosen


def _normal_ids(tokenizer: Any) -> torch.Tensor:
    import torch

    special = set(tokenizer.all_special_ids)
    return torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)


def encode_masked(encoder: Any, tokenizer: Any, windows: list[list[int]], options: _Masking,
                  progress: Callable[[str], None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the frozen ``encoder`` (a ``BertModel``) once over the masked windows:
    ``(states [N, D], labels [N])`` at the chosen positions."""
    import torch

    gen = torch.Generator().manual_seed(options.seed)
    states, labels = [], []
    step = options.encode_batch
    report = max(1, len(windows) // step // 4)
    encoder.eval()
    for b, start in enumerate(range(0, len(windows), step)):
        ids = _ids(tokenizer, windows[start:start + step])
        inputs, chosen = mask_batch(ids, tokenizer, options.mask_rate, gen,
                                    mask_share=options.mask_share,
                                    random_share=options.random_share)
        with torch.no_grad():
            hidden = encoder(input_ids=inputs, attention_mask=torch.ones_like(inputs))
        states.append(hidden.last_hidden_state[chosen].clone())
        labels.append(ids[chosen])
        if (b + 1) % report == 0:
            done = min(start + step, len(windows))
            progress(f"encoded {done}/{len(windows)} windows (frozen encoder)")
    return torch.cat(states), torch.cat(labels)


def unigram_counts(windows: list[list[int]], vocab_size: int) -> torch.Tensor:
    """How often each token id occurs in ``windows`` (int64 [vocab_size])."""
    import torch

    flat = torch.tensor([i for w in windows for i in w], dtype=torch.long)
    return torch.bincount(flat, minlength=vocab_size)


def masked_accuracy(model: Any, tokenizer: Any, windows: list[list[int]], *, rate: float = 0.15,
                    seed: int = 1234, batch: int = 16) -> tuple[Accuracy, torch.Tensor]:
    """Top-1/top-5 accuracy of a ``BertForMaskedLM`` at ``rate`` of the word pieces of
    ``windows``, each replaced by ``[MASK]`` (the cloze a user makes); also the labels."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    hits1 = hits5 = 0
    labels = []
    model.eval()
    for start in range(0, len(windows), batch):
        ids = _ids(tokenizer, windows[start:start + batch])
        inputs, chosen = mask_batch(ids, tokenizer, rate, gen, mask_share=1.0)
        with torch.no_grad():
            hidden = model.bert(input_ids=inputs, attention_mask=torch.ones_like(inputs))
            top = model.cls(hidden.last_hidden_state[chosen]).topk(5, dim=-1).indices
        gold = ids[chosen]
        hits1 += int((top[:, 0] == gold).sum())
        hits5 += int((top == gold[:, None]).any(dim=1).sum())
        labels.append(gold)
    gold_all = torch.cat(labels)
    n = len(gold_all)
    return Accuracy(hits1 / max(n, 1), hits5 / max(n, 1), n), gold_all


def unigram_accuracy(counts: torch.Tensor, labels: torch.Tensor) -> Accuracy:
    """The baseline: always predict the 5 most frequent tokens of the fitting text."""
    top = counts.topk(5).indices
    n = len(labels)
    top1 = int((labels == top[0]).sum()) / max(n, 1)
    top5 = int((labels[:, None] == top[None, :]).any(dim=1).sum()) / max(n, 1)
    return Accuracy(top1, top5, n)


__all__ = ["Accuracy", "encode_masked", "mask_batch", "masked_accuracy", "unigram_accuracy",
           "unigram_counts"]
