"""One forward batch's tensors reduced to what a corpus stores: the 8-bit codes of the hidden
states and per-head contexts (:mod:`exbert.corpus.vectors`), the attention argmaxes and their
weights, and each token's spaCy word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exbert.corpus import annotate as ann
from exbert.corpus import vectors as vec

if TYPE_CHECKING:
    import numpy as np
    import torch

    from exbert.analysis.run import BatchOutputs, Encoded
    from exbert.corpus.layout import Plan


@dataclass
class BatchResult:
    """One forward batch, reduced to what is stored. Per sentence (batch order): its shard
    position ``orders``, encoding and token -> word alignment ``word_of`` (int [T], -1: no
    word); per stored layer, the rows of all its N real tokens (batch order): ``emb`` /
    ``ctx`` codes [N, D] uint8, attention argmaxes ``attn`` [N, 2H+2] int16 and their weights
    ``attnw`` [N, 2H+2] float16 (see :func:`reduce_batch`)."""

    orders: list[int]
    encs: list[Encoded]
    word_of: list[np.ndarray]
    emb: dict[int, np.ndarray]
    ctx: dict[int, np.ndarray]
    attn: dict[int, np.ndarray]
    attnw: dict[int, np.ndarray]


def reduce_batch(plan: Plan, orders: list[int], sentences: list[ann.Sentence],
                 encs: list[Encoded], out: BatchOutputs) -> BatchResult:
    """A padded batch's tensors -> codes and attention argmaxes of its real tokens.

    Everything is computed on the batch tensors in torch (no per-sentence float32 copies):
    padded rows are dropped with one gather per layer. Attention argmaxes per head and for
    the mean over heads, outward (the key a query attends to most) and inward (the query
    that attends most to a key), among the sentence's non-special tokens: special and padded
    rows and columns are zeroed first, so most heads' parking on [CLS]/[SEP] does not hide
    what they attend to next. Special tokens themselves (all zero) get -1."""
    import torch

    b, t = out.hidden[0].shape[:2]
    device = out.hidden[0].device
    lengths = torch.tensor([len(e.input_ids) for e in encs], device=device)
    valid = torch.arange(t, device=device)[None, :] < lengths[:, None]  # [B, T]
    rows = valid.reshape(-1).nonzero().squeeze(1)  # real tokens, batch order
    special = torch.zeros((b, t), dtype=torch.bool)
    for i, e in enumerate(encs):
        special[i, : len(e.tokens)] = torch.tensor([tk.special for tk in e.tokens])
    excluded = (special.to(device) | ~valid)[:, None]  # [B, 1, T]
    excluded = excluded[..., None] | excluded[..., None, :]  # [B, 1, T, T]: row or column

    def real(x: torch.Tensor) -> torch.Tensor:  # [B, T, ...] -> [N, ...]
        return x.reshape(b * t, *x.shape[2:]).index_select(0, rows)

    emb: dict[int, np.ndarray] = {}
    ctx: dict[int, np.ndarray] = {}
    attn: dict[int, np.ndarray] = {}
    attnw: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for layer in plan.layers:
            emb[layer] = vec.encode_tensor(real(out.hidden[layer]), plan.rot_emb, plan.step_emb)
        for layer in plan.ctx_layers:
            ctx[layer] = vec.encode_tensor(real(out.contexts[layer - 1]), plan.rot_ctx,
                                           plan.step_ctx, heads=plan.n_heads)
            att = out.attentions[layer - 1].masked_fill_(excluded, 0)  # [B, H, T, T]
            mean = att.mean(dim=1, keepdim=True)  # [B, 1, T, T]
            parts = [att.max(dim=-1), att.max(dim=-2), mean.max(dim=-1), mean.max(dim=-2)]
            w = torch.cat([p.values for p in parts], dim=1)  # [B, 2H+2, T]
            idx = torch.cat([p.indices for p in parts], dim=1).masked_fill_(w == 0, -1)
            attn[layer] = real(idx.transpose(1, 2)).to("cpu", torch.int16).numpy()
            attnw[layer] = real(w.transpose(1, 2)).to("cpu", torch.float16).numpy()
    word_of = [
        ann.align([(tk.start, tk.end) for tk in e.tokens], [tk.special for tk in e.tokens],
                  s.starts, s.ends, len(s.text))
        for s, e in zip(sentences, encs, strict=True)
    ]
    return BatchResult(orders, encs, word_of, emb, ctx, attn, attnw)
