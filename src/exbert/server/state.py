"""What a running server holds: its configuration, the loaded models and corpora, the
inference queue and the cache of recent analyses. One :class:`AppState` per app (no
module-level state); routes reach it with :func:`state_of`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import Request

from exbert.errors import NotFound, UnknownCorpus, UnknownModel
from exbert.server.inference import InferenceQueue
from exbert.server.lazy import loading
from exbert.server.schemas import AnalyzeIn

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model


R = TypeVar("R")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 5050
    token: str | None = None
    extra_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 256 * 1024
    workers: int = 1
    max_pending: int = 64
    cache_bytes: int = 64 * 1024 * 1024
    static_dir: Path | None = None


class AnalysisCache:
    """Recent analyses (search re-uses the vectors of the sentence on screen), bounded by the
    bytes of their arrays."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._items: OrderedDict[tuple[Any, ...], Analysis] = OrderedDict()
        self._bytes = 0

    @staticmethod
    def _size(a: Analysis) -> int:
        return int(a.attentions.nbytes + a.hidden_states.nbytes + a.contexts.nbytes)

    def get(self, key: tuple[Any, ...]) -> Analysis | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[Any, ...], analysis: Analysis) -> None:
        size = self._size(analysis)
        if size > self.budget or key in self._items:
            return
        self._items[key] = analysis
        self._bytes += size
        while self._bytes > self.budget:
            _, old = self._items.popitem(last=False)
            self._bytes -= self._size(old)


@dataclass
class AppState:
    """``models``: loaded models, or :class:`~exbert.server.lazy.ModelSlot` s that load in
    the background (their ``info`` known at once); ``corpora``: opened corpora, or
    :class:`~exbert.search.serving.ServedCorpus` s that open on first use. A corpus that
    failed to open is no longer listed."""

    models: Mapping[str, Model]
    all_corpora: Mapping[str, Any]
    config: ServerConfig
    queue: InferenceQueue
    cache: AnalysisCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = AnalysisCache(self.config.cache_bytes)

    @property
    def corpora(self) -> dict[str, Any]:
        return {n: c for n, c in self.all_corpora.items() if not getattr(c, "failed", False)}

    def loading(self) -> list[str]:
        """The models still loading in the background."""
        return loading(self.models.values())

    def model(self, name: str) -> Model:
        """The model ``name``: its ``info`` at once; anything else waits for it to load, so
        use that only off the event loop (on the queue)."""
        model: Model = _named(self.models, name, UnknownModel, "model")
        return model

    async def analyze(
        self, req: AnalyzeIn, then: Callable[[Analysis], R] | None = None,
        attention_dtype: Literal["float32", "float16"] = "float16",
    ) -> tuple[Analysis, R | None]:
        """The analysis of ``req`` (cached or run on the queue), and ``then(analysis)``
        computed in the same worker hop (e.g. encoding the frame off the event loop).
        Attentions are kept as float16 (what the frame sends) unless asked otherwise."""
        model = self.model(req.model)
        key = (req.model, req.text, req.text_b, tuple(sorted(set(req.mask))), req.top_k,
               attention_dtype)
        cached = self.cache.get(key)

        def work() -> tuple[Analysis, R | None]:
            analysis = cached or model.analyze(
                req.text, text_b=req.text_b, mask=req.mask, top_k=req.top_k,
                attention_dtype=attention_dtype,
            )
            return analysis, then(analysis) if then is not None else None

        analysis, extra = await self.queue.run(work)
        self.cache.put(key, analysis)
        return analysis, extra

    def corpus(self, name: str) -> Any:
        return _named(self.corpora, name, UnknownCorpus, "corpus")


def _named(table: Mapping[str, Any], name: str, error: type[NotFound], what: str) -> Any:
    """``table[name]``, or ``error`` naming what this server has."""
    try:
        return table[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; this server has: {', '.join(table) or 'none'}",
                    **{what: name}) from None


def corpus_info(corpus: Any) -> dict[str, Any]:
    """What clients may know of a corpus: no file-system paths."""
    info: dict[str, Any] = corpus.info()
    for private in ("path", "input", "rebuild_command"):
        info.pop(private, None)
    if isinstance(info.get("model"), dict):
        info["model"] = {k: v for k, v in info["model"].items() if k != "source"}
    return info


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.exbert
    return state
