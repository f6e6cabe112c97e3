"""Loading: every path (alias, hub id, local folder, GGUF file) ends in :func:`_from_pretrained`.

Safety rules, enforced here and only here:
- weights are read from safetensors only; a folder with only pickled weights is refused;
- ``trust_remote_code`` is always off; a config that asks for remote code (``auto_map``) is
  refused before any model code runs;
- ``attn_implementation="eager"`` so that attention probabilities exist.

GGUF files are dequantised once and stored as safetensors in the user's cache
(``$XDG_CACHE_HOME/exbert/models``), so later loads are fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from exbert.errors import ExbertError, ModelLoadError, UnknownModel, UnsafeModel
from exbert.info import DEFAULT_MAX_TOKENS, Kind, ModelInfo
from exbert.models.hub import hub_options, local_alternatives
from exbert.models.info_cache import recall_info, remember_info
from exbert.models.model import Model
from exbert.models.registry import SHIPPED

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

GGUF_CACHE_VERSION = "1"
_CAUSAL_ARCH_SUFFIXES = ("ForCausalLM", "LMHeadModel")
# Head parameters: a checkpoint that lacks these loads as a bare encoder/decoder.
_HEAD_PREFIXES = ("cls.", "lm_head.", "predictions.", "vocab_", "generator_lm_head", "mlm")


def cache_root() -> Path:
    """exbert's cache folder: ``$EXBERT_CACHE``, else ``$XDG_CACHE_HOME/exbert``."""
    if env := os.environ.get("EXBERT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exbert"


@dataclass(frozen=True)
class Source:
    """Where a model comes from. ``location`` is a folder, a ``.gguf`` file or a hub id."""

    name: str
    form: Literal["folder", "gguf", "hub"]
    location: str


def resolve(name_or_path: str | os.PathLike[str], *, cache_dir: Path | None = None) -> Source:
    """A user's model reference as a :class:`Source`, loading and building nothing."""
    ref = os.fspath(name_or_path)
    if not ref or not ref.strip():
        raise UnknownModel("no model name given")
    cache = cache_dir or cache_root()
    if ref in SHIPPED:
        found = SHIPPED[ref].locate(cache)
        form: Literal["folder", "gguf"] = "gguf" if found.suffix == ".gguf" else "folder"
        return Source(ref, form, str(found))
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return Source(path.stem, "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UnknownModel(f"{ref}: folder has no config.json", model=ref)
        return Source(path.resolve().name, "folder", str(path.resolve()))
    if path.exists():
        raise UnknownModel(f"{ref}: not a model folder or a .gguf file", model=ref)
    looks_like_path = ref.startswith((".", "/", "~")) or ref.endswith(".gguf") or os.sep * 2 in ref
    if looks_like_path or ref.count("/") > 1:
        raise UnknownModel(
            f"{ref!r} is not a shipped model ({', '.join(SHIPPED)}), an existing folder, "
            "a .gguf file or a hub id",
            model=ref,
        )
    return Source(ref, "hub", ref)


def load(
    name_or_path: str | os.PathLike[str],
    *,
    kind: Kind | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    revision: str | None = None,
    cache_dir: Path | None = None,
) -> Model:
    """Load a model for analysis.

    ``name_or_path``: a shipped alias (``smollm2-135m``, ``gemma3-270m``, ``minilm-l6``,
    ``minilm-l6-mlm``: its head fitted on first use), a hub id, a model folder or a ``.gguf``
    file. ``kind`` overrides the detected kind. ``max_tokens`` caps the tokens of one analysis,
    up to the model's own limit (long inputs analyse lazily: full attention grows as T^2, the
    lazy engine's records as T).
    """
    if max_tokens < 1:
        raise ModelLoadError("max_tokens must be at least 1", max_tokens=max_tokens)
    if kind is not None and kind not in ("bidirectional", "autoregressive"):
        raise ModelLoadError(f"kind must be 'bidirectional' or 'autoregressive', not {kind!r}")
    cache = cache_dir or cache_root()
    source = resolve(name_or_path, cache_dir=cache)
    if (ref := os.fspath(name_or_path)) in SHIPPED:  # minilm-l6-mlm: fitted here, once
        SHIPPED[ref].prepare(cache)
    where = source.location
    if source.form == "gguf":
        where = str(_gguf_as_safetensors(Path(source.location), cache))
    hub: dict[str, Any] = {"revision": revision}
    if source.form == "hub":  # fail fast offline, not after the hub client's retries
        hub.update(hub_options(source.location, revision))
    _configure_quiet_logging()
    config = _load_config(where, hub)
    detected = kind or detect_kind(config)
    module, has_head = _load_module(where, config, detected, hub)
    tokenizer = _load_tokenizer(where, hub)
    info = describe(
        source, config, tokenizer, kind=detected, has_lm_head=has_head, max_tokens=max_tokens
    )
    remember_info(source.form, source.location, info, kind=kind, cache_dir=cache)
    return Model(info=info, module=module, tokenizer=tokenizer)


def known_info(
    name_or_path: str | os.PathLike[str],
    *,
    kind: Kind | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    cache_dir: Path | None = None,
) -> ModelInfo | None:
    """The :class:`ModelInfo` that :func:`load` would give, when this local model (same
    files) was loaded before, without importing torch or transformers; else None."""
    cache = cache_dir or cache_root()
    source = resolve(name_or_path, cache_dir=cache)
    if (ref := os.fspath(name_or_path)) in SHIPPED and not SHIPPED[ref].is_ready(cache):
        return None  # load() builds it first (minilm-l6-mlm's head, not fitted yet)
    info = recall_info(source.form, source.location, kind=kind, max_tokens=max_tokens,
                       cache_dir=cache)
    return dataclasses.replace(info, name=source.name) if info is not None else None


def detect_kind(config: Any) -> Kind:
    """Bidirectional (masked LM / encoder) or autoregressive (causal LM), from the config."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(_CAUSAL_ARCH_SUFFIXES) for a in archs):
        return "autoregressive"
    if any("MaskedLM" in a or a.endswith("ForPreTraining") for a in archs):
        return "bidirectional"
    if getattr(config, "is_decoder", False):
        return "autoregressive"
    model_type = getattr(config, "model_type", "")
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "bidirectional"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "autoregressive"
    return "bidirectional"


def describe(
    source: Source,
    config: Any,
    tokenizer: PreTrainedTokenizerBase,
    *,
    kind: Kind,
    has_lm_head: bool,
    max_tokens: int,
) -> ModelInfo:
    from exbert.models.mlm_fit import fit_note  # a head exbert fitted says so

    heads = int(config.num_attention_heads)
    hidden = int(config.hidden_size)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    max_positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        max_positions -= int(config.pad_token_id or 0) + 1  # positions start after padding_idx
    tok_max = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < tok_max < 1_000_000:
        max_positions = min(max_positions, tok_max) if max_positions else tok_max
    max_positions = max_positions or max_tokens
    mask_token = getattr(tokenizer, "mask_token", None) if kind == "bidirectional" else None
    archs = getattr(config, "architectures", None) or [type(config).__name__]
    return ModelInfo(
        name=source.name,
        kind=kind,
        architecture=str(archs[0]),
        model_type=str(getattr(config, "model_type", "")),
        layers=int(config.num_hidden_layers),
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        hidden_size=hidden,
        head_dim=head_dim,
        vocab_size=int(config.vocab_size),
        max_positions=max_positions,
        max_tokens=min(max_positions, max_tokens),
        special_tokens=tuple(tokenizer.all_special_tokens),
        has_lm_head=has_lm_head,
        mask_token=str(mask_token) if mask_token else None,
        notes=fit_note(Path(source.location)) if source.form == "folder" else "",
        source=f"{source.form}:{source.location}",
    )


# --- the one place that calls transformers' from_pretrained ------------------------------------


def _from_pretrained(loader: Any, where: str, **kwargs: Any) -> Any:
    """Every weight, config and tokenizer load goes through here, with the safety flags set.

    Any failure becomes a :class:`ModelLoadError` (corrupt safetensors raise the library's own
    ``SafetensorError``, bad configs ``KeyError``/``TypeError``...); a checkpoint that only has
    pickled weights becomes :class:`UnsafeModel`.
    """
    kwargs["trust_remote_code"] = False
    try:
        return loader.from_pretrained(where, **kwargs)
    except ExbertError:
        raise
    except Exception as exc:
        text = str(exc)
        first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
        if _NOT_ON_HUB.search(text):
            raise UnknownModel(
                f"{where!r} is not a shipped model, a local folder, a .gguf file or a model on "
                f"the Hugging Face hub; {local_alternatives()}",
                model=where,
            ) from exc
        if _NO_SAFETENSORS.search(text):
            raise UnsafeModel(
                f"{where}: no safetensors weights found; exbert never loads pickled weights "
                "(pytorch_model.bin). Convert the checkpoint to safetensors first.",
                model=where,
            ) from exc
        raise ModelLoadError(f"{where}: cannot load: {first}", model=where) from exc


# transformers' wording for a hub id that does not exist (or is private).
_NOT_ON_HUB = re.compile(r"is not a valid model identifier|Repository Not Found", re.IGNORECASE)
# transformers' wordings for "use_safetensors=True but the checkpoint has none".
_NO_SAFETENSORS = re.compile(
    r"cannot be loaded with `safetensors`|no file named \S*\.safetensors", re.IGNORECASE
)


def _load_config(where: str, hub: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    raw = Path(where) / "config.json"
    if raw.is_file():
        try:
            data = json.loads(raw.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{raw}: unreadable config.json: {exc}") from exc
        _refuse_remote_code(data, where)
    config = _from_pretrained(AutoConfig, where, **hub)
    _refuse_remote_code(config.to_dict(), where)
    return config


def _refuse_remote_code(config: dict[str, Any], where: str) -> None:
    if config.get("auto_map"):
        raise UnsafeModel(
            f"{where}: the config asks for custom code (auto_map); exbert never runs remote "
            "code (trust_remote_code is always off)",
            model=where,
        )


def _load_module(
    where: str, config: Any, kind: Kind, hub: dict[str, Any]
) -> tuple[PreTrainedModel, bool]:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    local = Path(where)
    if local.is_dir() and not any(local.glob("*.safetensors")):
        raise UnsafeModel(
            f"{where}: no .safetensors weights; exbert never unpickles weights "
            "(pytorch_model.bin, *.pt). Convert the checkpoint to safetensors first.",
            model=where,
        )
    loader = AutoModelForCausalLM if kind == "autoregressive" else AutoModelForMaskedLM
    model, loading_info = _from_pretrained(
        loader,
        where,
        config=config,
        use_safetensors=True,
        dtype=torch.float32,
        attn_implementation="eager",
        output_loading_info=True,
        **hub,
    )
    missing = [k for k in loading_info.get("missing_keys", []) if _is_head_key(k)]
    has_head = not missing
    if not has_head:
        log.info("%s: no language-model head in the checkpoint; loading the bare model", where)
        model = model.base_model
    model.eval()
    return cast("PreTrainedModel", model), has_head


def _is_head_key(key: str) -> bool:
    return key.startswith(_HEAD_PREFIXES) or ".decoder." in key or "lm_head" in key


def _load_tokenizer(where: str, hub: dict[str, Any]) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tok = _from_pretrained(AutoTokenizer, where, **hub)
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(
            f"{where}: exbert needs a fast tokenizer (character offsets); this one is slow",
            model=where,
        )
    return cast("PreTrainedTokenizerBase", tok)


def _configure_quiet_logging() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# --- GGUF: dequantise once into a safetensors cache --------------------------------------------


def _gguf_key(path: Path) -> str:
    st = path.stat()
    ident = f"{GGUF_CACHE_VERSION}:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _gguf_as_safetensors(path: Path, cache: Path) -> Path:
    """The cached safetensors folder of a GGUF file, converting it on first use."""
    target = cache / "models" / f"{path.stem}-{_gguf_key(path)}"
    if _cache_ready(target):
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to safetensors once (cached in %s)", path.name, target)
    _configure_quiet_logging()
    where = str(path.parent)
    tok = _from_pretrained(AutoTokenizer, where, gguf_file=path.name)
    quantised = _from_pretrained(
        AutoModelForCausalLM,
        where,
        gguf_file=path.name,
        dtype=torch.float32,
        attn_implementation="eager",
    )
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    try:
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(quantised.state_dict())
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"{path}: cannot convert to safetensors: {exc}", model=str(path)
        ) from exc
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        try:
            tmp.replace(target)  # atomic: a half-converted cache is never seen
        except OSError:
            if not _cache_ready(target):  # else another process converted it meanwhile
                raise
    except OSError as exc:
        raise ModelLoadError(
            f"{path}: cannot write the converted model to {target.parent}: {exc}",
            model=str(path),
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _cache_ready(target: Path) -> bool:
    return (target / "config.json").is_file() and any(target.glob("*.safetensors"))
