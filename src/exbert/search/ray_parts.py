"""The shards of a served corpus in Ray actors (``exbert serve --ray [ADDRESS]``).

:func:`ray_part_factory` is a ``part_factory`` for :class:`~exbert.search.corpus.Corpus`: it
starts one :class:`ShardHost` actor per SHARDS_PER_ACTOR shards (spread over the cluster's
nodes), each opening its shards with the single-machine reader
(:func:`~exbert.search.part.open_local_parts`), and returns one :class:`RayPart` per shard:
a proxy with the part protocol of :mod:`exbert.search.part` whose every call (``top``,
``rows``, ``vectors``, ...) runs in the shard's actor (``ray.get``). The facade merges as it
does for local parts, so the matches are the same.

A model that a call needs (max attention over a subset of heads) is not shipped: the actor
loads it by name once. An exbert error raised in an actor is raised here as the same class
(a bad filter stays a 400), never as a Ray traceback; the actors restart when their process
dies (``max_restarts``) and a call is retried (reads are idempotent).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.errors import CorpusError, ExbertError

if TYPE_CHECKING:
    from exbert.corpus.manifest import CorpusManifest

SHARDS_PER_ACTOR = 4
MAX_RESTARTS = 3
ACTOR_CPUS = 0.25  # reserved per actor: searches are memory-bound, mostly waiting on mmap
ACTOR_THREADS = 8  # concurrent calls one actor serves (its parts are thread-safe)


class ShardHost:
    """A Ray actor holding a few shards of one corpus (opened with the local reader)."""

    def __init__(self, path: str, shards: list[CorpusManifest], verify: str) -> None:
        import threading

        from exbert.search.part import open_local_parts

        self._models: dict[str, Any] = {}
        self._model_lock = threading.Lock()  # calls run on ACTOR_THREADS threads
        self.error: tuple[str, str, dict[str, Any]] | None = None
        self.parts: list[Any] = []
        try:
            self.parts = list(open_local_parts(shards, Path(path), verify))  # type: ignore[arg-type]
        except ExbertError as exc:
            self.error = _error(exc)

    def call(self, index: int, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             model: str | None = None) -> tuple[str, Any]:
        if self.error is not None:
            return "error", self.error
        try:
            if model is not None:
                args, kwargs = _with_model(method, args, kwargs, self._model(model))
            return "ok", getattr(self.parts[index], method)(*args, **kwargs)
        except ExbertError as exc:
            return "error", _error(exc)

    def _model(self, name: str) -> Any:
        with self._model_lock:  # loaded once, by the first call that needs it
            if name not in self._models:
                from exbert.models import load

                self._models[name] = load(name)
            return self._models[name]

    def close(self) -> None:
        for part in self.parts:
            part.close()


def _error(exc: ExbertError) -> tuple[str, str, dict[str, Any]]:
    return type(exc).__name__, exc.message, dict(exc.details)


def _raise(error: tuple[str, str, dict[str, Any]]) -> None:
    from exbert import errors

    name, message, details = error
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ExbertError)):
        cls = CorpusError
    try:
        raised = cls(message, **details)
    except TypeError:
        raised = CorpusError(message)
    raise raised


class RayPart:
    """One shard in a :class:`ShardHost` actor, with the part protocol (see the module
    docstring): every public method is the shard's own, called in the actor."""

    def __init__(self, ray: Any, actor: Any, index: int, label: str) -> None:
        self._ray, self._actor, self._index, self._label = ray, actor, index, label

    @property
    def files(self) -> Any:
        raise AttributeError("a shard served by Ray has no files in this process")

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def remote(*args: Any, **kwargs: Any) -> Any:
            return self._call(method, args, kwargs)

        return remote

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        model_name: str | None = None
        if method in ("rows", "max_attention"):
            args, kwargs, model_name = _without_model(method, args, kwargs)
        try:
            status, value = self._ray.get(self._actor.call.remote(
                self._index, method, args, kwargs, model_name))
        except Exception as exc:  # the actor is gone for good, or Ray failed
            first = (str(exc).strip().splitlines() or [""])[0]
            raise CorpusError(f"shard {self._label} is unavailable on Ray "
                              f"({type(exc).__name__}: {first})") from None
        if status == "error":
            _raise(value)
        return value

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing: an actor already gone is fine
            self._ray.get(self._actor.call.remote(self._index, "close", (), {}))


# the position of the ``model`` argument of the part methods that take one
_MODEL_ARG = {"rows": 5, "max_attention": 3}


def _without_model(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any], str | None]:
    """The call's arguments without its model (which stays here): the model's name instead,
    for the actor to load once."""
    pos = _MODEL_ARG[method]
    kwargs = dict(kwargs)
    if len(args) > pos:
        model = args[pos]
        args = (*args[:pos], None, *args[pos + 1:])
    else:
        model = kwargs.pop("model", None)
        kwargs["model"] = None
    return args, kwargs, None if model is None else str(model.info.name)


def _with_model(method: str, args: tuple[Any, ...], kwargs: dict[str, Any], model: Any
                ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    pos = _MODEL_ARG[method]
    if len(args) > pos:
        return (*args[:pos], model, *args[pos + 1:]), kwargs
    return args, {**kwargs, "model": model}


def ray_part_factory(ray: Any, verify: str = "auto"
                     ) -> Callable[[list[CorpusManifest], Path], list[RayPart]]:
    """A ``part_factory`` whose parts live in Ray actors (see the module docstring)."""

    def factory(shards: list[CorpusManifest], path: Path) -> list[RayPart]:
        host = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS,
                          num_cpus=ACTOR_CPUS, max_concurrency=ACTOR_THREADS,
                          scheduling_strategy="SPREAD")(ShardHost)
        parts: list[RayPart] = []
        groups = math.ceil(len(shards) / SHARDS_PER_ACTOR)
        for g in range(groups):
            mine = shards[g * SHARDS_PER_ACTOR:(g + 1) * SHARDS_PER_ACTOR]
            actor = host.remote(str(path.resolve()), mine, verify)
            for i, m in enumerate(mine):
                parts.append(RayPart(ray, actor, i, f"{path.name}/{m.raw.get('data_dir')}"))
        # every actor opened its shards (or says why not) before the corpus is used
        for part in parts[::SHARDS_PER_ACTOR]:
            part.counts()
        return parts

    return factory
