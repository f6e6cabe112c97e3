"""The app factory: ``create_app(models, corpora=..., config=...)``. No module-level state:
everything a route needs hangs off the app it was built for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from exbert._version import __version__
from exbert.server.analyses import analyses_router
from exbert.server.errors import install_error_handlers
from exbert.server.inference import InferenceQueue
from exbert.server.lazy import ModelSlot, start_warm_up
from exbert.server.lenses import lenses_router
from exbert.server.routes import api_router
from exbert.server.security import Guard, SecurityMiddleware, allowed_hosts
from exbert.server.state import AppState, ServerConfig
from exbert.view import hidden_to_layer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from exbert.models import Model

__all__ = ["ServerConfig", "create_app"]


def _static_dir(config: ServerConfig) -> Path:
    if config.static_dir is not None:
        return config.static_dir
    return Path(str(resources.files("exbert").joinpath("static")))


MISSING_FRONTEND = """<!doctype html><meta charset="utf-8"><title>exbert</title>
<h1>exbert</h1><p>The browser app is not built. Run <code>make install</code> (it builds
<code>frontend/</code> into the package), then restart <code>exbert serve</code>.
The API is up: <a href="/api/models">/api/models</a>.</p>"""


EXAMPLE_TEXT = "The cat sat on the mat."


def _examples(models: Mapping[str, Model], corpora: Mapping[str, Any]) -> dict[str, Any]:
    """Request examples that exist on this server: model and corpus names, and a search of
    a served corpus with its own model (so that schema-driven tools reach every route)."""
    out: dict[str, Any] = {"model": list(models), "corpus": list(corpora)}
    for name, corpus in corpora.items():
        manifest = getattr(corpus, "manifest", None)
        model = getattr(getattr(manifest, "model", None), "name", None)
        # from the manifest: the schema must not wait for a corpus to open
        stored = getattr(manifest, "layers", None) or ()
        layers = [v for v in map(hidden_to_layer, stored) if isinstance(v, int)]
        if model in models and layers:
            out["search"] = {"model": model, "corpus": name, "text": EXAMPLE_TEXT, "token": 1,
                             "layer": max(layers), "by": "embedding", "k": 5}
            break
    return out


def _document_names(app: FastAPI, examples_of: Callable[[], dict[str, Any]]) -> None:
    """Put this server's model and corpus names (and a search that works) into the schema as
    examples, so clients and schema-driven tools see names that exist. Computed on the first
    request of the schema (the corpora may not be open before)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_examples(generate(), examples_of())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_examples(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    names = {"model": examples["model"], "corpus": examples["corpus"]}
    paths = {"/api/models/{name}": "model", "/api/corpora/{name}": "corpus",
             "/api/corpora/{name}/heads": "corpus"}

    components = schema.get("components", {}).get("schemas", {})
    for component in components.values():
        props = component.get("properties", {})
        for key, values in names.items():
            if key in props and values:
                props[key]["examples"] = values
    if "search" in examples and "SearchIn" in components:
        components["SearchIn"]["examples"] = [examples["search"]]
    for path, key in paths.items():
        for op in schema.get("paths", {}).get(path, {}).values():
            for param in op.get("parameters", []):
                if param.get("name") == "name" and names[key]:
                    param["examples"] = {v: {"value": v} for v in names[key]}
    return schema


def create_app(
    models: Mapping[str, Model | ModelSlot],
    *,
    corpora: Mapping[str, Any] | None = None,
    config: ServerConfig | None = None,
) -> FastAPI:
    """Build the app for ``models`` (name -> Model, or a :class:`ModelSlot` that loads in the
    background) and ``corpora`` (name -> Corpus, or a ``ServedCorpus`` opened on first use).
    The app's start (its lifespan) begins loading what is still to load, on a thread."""
    config = config or ServerConfig()
    queue = InferenceQueue(workers=config.workers, max_pending=config.max_pending)

    state = AppState(cast("dict[str, Model]", dict(models)), dict(corpora or {}), config, queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        start_warm_up(state.models, state.all_corpora)  # models still loading, corpora
        yield
        state.warmer.cancel()
        queue.shutdown()

    app = FastAPI(
        title="exbert",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,  # the docs UI would load scripts from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.exbert = state
    _document_names(app, lambda: _examples(state.models, state.corpora))
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(analyses_router())
    app.include_router(lenses_router())
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
