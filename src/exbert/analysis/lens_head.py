"""A model's own output head, split for the logit lens: what turns a hidden state into logits.

:func:`resolve_head` finds, per family, the three parts that the lens applies to a chunk of
hidden-state rows (:mod:`exbert.analysis.lens`):

1. ``prepare(index, x)``: the final normalisation for causal LMs, the masked-LM head's
   transform for masked LMs (dense + activation + layer norm), ``x`` float32 rows of hidden
   state ``index`` (0 = embeddings .. L = the last layer's output);
2. the decoder, one affine map ``x @ weight.T + bias`` (``weight`` [V, D'], the model's
   ``get_output_embeddings()``: its tied or untied unembedding);
3. ``finish(logits)``: what the model does to the logits after the decoder (Gemma's final
   logit softcapping, Cohere's ``logit_scale``, Granite's ``logits_scaling``), in place.

Where the final norm goes (read from transformers 5's source, checked by the tests: the lens
at layer L equals the model's own predictions):

- Causal LMs (Llama/SmolLM2, GPT-2, Gemma 2/3, Mistral, Qwen ...): the base model applies its
  final norm (``norm``, ``ln_f``, ``final_layernorm``, ...) after the last layer, and
  ``capture_outputs`` (``tie_last_hidden_states=True``) replaces ``hidden_states[L]`` with
  ``last_hidden_state``: the last hidden state is already normalised, every earlier one is
  not. So the norm is applied to indices ``0..L-1`` only (to ``L`` too where a config sets
  ``tie_last_hidden_states=False``).
- Masked LMs (BERT, RoBERTa/XLM-R/CamemBERT/MPNet, DistilBERT, ALBERT, ELECTRA): every layer
  ends in its own layer norm and there is no final norm; the masked-LM head's transform runs on
  every hidden state, then its decoder.
- No head (``BertModel`` such as MiniLM): :class:`~exbert.errors.NoOutputHead`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exbert.analysis.types import ModelHandle
from exbert.errors import NoOutputHead

if TYPE_CHECKING:
    import torch

# Attribute names of a causal base model's final norm, in transformers' families.
_FINAL_NORMS = ("norm", "ln_f", "norm_f", "final_layernorm", "final_layer_norm", "final_norm")


@dataclass
class OutputHead:
    """The parts of a model's output head (see the module docstring)."""

    prepare: Callable[[int, torch.Tensor], torch.Tensor]
    weight: torch.Tensor
    bias: torch.Tensor | None
    finish: Callable[[torch.Tensor], None]
    description: str

    @property
    def vocab_size(self) -> int:
        return int(self.weight.shape[0])


def no_head_message(model: ModelHandle) -> str:
    info = model.info
    return (
        f"{info.name} ({info.architecture}) has no output head: it is an encoder without a "
        "language-model head, so its hidden states cannot be read as predictions (logit "
        "lens). Load a model with a head instead: 'minilm-l6-mlm' (MiniLM with a masked-LM "
        "head fitted by exbert), or any *ForMaskedLM / *ForCausalLM model from the hub."
    )


def resolve_head(model: ModelHandle) -> OutputHead:
    """The output head of ``model``; :class:`NoOutputHead` for a model without one."""
    info, module = model.info, model.module
    decoder = module.get_output_embeddings() if info.has_lm_head else None
    weight = getattr(decoder, "weight", None)
    if weight is None or weight.ndim != 2:
        raise NoOutputHead(no_head_message(model), model=info.name)
    bias = getattr(decoder, "bias", None)
    if info.kind == "autoregressive":
        prepare, what = _causal_prepare(model)
    else:
        prepare, what = _masked_prepare(model)
    return OutputHead(prepare, weight.detach(), None if bias is None else bias.detach(),
                      _finisher(module.config), what)


def _causal_prepare(model: ModelHandle) -> tuple[Callable[[int, Any], Any], str]:
    module, layers = model.module, model.info.layers
    base = getattr(module, "base_model", module)
    owner = getattr(base, "decoder", base)  # OPT keeps its layers and norm in .decoder
    norm = next((getattr(o, n) for o in (base, owner) for n in _FINAL_NORMS
                 if isinstance(getattr(o, n, None), _nn_module())), None)
    if norm is None:  # a norm under another name: the one direct child norm module, if any
        norms = {id(m): m for o in (base, owner) for m in o.children()
                 if "norm" in type(m).__name__.lower()}
        if len(norms) > 1:
            raise NoOutputHead(f"{model.info.name}: cannot tell which of its norm modules is the "
                               "final one, so the logit lens cannot be computed exactly",
                               model=model.info.name)
        norm = next(iter(norms.values()), None)
    if norm is None:  # no final norm: the head reads the residual stream directly
        return (lambda _index, x: x), "output head (no final norm)"
    tied = getattr(module.config, "tie_last_hidden_states", None)
    normed_last = True if tied is None else bool(tied)

    def prepare(index: int, x: torch.Tensor) -> torch.Tensor:
        if index == layers and normed_last:
            return x  # transformers returns the last hidden state after the final norm
        out: torch.Tensor = norm(x)
        return out

    return prepare, f"final norm ({type(norm).__name__}) + output head"


def _masked_prepare(model: ModelHandle) -> tuple[Callable[[int, Any], Any], str]:
    """The masked-LM head's transform (what runs between the encoder and the decoder)."""
    module = model.module
    cls = getattr(module, "cls", None)  # BertForMaskedLM: cls.predictions.transform + decoder
    if cls is not None and hasattr(getattr(cls, "predictions", None), "transform"):
        transform = cls.predictions.transform
        return (lambda _i, x: transform(x)), "masked-LM head (transform + decoder)"
    head = getattr(module, "lm_head", None)  # RoBERTa, XLM-R, CamemBERT, MPNet
    if head is not None and hasattr(head, "dense") and hasattr(head, "layer_norm"):
        from transformers.activations import gelu

        return (lambda _i, x: head.layer_norm(gelu(head.dense(x))),
                "masked-LM head (dense + gelu + layer norm + decoder)")
    for name in ("predictions", "generator_predictions"):  # ALBERT, ELECTRA's generator
        pred = getattr(module, name, None)
        if pred is not None and all(hasattr(pred, a) for a in ("dense", "activation",
                                                                 "LayerNorm")):
            return (lambda _i, x, p=pred: p.LayerNorm(p.activation(p.dense(x))),
                    "masked-LM head (dense + activation + layer norm + decoder)")
    if hasattr(module, "vocab_transform") and hasattr(module, "vocab_layer_norm"):  # DistilBERT
        return (lambda _i, x: module.vocab_layer_norm(module.activation(
            module.vocab_transform(x))), "masked-LM head (vocab transform + decoder)")
    raise NoOutputHead(
        f"{model.info.name} ({model.info.architecture}): the logit lens does not know how "
        "this architecture's masked-LM head transforms hidden states; it supports BERT, "
        "RoBERTa, DistilBERT, ALBERT and ELECTRA heads", model=model.info.name)


def _finisher(config: Any) -> Callable[[torch.Tensor], None]:
    """In place on a logits chunk: what the model's forward does after its head."""
    cap = getattr(config, "final_logit_softcapping", None)  # Gemma 2/3
    scale = getattr(config, "logit_scale", None)  # Cohere multiplies
    divide = getattr(config, "logits_scaling", None)  # Granite divides

    def finish(logits: torch.Tensor) -> None:
        if scale is not None and scale != 1:
            logits.mul_(scale)
        if divide is not None and divide != 1:
            logits.div_(divide)
        if cap:
            logits.div_(cap).tanh_().mul_(cap)

    return finish


def _nn_module() -> type:
    from torch import nn

    module: type = nn.Module
    return module
