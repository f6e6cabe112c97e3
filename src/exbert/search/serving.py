"""Corpora for a server: each folder checked against the served model it was built for, and
named to clients by its corpus name, never by its folder (errors included).

:func:`corpora_for_server` reads only the manifests and returns :class:`ServedCorpus` objects
that open their corpus on first use (or on the server's background warm-up), so that a
server answers before its corpora are mapped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.manifest import CorpusManifest, ModelIdentity, read_manifest
from exbert.errors import CorpusError, CorpusMismatch, ExbertError
from exbert.search.corpus import Corpus, PartFactory

if TYPE_CHECKING:
    from exbert.models import Model

log = logging.getLogger(__name__)
REBUILD_HINT = "exbert corpus build INPUT --model {model} --out DIR"


def mismatch(name: str, manifest: CorpusManifest, model: Any) -> CorpusMismatch | None:
    """The error for corpus ``name`` searched with ``model`` when another model built it,
    naming the corpus and the models only (no folder, no rebuild command with paths)."""
    diffs = manifest.model.differences(ModelIdentity.of(model))
    if not diffs:
        return None
    return CorpusMismatch(
        f"corpus {name!r} was built for model {manifest.model.name!r}, not for "
        f"{model.info.name!r} ({'; '.join(diffs)}); search it with {manifest.model.name!r}, or "
        f"rebuild it for this model: {REBUILD_HINT.format(model=model.info.name)}",
        corpus=name, differences=diffs,
    )


class ServedCorpus:
    """A corpus folder a server serves: its manifest read at once, the :class:`Corpus` opened
    on first use. Every attribute but ``name``, ``manifest`` and ``path`` is the opened
    corpus's; errors name the corpus, never its folder."""

    def __init__(self, name: str, folder: Path, manifest: CorpusManifest,
                 part_factory: PartFactory | None = None) -> None:
        self.name = name
        self.path = folder
        self.manifest = manifest
        self.part_factory = part_factory  # who holds the shards (None: this process)
        self._corpus: Corpus | None = None
        self._error: ExbertError | None = None
        self._lock = threading.Lock()
        self._model_ok: set[int] = set()

    @property
    def failed(self) -> bool:
        return self._error is not None

    def open(self) -> Corpus:
        with self._lock:
            if self._corpus is None and self._error is None:
                try:
                    corpus = Corpus.open(self.path, part_factory=self.part_factory)
                    corpus.name = self.name
                    self._corpus = corpus
                except CorpusError as exc:
                    self._error = type(exc)(
                        f"corpus {self.name!r} cannot be used ({type(exc).__name__}); "
                        "see the server log", corpus=self.name)
                    log.warning("corpus %s (%s): %s", self.name, self.path, exc.message)
        if self._error is not None:
            err = self._error
            raise type(err)(err.message, **err.details)
        assert self._corpus is not None
        return self._corpus

    def check_model(self, model: Model) -> None:
        """:class:`CorpusMismatch` (naming the corpus) unless ``model`` built this corpus."""
        if id(model) in self._model_ok:
            return
        error = mismatch(self.name, self.manifest, model)
        if error is not None:
            raise error
        self._model_ok.add(id(model))

    def warm(self, models: Mapping[str, Any]) -> None:
        """Open now and check against its served model (the server's background warm-up,
        after the models loaded). A failure is logged, and the corpus is no longer listed."""
        try:
            self.open()
            model = models.get(self.manifest.model.name)
            if model is not None:
                self.check_model(model)
        except ExbertError as exc:
            if self._error is None:
                log.warning("corpus %s (%s): %s", self.name, self.path, exc.message)
                self._error = exc

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.open(), attr)

    def __repr__(self) -> str:
        return f"ServedCorpus({self.name!r})"


def corpora_for_server(dirs: Iterable[str | Path], models: Iterable[str],
                       part_factory: PartFactory | None = None) -> dict[str, ServedCorpus]:
    """``{corpus name: ServedCorpus}`` for the corpus folders ``dirs`` (names made unique with
    a suffix), reading only their manifests. :class:`CorpusMismatch` for a corpus built for a
    model not in ``models`` (the served model names). ``part_factory``: who holds the shards
    (``exbert serve --ray``: :func:`exbert.search.ray_parts.ray_part_factory`)."""
    served = list(models)
    out: dict[str, ServedCorpus] = {}
    for d in dirs:
        folder = Path(d).expanduser()
        manifest = read_manifest(folder)
        base = manifest.name or folder.name
        if manifest.model.name not in served:
            raise CorpusMismatch(
                f"corpus {base!r} ({folder}) was built for model {manifest.model.name!r}, which "
                f"the server does not serve ({', '.join(served) or 'none'}); add --model "
                f"{manifest.model.name} or rebuild it: {manifest.rebuild_command}",
                path=str(folder), rebuild_command=manifest.rebuild_command,
            )
        name, n = base, 2
        while name in out:
            name, n = f"{base}-{n}", n + 1
        out[name] = ServedCorpus(name, folder, manifest, part_factory)
    return out

