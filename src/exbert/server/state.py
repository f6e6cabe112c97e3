"""What a running server holds: its configuration, the loaded models and corpora, the
inference queue, the memory budget and the analyses kept by id. One :class:`AppState` per app (no
module-level state); routes reach it with :func:`state_of`."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from exbert.errors import NotFound, UnknownAnalysis, UnknownCorpus, UnknownModel
from exbert.server.budget import DEFAULT_CACHE_BYTES, MemoryBudget, default_budget, plan
from exbert.server.inference import InferenceQueue
from exbert.server.lazy import loading
from exbert.server.schemas import AnalyzeIn
from exbert.server.warm import Warmer
from exbert.view import MAX_TEXT_CHARS

if TYPE_CHECKING:
    from exbert.analysis import Analysis
    from exbert.models import Model


R = TypeVar("R")
Attention = Literal["auto", "full", "lazy"]


def _default_max_body() -> int:
    """Two texts of :data:`~exbert.view.MAX_TEXT_CHARS` characters, each escaped in JSON at
    worst (``\\uXXXX``: 6 bytes a character; UTF-8 itself needs at most 4), and the rest."""
    return 2 * 6 * MAX_TEXT_CHARS + 64 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """``cache_bytes``: the analyses kept by id (their arrays, or a lazy one's recorded
    queries and keys); ``memory_budget_bytes``: the peak memory of the analyses admitted at
    once (``exbert serve --memory-budget``; default half of the physical memory)."""

    host: str = "127.0.0.1"
    port: int = 5050
    token: str | None = None
    extra_hosts: tuple[str, ...] = ()
    max_body_bytes: int = field(default_factory=_default_max_body)
    workers: int = 1
    max_pending: int = 64
    cache_bytes: int = DEFAULT_CACHE_BYTES
    memory_budget_bytes: int = field(default_factory=default_budget)
    static_dir: Path | None = None


def analysis_bytes(a: Analysis) -> int:
    """What keeping ``a`` costs: the engine's own count (a lazy analysis: its recorded queries
    and keys and the arrays it keeps), else the bytes of the arrays it holds."""
    counted = getattr(a, "nbytes", None)
    if counted is not None:
        return int(counted)
    arrays = (a.attentions, a.hidden_states, a.contexts)
    return int(sum(x.nbytes for x in arrays if x is not None))


def answer_bytes(value: Any) -> int:
    """The bytes of a remembered answer (bytes, a memoryview, a numpy array)."""
    counted = getattr(value, "nbytes", None)
    return int(counted) if counted is not None else len(value)


@dataclass
class _Entry:
    key: tuple[Any, ...]
    analysis: Analysis
    size: int  # the analysis' own bytes
    answers: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    answered: int = 0  # the answers' bytes

    def drop_oldest_answer(self) -> int:
        _, value = self.answers.popitem(last=False)
        n = answer_bytes(value)
        self.answered -= n
        return n


class AnalysisCache:
    """Analyses by id (``secrets.token_urlsafe``: unguessable), and by request (a repeated
    request answers from here), bounded by their bytes (:func:`analysis_bytes`): the least
    recently used go first. The newest always stays, even alone over the budget: its id
    must work right after its answer (the memory budget admitted it).

    Each analysis also keeps the answers computed from it (:meth:`remember`: the lens
    routes' JSON, frames and arrays), counted in the same budget and dropped with it. An
    analysis costs a forward pass to get back, an answer some arithmetic: past the budget the
    answers of the other analyses go first (least recently used first), then the analyses, then
    the newest analysis' older answers (its last one stays)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._by_key: dict[tuple[Any, ...], str] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The kept analyses' bytes and their answers'."""
        return self._bytes

    @property
    def answers_nbytes(self) -> int:
        """The remembered answers' bytes (part of :attr:`nbytes`)."""
        with self._lock:
            return sum(e.answered for e in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def find(self, key: tuple[Any, ...]) -> tuple[str, Analysis] | None:
        """The analysis of a request seen before, and its id."""
        with self._lock:
            analysis_id = self._by_key.get(key)
            if analysis_id is None:
                return None
            self._items.move_to_end(analysis_id)
            return analysis_id, self._items[analysis_id].analysis

    def __contains__(self, analysis_id: object) -> bool:
        with self._lock:
            return analysis_id in self._items

    def get(self, analysis_id: str) -> Analysis:
        """The analysis ``analysis_id``; :class:`UnknownAnalysis` (404) when not kept."""
        return self._entry(analysis_id).analysis

    def model_name(self, analysis_id: str) -> str:
        """The name the model of ``analysis_id`` is served under (the one its request named)."""
        return str(self._entry(analysis_id).key[0])

    def _entry(self, analysis_id: str) -> _Entry:
        with self._lock:
            entry = self._items.get(analysis_id)
            if entry is None:
                raise UnknownAnalysis(
                    "unknown analysis id (the server keeps recent analyses only, and not "
                    "across restarts): analyse the text again", analysis_id=analysis_id[:64])
            self._items.move_to_end(analysis_id)
            return entry

    def put(self, key: tuple[Any, ...], analysis: Analysis, analysis_id: str) -> None:
        size = analysis_bytes(analysis)
        with self._lock:
            old = self._items.pop(analysis_id, None)
            if old is not None:
                self._bytes -= old.size + old.answered
            self._items[analysis_id] = _Entry(key, analysis, size)
            self._by_key[key] = analysis_id
            self._bytes += size
            self._evict(self.budget)

    def answer(self, analysis_id: str, key: Hashable) -> Any | None:
        """The answer remembered for ``key`` of analysis ``analysis_id``, or None."""
        with self._lock:
            entry = self._items.get(analysis_id)
            value = entry.answers.get(key) if entry is not None else None
            if entry is not None and value is not None:
                entry.answers.move_to_end(key)
                self._items.move_to_end(analysis_id)
            return value

    def remember(self, analysis_id: str, key: Hashable, value: Any) -> None:
        """Keep ``value`` (bytes, memoryview, numpy array) as the answer for ``key`` of analysis
        ``analysis_id`` (nothing when it is no longer kept), within the budget."""
        with self._lock:
            entry = self._items.get(analysis_id)
            if entry is None:
                return
            old = entry.answers.pop(key, None)
            delta = answer_bytes(value) - (answer_bytes(old) if old is not None else 0)
            entry.answers[key] = value
            entry.answered += delta
            self._bytes += delta
            self._items.move_to_end(analysis_id)
            self._evict(self.budget)

    def remeasure(self) -> None:
        """Count again what the kept analyses hold (a lazy analysis grows by the layer
        summaries and block summaries computed for it), evicting past the budget."""
        with self._lock:
            for entry in self._items.values():
                entry.size = analysis_bytes(entry.analysis)
            self._bytes = sum(e.size + e.answered for e in self._items.values())
            self._evict(self.budget)

    def trim(self, limit: int) -> None:
        """Drop answers and the least recently used analyses until at most ``limit`` bytes
        stay (the newest analysis and its last answer stay): cached analyses give way to the
        work the memory budget admits."""
        with self._lock:
            self._evict(min(limit, self.budget))

    def _evict(self, limit: int) -> None:
        if self._bytes <= limit or not self._items:
            return
        newest = next(reversed(self._items))
        for analysis_id, entry in self._items.items():  # other analyses' answers first
            while analysis_id != newest and entry.answers and self._bytes > limit:
                self._bytes -= entry.drop_oldest_answer()
        while self._bytes > limit and len(self._items) > 1:
            analysis_id, entry = self._items.popitem(last=False)
            self._bytes -= entry.size + entry.answered
            if self._by_key.get(entry.key) == analysis_id:
                del self._by_key[entry.key]
        last = self._items[newest]
        while self._bytes > limit and len(last.answers) > 1:
            self._bytes -= last.drop_oldest_answer()


def new_analysis_id() -> str:
    return secrets.token_urlsafe(18)


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
    budget: MemoryBudget = field(init=False)
    warmer: Warmer = field(init=False)

    def __post_init__(self) -> None:
        self.cache = AnalysisCache(self.config.cache_bytes)
        self.budget = MemoryBudget(self.config.memory_budget_bytes)
        self.warmer = Warmer(self.queue, self.cache)

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
        self, req: AnalyzeIn, then: Callable[[Analysis, str], R] | None = None,
        attention_dtype: Literal["float32", "float16"] = "float16",
        keep_positions: tuple[int, ...] = (),
    ) -> tuple[str, Analysis, R | None]:
        """The analysis of ``req`` (cached, or admitted by the memory budget and run on the
        queue), its id, and ``then(analysis, id)`` computed in the same worker hop (e.g.
        encoding the frame off the event loop). Attentions are kept as float16 (what the
        frame sends) unless asked otherwise. ``keep_positions``: the tokens whose hidden states
        and contexts a lazy analysis must keep (search); a cached analysis that lacks them is
        not reused."""
        model = self.model(req.model)
        mask = tuple(sorted(set(req.mask)))
        key = (req.model, req.text, req.text_b, mask, req.top_k, req.attention, attention_dtype)
        cached = self.cache.find(key)
        if cached is not None and not _keeps(cached[1], keep_positions):
            cached = None
        if cached is not None:
            analysis_id, analysis = cached
            extra = await self.queue.run(then, analysis, analysis_id) if then else None
            return analysis_id, analysis, extra

        # the exact token count first, on the thread pool (tokenising 400,000 characters takes
        # a while; a fast tokenizer encodes from several threads), then the admission by the
        # peak memory the analysis adds, before it waits for the queue
        n_tokens = await run_in_threadpool(_count_tokens, model, req)
        mode, need = plan(model.info, n_tokens, req.attention)
        analysis_id = new_analysis_id()

        what = f"an analysis of {n_tokens} tokens ({mode} attention, {model.info.name})"
        ticket = self.budget.admit(need, what)

        def work() -> tuple[Analysis, R | None]:
            if not ticket.begin():  # its client is gone
                raise asyncio.CancelledError
            try:
                analysis = model.analyze(
                    req.text, text_b=req.text_b, mask=req.mask, top_k=req.top_k,
                    attention=mode, attention_dtype=attention_dtype,
                    keep_positions=keep_positions,
                )
                if analysis.lazy is not None:  # the layer on screen: its overview is ready
                    analysis.layer_summary(req.layers[0] if req.layers else 0)
                return analysis, then(analysis, analysis_id) if then is not None else None
            finally:
                ticket.release()

        try:
            self.cache.trim(self.budget.free)
            analysis, extra = await self.queue.run(work)
        finally:
            ticket.abandon()
        self.cache.put(key, analysis, analysis_id)
        self.warmer.start(analysis_id, analysis)  # the other layers' summaries, meanwhile
        return analysis_id, analysis, extra

    def analysis(self, analysis_id: str) -> Analysis:
        """A kept analysis by id (404 :class:`UnknownAnalysis` when not kept)."""
        return self.cache.get(analysis_id)

    def model_of(self, analysis_id: str) -> Model:
        """The served model that made the kept analysis ``analysis_id`` (the name its request
        gave): its ``info`` at once, anything else waits for it to load (off the event loop)."""
        return self.model(self.cache.model_name(analysis_id))

    def corpus(self, name: str) -> Any:
        return _named(self.corpora, name, UnknownCorpus, "corpus")


def _keeps(analysis: Analysis, positions: tuple[int, ...]) -> bool:
    """Whether ``analysis`` has the hidden states and contexts of ``positions``."""
    return analysis.positions is None or set(positions) <= set(analysis.positions)


def _count_tokens(model: Model, req: AnalyzeIn) -> int:
    """The tokens ``req`` has (its errors: empty, too long... as the analysis gives them)."""
    from exbert.analysis.encode import encode

    return len(encode(model, req.text, req.text_b).input_ids)


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
