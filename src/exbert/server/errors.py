"""Every error leaves the server in one JSON shape, mapped here and only here::

    {"error": {"type": "TextTooLong", "message": "...", "status": 422, "details": {...}}}
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from exbert.errors import ExbertError, QueueFull
from exbert.server.responses import JSONBytes

log = logging.getLogger(__name__)


def error_body(type_: str, message: str, status: int, **details: Any) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "status": status, "details": details}}


def error_response(
    type_: str, message: str, status: int, headers: dict[str, str] | None = None, **details: Any
) -> JSONBytes:
    return JSONBytes(error_body(type_, message, status, **details), status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append({"field": where, "problem": str(err.get("msg", "invalid"))})
    text = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems[:5])
    return f"invalid request: {text}", problems


# Details that name server files (folders, rebuild commands with paths): never sent.
PRIVATE_DETAILS = frozenset({"path", "rebuild_command", "input", "folder", "location", "source",
                             "cache"})


def server_paths(state: Any) -> dict[str, str]:
    """``{server path: what clients are told instead}``: each served corpus's folder (its
    name), each served model's local source (its name), then the folders under which other
    server files live (home, caches, the Python prefix, the working and temporary folders)."""
    import os
    import sys
    import tempfile

    out: dict[str, str] = {}
    for name, corpus in dict(getattr(state, "all_corpora", {}) or {}).items():
        folder = getattr(corpus, "path", None)
        if folder:
            out[str(folder)] = f"corpus {name!r}"
    for name, model in dict(getattr(state, "models", {}) or {}).items():
        # a model still loading (ModelSlot) has `_info`, maybe None: never wait for it here
        info = model._info if hasattr(model, "_info") else getattr(model, "info", None)
        source = str(getattr(info, "source", "") or "")
        where = source.split(":", 1)[-1]
        if where.startswith(os.sep):
            out[where] = f"model {name!r}"
    roots = {os.path.expanduser("~"), os.environ.get("EXBERT_CACHE", ""),
             os.environ.get("XDG_CACHE_HOME", ""), sys.prefix, sys.base_prefix, os.getcwd(),
             tempfile.gettempdir()}
    for root in roots:
        if len(root) > 1:  # never "/" or ""
            out.setdefault(os.path.realpath(root), "<server>")
            out.setdefault(root, "<server>")
    return out


def scrub(text: str, paths: dict[str, str]) -> str:
    """``text`` with every server path (and the rest of a path below it) replaced by what
    clients are told instead, longest first."""
    for path in sorted(paths, key=len, reverse=True):
        if path in text:
            pattern = re.escape(path) + _BELOW
            text = re.sub(pattern, paths[path].replace("\\", "\\\\"), text)
    return text


# The rest of a path after a server folder: nothing, or "/" and more (a name never continues).
_BELOW = r"(?![\w.-])(?:/[^\s'\":,;]*)?"


def public_error(exc: ExbertError, state: Any) -> dict[str, Any]:
    """What a client sees of ``exc``: its type, status, message and details, with no server
    path (see :func:`server_paths`)."""
    body = exc.to_dict()
    paths = server_paths(state)
    body["message"] = scrub(str(body["message"]), paths)
    body["details"] = {
        k: scrub(v, paths) if isinstance(v, str) else v
        for k, v in dict(body.get("details") or {}).items() if k not in PRIVATE_DETAILS
    }
    return body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExbertError)
    async def _exbert(request: Request, exc: ExbertError) -> JSONBytes:
        headers = None
        if isinstance(exc, QueueFull):  # the memory budget's 503 says how long to wait
            headers = {"Retry-After": str(int(exc.details.get("retry_after", 1)))}
        state = getattr(request.app.state, "exbert", None)
        return JSONBytes({"error": public_error(exc, state)}, exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONBytes:
        message, problems = _validation_message(exc)
        return error_response("InvalidRequest", message, 422, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONBytes:
        names = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed",
                 413: "PayloadTooLarge"}
        type_ = names.get(exc.status_code, "HTTPError")
        message = exc.detail if isinstance(exc.detail, str) else type_
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        return error_response(type_, message, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONBytes:
        log.exception("unexpected error")
        return error_response("InternalError", "internal error; see the server log", 500)
