"""The fitted masked-LM head (models/mlm_fit.py, mlm_data.py, mlm_text.py) on a tiny random
BERT encoder: the saved folder is a standard BertForMaskedLM that exbert loads with its head,
the decoder is tied to the embeddings, the encoder is unchanged, fits are deterministic and
durable (a failing or killed fit leaves no model folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import exbert
from exbert.errors import ModelLoadError
from exbert.models import mlm_fit
from exbert.models.mlm_data import mask_batch, masked_accuracy, unigram_accuracy, unigram_counts
from support import SMALL_CORPUS_TEXT

OPTIONS = mlm_fit.FitOptions(window=14, fit_windows=0, epochs=2, batch_size=16, lr=5e-3,
                             encode_batch=4)


@pytest.fixture(scope="module")
def encoder_dir(tiny_dir: Callable[[str], Path]) -> Path:
    return tiny_dir("bert-headless")


@pytest.fixture(scope="module")
def windows(encoder_dir: Path) -> list[list[int]]:
    from transformers import AutoTokenizer

    from exbert.models.mlm_text import windows as cut

    tok = AutoTokenizer.from_pretrained(str(encoder_dir))
    return cut(tok, [SMALL_CORPUS_TEXT.replace("\n", " ")], OPTIONS.window)


@pytest.fixture(scope="module")
def fitted(encoder_dir: Path, windows: list[list[int]],
           tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("mlm") / "tiny-mlm"
    return mlm_fit.ensure_fitted(encoder_dir, target, lambda: windows, OPTIONS,
                                 progress=lambda _: None)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_fitted_folder_loads_as_bert_mlm_with_a_tied_head(fitted: Path, encoder_dir: Path
                                                           ) -> None:
    from transformers import BertForMaskedLM, BertModel

    model = exbert.load(fitted)
    assert model.info.has_lm_head and model.info.architecture == "BertForMaskedLM"
    assert isinstance(model.module, BertForMaskedLM)
    decoder = model.module.cls.predictions.decoder.weight
    embeddings = model.module.bert.embeddings.word_embeddings.weight
    assert decoder.data_ptr() == embeddings.data_ptr()  # tied, not a copy
    original = BertModel.from_pretrained(str(encoder_dir)).state_dict()
    saved = model.module.bert.state_dict()
    compared = [k for k in original if not k.startswith("pooler.") and k in saved]
    assert len(compared) > 20
    for key in compared:  # the encoder is frozen: saved bit for bit
        assert torch.equal(saved[key], original[key]), key
    assert "cls.predictions.decoder.weight" not in _weights(fitted)  # stored once, tied
    analysis = model.analyze("The dog slept under the [MASK] table.", top_k=5)
    assert analysis.predictions is not None


def test_only_the_transform_and_bias_are_trained(fitted: Path, encoder_dir: Path) -> None:
    torch.manual_seed(OPTIONS.seed)
    start = mlm_fit.build_model(encoder_dir).state_dict()
    after = _weights(fitted)
    changed = {k for k in after if not torch.equal(after[k], start[k])}
    assert changed == {
        "cls.predictions.bias", "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias",
    }


def test_fit_is_deterministic_and_cached(fitted: Path, encoder_dir: Path,
                                         windows: list[list[int]], tmp_path: Path) -> None:
    again = mlm_fit.ensure_fitted(encoder_dir, tmp_path / "again", lambda: windows, OPTIONS,
                                  progress=lambda _: None)
    a, b = _weights(fitted), _weights(again)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    def no_refit() -> list[list[int]]:
        raise AssertionError("a fitted folder must not be fitted again")

    assert mlm_fit.ensure_fitted(encoder_dir, again, no_refit, OPTIONS) == again


def test_fitting_lowers_the_loss_and_beats_unigram_on_its_own_data(
        fitted: Path, windows: list[list[int]]) -> None:
    import json

    from transformers import AutoTokenizer, BertForMaskedLM

    record = json.loads((fitted / mlm_fit.RECORD_FILE).read_text())
    assert record["fitted_by"] == "exbert" and record["examples"] > 20
    assert record["epoch_losses"][-1] < record["epoch_losses"][0]
    model = BertForMaskedLM.from_pretrained(str(fitted))
    tok = AutoTokenizer.from_pretrained(str(fitted))
    acc, labels = masked_accuracy(model, tok, windows, rate=0.3)
    base = unigram_accuracy(unigram_counts(windows, 30522), labels)
    assert acc.n == base.n == len(labels) > 0
    assert acc.top5 >= base.top5  # the bias starts at the unigram log-frequencies


def test_failed_fit_leaves_nothing_and_says_why_without_paths(
        encoder_dir: Path, windows: list[list[int]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    def crash(folder: Path) -> None:
        assert (folder / "model.safetensors").is_file()  # complete, but never published
        raise OSError(28, "No space left on device", str(folder))

    target = tmp_path / "m"
    with pytest.raises(ModelLoadError, match="No space left") as err:
        mlm_fit.ensure_fitted(encoder_dir, target, lambda: windows, OPTIONS,
                              progress=lambda _: None, before_publish=crash)
    assert str(tmp_path) not in err.value.message  # a server forwards it to its clients
    assert str(tmp_path) in caplog.text  # the details are logged
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".m.lock"]


def test_killed_fit_leaves_no_model_and_the_next_fit_cleans_up(
        encoder_dir: Path, windows: list[list[int]], tmp_path: Path) -> None:
    target = tmp_path / "m"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from exbert.models import mlm_fit
        mlm_fit.ensure_fitted(Path({str(encoder_dir)!r}), Path({str(target)!r}),
                              lambda: {windows!r}, mlm_fit.{OPTIONS!r},
                              before_publish=lambda _: os.kill(os.getpid(), signal.SIGKILL))
    """)
    env = {**os.environ, "TORCH_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert not target.exists()
    leftovers = [p for p in tmp_path.iterdir() if ".fit-" in p.name]
    assert len(leftovers) == 1 and (leftovers[0] / "model.safetensors").is_file()
    mlm_fit.ensure_fitted(encoder_dir, target, lambda: windows, OPTIONS, progress=lambda _: None)
    assert mlm_fit.is_fitted(target)
    assert not [p for p in tmp_path.iterdir() if ".fit-" in p.name]


def test_bert_style_masking_proportions(encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(encoder_dir))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (200, 502))
    ids[:, 0], ids[:, -1] = tok.cls_token_id, tok.sep_token_id
    inputs, chosen = mask_batch(ids, tok, 0.15, gen)
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert abs(chosen.float().mean().item() - 0.15 * 500 / 502) < 0.005
    masked = (inputs[chosen] == tok.mask_token_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01
    assert set(tok.all_special_ids) & set(inputs[chosen & (inputs != tok.mask_token_id)].tolist()
                                          ) == set()
    assert torch.equal(inputs[~chosen], ids[~chosen])
    all_mask, chosen2 = mask_batch(ids, tok, 0.15, gen, mask_share=1.0)
    assert (all_mask[chosen2] == tok.mask_token_id).all()
    no_random, chosen3 = mask_batch(ids, tok, 0.15, gen, mask_share=0.8, random_share=0.0)
    kept = (no_random[chosen3] == ids[chosen3]).float().mean().item()
    assert abs(kept - 0.2) < 0.01
    assert ((no_random[chosen3] == ids[chosen3]) | (no_random[chosen3] == tok.mask_token_id)).all()


def test_the_fitting_text_excludes_holmes() -> None:
    from exbert.corpus import demo
    from exbert.models import mlm_text

    assert (mlm_text.HOLMES_START, mlm_text.HOLMES_END) == (demo.HOLMES_START, demo.HOLMES_END)
    assert mlm_text.holmes_body() == demo.holmes_text()
    books = mlm_text.book_bodies()
    assert len(books) >= 2 and not any("HOLMES" in t.upper() for t in books)
    holmes_line = "To Sherlock Holmes she is always the woman."
    assert holmes_line in demo.holmes_text()
    assert not any(holmes_line in body for body in books.values())
    assert not any("Gutenberg-tm" in body for body in books.values())  # no licence text


def test_options_key_changes_with_every_option() -> None:
    base = mlm_fit.FitOptions()
    assert base.key() == mlm_fit.FitOptions().key()
    assert base.key() != mlm_fit.FitOptions(seed=1).key()
    assert base.key() != mlm_fit.FitOptions(epochs=base.epochs + 1).key()


def test_the_alias_is_registered_prepared_and_keyed_by_its_options(tmp_path: Path) -> None:
    from exbert.cli.serve import DEFAULT_MODELS, PREPARE_EXTRA
    from exbert.models.registry import MINILM_MLM, SHIPPED, minilm_mlm_dir

    assert MINILM_MLM in SHIPPED and MINILM_MLM in PREPARE_EXTRA
    assert MINILM_MLM not in DEFAULT_MODELS  # only a little above unigram at [MASK]
    assert "fitted by exbert" in SHIPPED[MINILM_MLM].description
    folder = minilm_mlm_dir(tmp_path)
    assert folder.parent == tmp_path / "models"
    assert folder.name == f"{MINILM_MLM}-{mlm_fit.FitOptions().key()}"
    assert not mlm_fit.is_fitted(folder)


def test_resolving_an_unfitted_alias_fits_nothing(tmp_path: Path) -> None:
    """``exbert serve`` resolves its models before binding: fast, without torch; the fit
    happens in load() (in the server's load slot)."""
    script = textwrap.dedent("""
        import sys
        from exbert.models.loading import known_info, resolve
        from exbert.models.registry import minilm_mlm_dir
        from pathlib import Path
        source = resolve("minilm-l6-mlm")
        assert source.form == "folder", source
        assert Path(source.location) == minilm_mlm_dir(Path(sys.argv[1])), source
        assert known_info("minilm-l6-mlm") is None  # unknown: loaded (fitted) later
        assert "torch" not in sys.modules and "transformers" not in sys.modules
    """)
    env = {**os.environ, "EXBERT_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert not (tmp_path / "models").exists()  # nothing fitted, nothing started


def test_load_fits_a_built_alias_once(encoder_dir: Path, windows: list[list[int]],
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exbert.models.loading import known_info, resolve
    from exbert.models.registry import SHIPPED, Built, ShippedModel

    fits: list[Path] = []

    def build(_model: ShippedModel, folder: Path) -> None:
        fits.append(folder)
        mlm_fit.ensure_fitted(encoder_dir, folder, lambda: windows, OPTIONS,
                              progress=lambda _: None)

    alias = ShippedModel("tiny-mlm", "exbert", "a tiny fitted head", built=Built(
        lambda cache: cache / "models" / "tiny-mlm", mlm_fit.is_fitted, build))
    monkeypatch.setitem(SHIPPED, "tiny-mlm", alias)
    cache = tmp_path / "cache"
    source = resolve("tiny-mlm", cache_dir=cache)
    assert Path(source.location) == cache / "models" / "tiny-mlm"
    assert known_info("tiny-mlm", cache_dir=cache) is None
    assert fits == [] and not Path(source.location).exists()

    model = exbert.load("tiny-mlm", cache_dir=cache)
    assert fits == [Path(source.location)] and mlm_fit.is_fitted(Path(source.location))
    assert model.info.has_lm_head and "fitted by exbert" in model.info.notes
    again = exbert.load("tiny-mlm", cache_dir=cache)
    assert len(fits) == 1 and again.info == model.info  # fitted once, reused
    known = known_info("tiny-mlm", cache_dir=cache)
    assert known is not None and known.name == "tiny-mlm"
