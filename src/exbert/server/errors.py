"""Every error leaves the server in one JSON shape, mapped here and only here::

    {"error": {"type": "TextTooLong", "message": "...", "status": 422, "details": {...}}}
"""

from __future__ import annotations

import logging
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExbertError)
    async def _exbert(_: Request, exc: ExbertError) -> JSONBytes:
        headers = {"Retry-After": "1"} if isinstance(exc, QueueFull) else None
        return JSONBytes(
            {"error": exc.to_dict()}, exc.status, headers=headers
        )

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
