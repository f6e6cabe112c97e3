"""Models that a server lists at once and loads in the background.

``exbert serve`` binds and answers the page and ``/api/models`` before torch and transformers
are imported: each model is a :class:`ModelSlot` that knows its
:class:`~exbert.info.ModelInfo` (remembered from its last load, see
:mod:`exbert.models.info_cache`) and loads on a background thread (:func:`warm_up`, started by
the app's lifespan). Everything that needs the weights or the tokenizer waits for them, off the
event loop (the inference queue's thread): a slot passes every attribute but ``name``,
``info`` and ``state`` on to the loaded model, waiting for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from exbert.errors import ExbertError, ModelLoadError

if TYPE_CHECKING:
    from exbert.info import ModelInfo
    from exbert.models import Model

log = logging.getLogger(__name__)
State = Literal["loading", "ready", "failed"]


class ModelSlot:
    """A served model by name: ``info`` at once (when known), the model when loaded."""

    def __init__(self, name: str, loader: Callable[[], Model], info: ModelInfo | None = None,
                 load_lock: threading.Lock | None = None) -> None:
        """``load_lock``: shared by the slots of one server, so that two models never load at
        the same time (a request's model and the background's: transformers' lazy imports are
        not safe to run from two threads at once)."""
        self.name = name
        self._loader = loader
        self._info = info
        self._model: Model | None = None
        self._error: ExbertError | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._load_lock = load_lock if load_lock is not None else threading.Lock()

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            self.wait()
        assert self._info is not None
        return self._info

    @property
    def known(self) -> bool:
        """Whether ``info`` answers without waiting for the load."""
        return self._info is not None

    @property
    def state(self) -> State:
        if not self._ready.is_set():
            return "loading"
        return "failed" if self._error is not None else "ready"

    def load(self) -> None:
        """Load the model now (once; later calls return at once, even while another slot of
        the same ``load_lock`` loads)."""
        if self._ready.is_set():
            return
        with self._lock, self._load_lock:
            if self._ready.is_set():
                return
            try:
                model = self._loader()
                self._model, self._info = model, model.info
            except ExbertError as exc:
                self._error = exc
            except Exception as exc:  # a bug or a library failure: the server stays up
                log.exception("loading %s failed", self.name)
                self._error = ModelLoadError(
                    f"{self.name}: cannot load ({type(exc).__name__}); see the server log",
                    model=self.name)
            finally:
                self._ready.set()

    def wait(self) -> Model:
        """The loaded model (loading it here if the background has not started it yet,
        else waiting for it); the load's error, raised again, if it failed."""
        self.load()
        if self._error is not None:
            err = self._error
            raise type(err)(err.message, **err.details)
        assert self._model is not None
        return self._model

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.wait(), attr)

    def __repr__(self) -> str:
        return f"ModelSlot({self.name!r}, {self.state})"


def warm_up(models: Mapping[str, Any], corpora: Mapping[str, Any]) -> None:
    """Load the models still loading, in order, then open the corpora not opened yet (each
    that has a ``warm(models)`` method): the background thread of a server's start."""
    for model in list(models.values()):
        if isinstance(model, ModelSlot):
            model.load()
    for corpus in list(corpora.values()):
        warm = getattr(type(corpus), "warm", None)
        if callable(warm):
            warm(corpus, models)


def start_warm_up(models: Mapping[str, Any], corpora: Mapping[str, Any]) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(models, corpora), name="exbert-warm-up",
                              daemon=True)
    thread.start()
    return thread


def loading(models: Iterable[Any]) -> list[str]:
    """The names of the models still loading."""
    return [m.name for m in models if isinstance(m, ModelSlot) and m.state == "loading"]
