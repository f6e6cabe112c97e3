"""One forward pass, turned into an :class:`Analysis`.

Flow: :func:`encode` (text -> token ids and offsets, checks limits) -> :func:`forward_batch`
(padded batch -> attentions, hidden states, contexts, logits as tensors) -> :func:`_collect`
(tensors of one sequence -> numpy arrays and predictions). The corpus build uses the first two
stages directly (:func:`encode_texts`, :func:`forward_batch`) and reduces the tensors itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from exbert.analysis.hooks import record_contexts
from exbert.analysis.types import Analysis, Prediction, Token
from exbert.errors import (
    EmptyText,
    ExbertError,
    InvalidInput,
    InvalidMask,
    MaskNotSupported,
    ModelLoadError,
    TextTooLong,
)

if TYPE_CHECKING:
    import torch

    from exbert.models import Model

PAIR_SEPARATOR = "\n"  # joins the two texts of a pair for autoregressive models
MAX_TOP_K = 100


@dataclass(frozen=True)
class Encoded:
    """Token ids of one input with their :class:`Token` descriptions (same length)."""

    input_ids: list[int]
    tokens: list[Token]
    token_type_ids: list[int] | None


def check_text(text: str, what: str = "text") -> None:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be a string")
    if not text.strip():
        raise EmptyText(f"{what} is empty; type a sentence to analyse", field=what)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{what} is not valid unicode (lone surrogate at character {exc.start})",
            field=what,
            position=exc.start,
        ) from exc


def encode(model: Model, text: str, text_b: str | None = None) -> Encoded:
    """Tokenise ``text`` (and ``text_b``) with character offsets; raise if too long.

    Bidirectional models use the tokenizer's own pair encoding (segments from it); causal
    models get ``text + "\\n" + text_b``, encoded per segment so offsets stay per text.
    """
    check_text(text)
    if text_b is not None:
        check_text(text_b, "text_b")
    tok = model.tokenizer
    if text_b is None or model.info.kind == "bidirectional":
        enc = tok([text], None if text_b is None else [text_b], **_ENCODE_OPTIONS)
        return _encoded(model, enc, 0, text, text_b)
    a = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    sep = tok(PAIR_SEPARATOR, add_special_tokens=False)["input_ids"]
    b = tok(text_b, add_special_tokens=False, return_offsets_mapping=True)
    n = len(a["input_ids"]) + len(sep) + len(b["input_ids"])
    _check_length(model, n)
    ids = list(a["input_ids"]) + list(sep) + list(b["input_ids"])
    offsets = (
        list(a["offset_mapping"]) + [(len(text), len(text))] * len(sep) + list(b["offset_mapping"])
    )
    special = list(a["special_tokens_mask"]) + [1] * len(sep) + [0] * len(b["input_ids"])
    segments = [0] * (len(a["input_ids"]) + len(sep)) + [1] * len(b["input_ids"])
    tokens = _tokens(tok, ids, offsets, special, segments, texts=(text, text_b))
    _check_content(tokens, pair=True)
    return Encoded(ids, tokens, None)


_ENCODE_OPTIONS = {
    "return_offsets_mapping": True,
    "return_special_tokens_mask": True,
    "return_token_type_ids": True,
}


def _encoded(model: Model, enc: Any, row: int, text: str, text_b: str | None) -> Encoded:
    """Row ``row`` of a tokenizer output (one text or the tokenizer's own pair encoding)."""
    ids = enc["input_ids"][row]
    _check_length(model, len(ids))
    type_ids = enc["token_type_ids"][row] if "token_type_ids" in enc else None
    segments = _segments(enc.sequence_ids(row), type_ids)
    tokens = _tokens(
        model.tokenizer, ids, enc["offset_mapping"][row], enc["special_tokens_mask"][row],
        segments, texts=(text, text_b or ""),
    )
    _check_content(tokens, text_b is not None)
    return Encoded(list(ids), tokens, _model_type_ids(model, type_ids))


def encode_texts(model: Model, texts: Sequence[str]) -> list[Encoded | ExbertError]:
    """Single texts tokenised in one batched tokenizer call: per text, what :func:`encode`
    returns or the error it raises (not text, empty, too long, nothing left to analyse)."""
    out: list[Encoded | ExbertError | None] = [None] * len(texts)
    valid: list[int] = []
    for i, text in enumerate(texts):
        try:
            check_text(text)
            valid.append(i)
        except ExbertError as exc:
            out[i] = exc
    if valid:
        enc = model.tokenizer([texts[i] for i in valid], **_ENCODE_OPTIONS)
        for row, i in enumerate(valid):
            try:
                out[i] = _encoded(model, enc, row, texts[i], None)
            except ExbertError as exc:
                out[i] = exc
    return [e for e in out if e is not None]


def _check_content(tokens: Sequence[Token], pair: bool) -> None:
    """Each text must leave at least one real token (BERT drops control and zero-width
    characters: such a text would be analysed as ``[CLS] [SEP]`` alone)."""
    for seg, what in ((0, "text"), (1, "text_b"))[: 2 if pair else 1]:
        if not any(t.segment == seg and not t.special for t in tokens):
            raise EmptyText(
                f"{what} has no characters the tokenizer keeps (only control, zero-width or "
                "unknown characters); type a sentence to analyse",
                field=what,
            )


def _check_length(model: Model, n: int) -> None:
    info = model.info
    if n > info.max_tokens:
        if info.max_tokens < info.max_positions:
            how = (
                f"raise the cap with max_tokens= in exbert.load() or --max-tokens "
                f"(up to the model's {info.max_positions} positions; memory grows as T^2)"
            )
        else:
            how = "shorten the text: this is the model's maximum"
        raise TextTooLong(
            f"the text has {n} tokens; {info.name} accepts at most {info.max_tokens}; {how}",
            tokens=n,
            limit=info.max_tokens,
        )


def _segments(seq_ids: list[int | None], type_ids: list[int] | None) -> list[int]:
    if type_ids is not None and any(type_ids):
        return [int(t) for t in type_ids]
    out, current = [], 0
    for s in seq_ids:
        current = s if s is not None else current
        out.append(current)
    return out


def _tokens(
    tok: Any,
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    special_mask: Sequence[int],
    segments: Sequence[int],
    *,
    texts: tuple[str, str],
) -> list[Token]:
    pieces = tok.convert_ids_to_tokens(list(ids))
    out: list[Token] = []
    last_start, last_end = [0, 0], [0, 0]  # per segment: starts never go backwards
    for piece, (raw_start, raw_end), special, seg in zip(
        pieces, offsets, special_mask, segments, strict=True
    ):
        source = texts[seg]
        if raw_start == raw_end and special:  # added by the tokenizer ([CLS], <s>, separator)
            last_start[seg] = last_end[seg]
            out.append(Token(str(piece), last_end[seg], last_end[seg], True, seg))
            continue
        start = min(max(raw_start, last_start[seg]), len(source))
        end = min(max(raw_end, start), len(source))
        last_start[seg], last_end[seg] = start, max(end, last_end[seg])
        shown = str(piece) if special else source[start:end]
        out.append(Token(shown, start, end, bool(special), seg))
    return out


def _forward_params(module: Any) -> frozenset[str]:
    cls = type(module)
    if cls not in _FORWARD_PARAMS:
        _FORWARD_PARAMS[cls] = frozenset(inspect.signature(cls.forward).parameters)
    return _FORWARD_PARAMS[cls]


_FORWARD_PARAMS: dict[type, frozenset[str]] = {}


def _model_type_ids(model: Model, type_ids: Sequence[int] | None) -> list[int] | None:
    """The token type ids to feed the model, or None when it should get none.

    Only when the tokenizer itself feeds them to its model (``model_input_names``): GPT-2's
    forward accepts ``token_type_ids`` but looks them up in the *word* embeddings, so zeros
    there are not a no-op. A model with a single token type (RoBERTa: ``type_vocab_size=1``)
    gets none even when its tokenizer makes pair type ids: 1 would index past its embeddings.
    """
    if type_ids is None or "token_type_ids" not in _forward_params(model.module):
        return None
    if "token_type_ids" not in getattr(model.tokenizer, "model_input_names", ()):
        return None
    n_types = int(getattr(model.module.config, "type_vocab_size", 0) or 0)
    if n_types and max(type_ids, default=0) >= n_types:
        return None
    return [int(t) for t in type_ids]


def _mask_positions(mask: Sequence[int]) -> list[int]:
    """The mask positions as plain ints (any sequence or 1-d array of integers)."""
    try:
        items = list(mask)
    except TypeError:
        raise InvalidMask(f"mask must be a list of token indices, not {mask!r}") from None
    for i in items:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise InvalidMask(f"mask positions must be token indices, not {i!r}", position=str(i))
    return [int(i) for i in items]


def _apply_mask(model: Model, enc: Encoded, mask: Sequence[int]) -> Encoded:
    positions = _mask_positions(mask)
    if not positions:
        return enc
    info = model.info
    mask_id = getattr(model.tokenizer, "mask_token_id", None)
    if info.kind != "bidirectional" or mask_id is None:
        raise MaskNotSupported(
            f"{info.name} has no mask token ({info.kind}); masking needs a bidirectional "
            "model such as BERT",
            model=info.name,
        )
    ids, tokens = list(enc.input_ids), list(enc.tokens)
    for i in sorted(set(positions)):
        if not 0 <= i < len(ids):
            raise InvalidMask(
                f"mask position {i} is outside the {len(ids)} tokens", position=i, tokens=len(ids)
            )
        if tokens[i].special:
            raise InvalidMask(f"token {i} ({tokens[i].text}) is special and cannot be masked",
                              position=i)
        ids[i] = int(mask_id)
        tokens[i] = replace(tokens[i], masked=True)
    return Encoded(ids, tokens, enc.token_type_ids)


@dataclass
class BatchOutputs:
    """Batched per-layer tensors, as the model returned them (no copies yet):
    attentions L x [B, H, T, T], hidden L+1 x [B, T, D], contexts L x [B, T, H * dh],
    logits [B, T, V] or None."""

    attentions: tuple[torch.Tensor, ...]
    hidden: tuple[torch.Tensor, ...]
    contexts: list[torch.Tensor]
    logits: torch.Tensor | None


def forward_batch(model: Model, batch: Sequence[Encoded], *,
                  logits: bool = True) -> BatchOutputs:
    """One padded forward pass. Without ``logits`` the language-model head is skipped (the
    base model gives the same attentions, hidden states and contexts for less work)."""
    import torch

    info = model.info
    module = model.module if logits or not info.has_lm_head else model.module.base_model
    width = max(len(e.input_ids) for e in batch)
    pad = model.tokenizer.pad_token_id
    pad = 0 if pad is None else int(pad)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attn_mask = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        attn_mask[row, :n] = 1
        if e.token_type_ids is not None:
            types[row, :n] = torch.tensor(e.token_type_ids)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": attn_mask}
    if batch[0].token_type_ids is not None:
        kwargs["token_type_ids"] = types
    if "use_cache" in _forward_params(module):
        kwargs["use_cache"] = False  # a causal LM's key/value cache serves generation only
    device = model.device
    if device.type != "cpu":
        kwargs = {k: v.to(device) if hasattr(v, "to") else v for k, v in kwargs.items()}
    with model.lock, torch.inference_mode(), record_contexts(model.module, info.heads) as rec:
        out = module(**kwargs, output_attentions=True, output_hidden_states=True)
        contexts = rec.layers(info.layers)
    if not out.attentions or len(out.attentions) != info.layers:
        raise ModelLoadError(
            f"{info.name}: the model returned {len(out.attentions or ())} attention maps for "
            f"{info.layers} layers (attentions need attn_implementation='eager')"
        )
    return BatchOutputs(
        attentions=tuple(out.attentions),
        hidden=tuple(out.hidden_states),
        contexts=contexts,
        logits=out.logits if info.has_lm_head and logits else None,
    )


def _stack(layers: Sequence[torch.Tensor], row: int, shape: tuple[int, ...],
           dtype: Any = np.float32) -> np.ndarray:
    """``layers[i][row]`` cropped to ``shape[1:]``, stacked as one new array of ``dtype``
    (float32, or float16 for the server's attention frames: half the bytes to write, and
    the frame is then a plain copy).

    The result is allocated by numpy, which asks the kernel for huge pages on large arrays:
    filling it is 3-5x faster than a fresh ``torch.stack`` (page faults dominate: the
    attentions of SmolLM2 at T=512 are 283 MB).
    """
    import torch

    crop = tuple(slice(0, d) for d in shape[1:])
    out = np.empty(shape, dtype=dtype)
    for i, layer in enumerate(layers):
        part = layer[row][crop].detach()
        if part.device.type != "cpu":
            part = part.cpu()
        if out.dtype == np.float32 and part.dtype == torch.float32:
            out[i] = part.numpy()
        else:  # torch converts ~40x faster than numpy on subnormal-heavy attention
            torch.from_numpy(out[i]).copy_(part)
    return out


_PREDICTION_CHUNK = 32  # rows of logits per softmax: [32, V] stays in cache (V ~ 50k-260k)


def _predictions(model: Model, logits: torch.Tensor, top_k: int) -> list[list[Prediction]]:
    """Top-k per position of one sequence's logits [T, V], with their softmax probabilities.

    Done in chunks of rows: a fused softmax over a cache-sized block, then a gather of the
    top k, is ~3x faster than ``logsumexp`` over the whole [T, V] (SmolLM2, T=512: ~30 ms
    instead of ~100 ms; its temporaries are 100 MB).
    """
    import torch

    rows = logits.shape[0]
    probs = torch.empty((rows, top_k), dtype=torch.float32)
    indices = torch.empty((rows, top_k), dtype=torch.long)
    for start in range(0, rows, _PREDICTION_CHUNK):
        block = logits[start : start + _PREDICTION_CHUNK]
        top = torch.topk(block, top_k, dim=-1).indices
        indices[start : start + _PREDICTION_CHUNK] = top
        probs[start : start + _PREDICTION_CHUNK] = torch.softmax(
            block, dim=-1, dtype=torch.float32
        ).gather(-1, top)
    unique = sorted(set(indices.flatten().tolist()))
    texts = dict(zip(unique, model.tokenizer.batch_decode([[i] for i in unique]), strict=True))
    return [
        [Prediction(texts[i], q, i) for i, q in zip(row_i, row_p, strict=True)]
        for row_i, row_p in zip(indices.tolist(), probs.tolist(), strict=True)
    ]


def _collect(
    model: Model, out: BatchOutputs, row: int, enc: Encoded, *, text: str, text_b: str | None,
    mask: Sequence[int], top_k: int, attention_dtype: str = "float32",
) -> Analysis:
    n = len(enc.input_ids)
    info = model.info
    # Widths as the tensors have them (heads * head_dim is what the output projection sees).
    width = int(out.contexts[0].shape[-1])
    hidden = int(out.hidden[0].shape[-1])
    heads = int(out.attentions[0].shape[1])
    predictions: list[list[Prediction]] | None = None
    reason: str | None = None
    if out.logits is not None and top_k > 0:
        predictions = _predictions(model, out.logits[row, :n], min(top_k, info.vocab_size))
    elif not info.has_lm_head:
        reason = f"{info.name} has no language-model head, so it makes no predictions"
    else:
        reason = "predictions not requested (top_k=0)"
    return Analysis(
        model=info.name,
        kind=info.kind,
        text=text,
        text_b=text_b,
        mask=tuple(sorted(set(_mask_positions(mask)))),
        tokens=enc.tokens,
        input_ids=enc.input_ids,
        attentions=_stack(out.attentions, row, (info.layers, heads, n, n),
                          np.dtype(attention_dtype)),
        hidden_states=_stack(out.hidden, row, (len(out.hidden), n, hidden)),
        contexts=_stack(out.contexts, row, (info.layers, n, width)).reshape(
            info.layers, n, heads, width // heads
        ),
        predictions=predictions,
        predictions_unavailable=reason,
    )


def _check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise InvalidInput(f"top_k must be an integer, not {top_k!r}", top_k=str(top_k))
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be between 0 and {MAX_TOP_K}", top_k=top_k)


def analyze(
    model: Model,
    text: str,
    *,
    text_b: str | None = None,
    mask: Sequence[int] = (),
    top_k: int = 5,
    attention_dtype: Literal["float32", "float16"] = "float32",
) -> Analysis:
    """Analyse ``text`` (with ``text_b`` as the pair's second sentence), masking the token
    positions in ``mask`` (bidirectional models), with ``top_k`` predictions per token.
    ``attention_dtype="float16"`` stores the attentions at half precision (what the server
    sends; converted once, straight from the model's tensors)."""
    _check_top_k(top_k)
    if attention_dtype not in ("float32", "float16"):
        raise InvalidInput("attention_dtype must be 'float32' or 'float16'",
                           attention_dtype=str(attention_dtype))
    enc = _apply_mask(model, encode(model, text, text_b), mask)
    out = forward_batch(model, [enc], logits=top_k > 0)
    return _collect(model, out, 0, enc, text=text, text_b=text_b, mask=mask, top_k=top_k,
                    attention_dtype=attention_dtype)


def analyze_batch(model: Model, texts: Sequence[str], *, top_k: int = 0) -> list[Analysis]:
    """Analyse single texts together in one padded forward pass; results in input order."""
    _check_top_k(top_k)
    if not texts:
        return []
    encs: list[Encoded] = []
    for e in encode_texts(model, texts):
        if isinstance(e, ExbertError):
            raise e
        encs.append(e)
    out = forward_batch(model, encs, logits=top_k > 0)
    return [
        _collect(model, out, i, e, text=t, text_b=None, mask=(), top_k=top_k)
        for i, (t, e) in enumerate(zip(texts, encs, strict=True))
    ]
