"""The app factory: ``create_app(models, corpora=..., config=...)``. No module-level state:
everything a route needs hangs off the app it was built for."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from exbert.errors import InvalidRequest, UnknownCorpus, UnknownModel
from exbert.server.errors import install_error_handlers
from exbert.server.inference import InferenceQueue
from exbert.server.payload import MEDIA_TYPE, chosen_layers, encode_frame, header_with_attention
from exbert.server.responses import JSONBytes
from exbert.server.schemas import (
    AnalysisOut,
    AnalyzeIn,
    CorporaOut,
    CorpusInfoOut,
    ErrorOut,
    HealthOut,
    ModelInfoOut,
    ModelsOut,
    SearchIn,
    SearchOut,
)
from exbert.server.security import Guard, SecurityMiddleware, allowed_hosts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

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


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "unreadable request (body not UTF-8 JSON, unknown host)"),
        (401, "missing access token"),
        (404, "unknown model or corpus"),
        (413, "request body too large"),
        (422, "invalid input (empty, too long, bad mask...)"),
        (503, "queue full; retry after the Retry-After seconds"),
    )
}


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
    models: Mapping[str, Model]
    corpora: Mapping[str, Any]
    config: ServerConfig
    queue: InferenceQueue
    cache: AnalysisCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = AnalysisCache(self.config.cache_bytes)

    def model(self, name: str) -> Model:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(
                f"unknown model {name!r}; this server has: {', '.join(self.models) or 'none'}",
                model=name,
            ) from None

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
        try:
            return self.corpora[name]
        except KeyError:
            raise UnknownCorpus(
                f"unknown corpus {name!r}; this server has: {', '.join(self.corpora) or 'none'}",
                corpus=name,
            ) from None


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


def _check_layers(layers: list[int] | None, n_layers: int) -> None:
    if layers is not None and any(not 0 <= i < n_layers for i in layers):
        raise InvalidRequest(
            f"layers must be between 0 and {n_layers - 1}", layers=layers, n_layers=n_layers
        )


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

    @router.get("/health", response_model=HealthOut)
    async def health(request: Request) -> dict[str, Any]:
        s = state_of(request)
        return {
            "status": "ok",
            "models": list(s.models),
            "corpora": list(s.corpora),
            "pending": s.queue.pending,
        }

    @router.get("/models", response_model=ModelsOut)
    async def models(request: Request) -> dict[str, Any]:
        return {"models": [m.info.to_dict() for m in state_of(request).models.values()]}

    @router.get("/models/{name}", response_model=ModelInfoOut)
    async def model_info(request: Request, name: str) -> dict[str, Any]:
        return state_of(request).model(name).info.to_dict()

    @router.post(
        "/analyze",
        response_model=AnalysisOut,
        responses={
            200: {
                "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                "description": "the binary frame (default) or, with format=json, JSON",
            }
        },
    )
    async def analyze(
        request: Request,
        body: AnalyzeIn,
        format: Literal["binary", "json"] = Query("binary"),
    ) -> Response:
        s = state_of(request)
        _check_layers(body.layers, s.model(body.model).info.layers)
        if format == "binary":
            _, frame = await s.analyze(body, lambda a: encode_frame(a, body.layers))
            return Response(frame, media_type=MEDIA_TYPE)
        analysis, _ = await s.analyze(body, attention_dtype="float32")
        chosen = chosen_layers(analysis, body.layers)
        header = header_with_attention(analysis, chosen)
        header["attention"]["dtype"] = "float32"
        header["attention"]["data"] = analysis.attentions[chosen].round(5).tolist()
        return JSONBytes(header)

    @router.get("/corpora", response_model=CorporaOut)
    async def corpora(request: Request) -> dict[str, Any]:
        return {"corpora": [corpus_info(c) for c in state_of(request).corpora.values()]}

    @router.get("/corpora/{name}", response_model=CorpusInfoOut)
    async def corpus_detail(request: Request, name: str) -> dict[str, Any]:
        return corpus_info(state_of(request).corpus(name))

    @router.get("/corpora/{name}/heads")
    async def head_ranking(
        request: Request, name: str, top: int = Query(10, ge=1, le=1000)
    ) -> dict[str, Any]:
        """Head discovery: every layer x head ranked by how often its max attention falls on
        a linguistic relation over the corpus."""
        ranking: dict[str, Any] = state_of(request).corpus(name).head_ranking().to_dict(top=top)
        return ranking

    @router.post("/search", response_model=SearchOut)
    async def search(request: Request, body: SearchIn) -> dict[str, Any]:
        """The corpus tokens nearest to token ``token`` of the analysed text."""
        from exbert.search import search as run_search

        s = state_of(request)
        model, corpus = s.model(body.model), s.corpus(body.corpus)
        req = AnalyzeIn(model=body.model, text=body.text, text_b=body.text_b, mask=body.mask,
                        top_k=0, layers=None)

        def find(analysis: Analysis) -> dict[str, Any]:
            result = run_search(
                model, corpus, analysis, body.token, body.layer, by=body.by, heads=body.heads,
                k=body.k, filters=body.filters, exact=body.exact, window=body.window,
                special_attention=body.special_attention,
            )
            out: dict[str, Any] = result.to_dict()
            out["query"] = {"text": body.text, "text_b": body.text_b, "token": body.token,
                            "token_text": analysis.tokens[body.token].text}
            return out

        _, found = await s.analyze(req, find)
        assert found is not None
        return found

    return router


def _static_dir(config: ServerConfig) -> Path:
    if config.static_dir is not None:
        return config.static_dir
    return Path(str(resources.files("exbert").joinpath("static")))


MISSING_FRONTEND = """<!doctype html><meta charset="utf-8"><title>exbert</title>
<h1>exbert</h1><p>The browser app is not built. Run <code>make install</code> (it builds
<code>frontend/</code> into the package), then restart <code>exbert serve</code>.
The API is up: <a href="/api/models">/api/models</a>.</p>"""


def _document_names(app: FastAPI, models: list[str], corpora: list[str]) -> None:
    """Put this server's model and corpus names into the schema as examples, so clients and
    schema-driven tools see names that exist."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for component in schema.get("components", {}).get("schemas", {}).values():
                props = component.get("properties", {})
                if "model" in props and models:
                    props["model"]["examples"] = models
                if "corpus" in props and corpora:
                    props["corpus"]["examples"] = corpora
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    models: Mapping[str, Model],
    *,
    corpora: Mapping[str, Any] | None = None,
    config: ServerConfig | None = None,
) -> FastAPI:
    """Build the app for already-loaded ``models`` (name -> Model) and ``corpora``."""
    config = config or ServerConfig()
    queue = InferenceQueue(workers=config.workers, max_pending=config.max_pending)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        queue.shutdown()

    app = FastAPI(
        title="exbert",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the docs UI would load scripts from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.exbert = AppState(dict(models), dict(corpora or {}), config, queue)
    _document_names(app, list(models), list(corpora or {}))
    install_error_handlers(app)
    app.include_router(api_router())
    static = _static_dir(config)
    if (static / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static, html=True), name="static")
    else:

        @app.get("/", include_in_schema=False)
        async def missing() -> HTMLResponse:
            return HTMLResponse(MISSING_FRONTEND)

    guard = Guard(
        allowed_hosts=allowed_hosts(config.host, config.extra_hosts),
        token=config.token,
        max_body_bytes=config.max_body_bytes,
    )
    app.add_middleware(SecurityMiddleware, guard=guard)
    return app
