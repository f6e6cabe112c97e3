"""Guards every request passes before any route runs (pure ASGI, so bodies are never buffered
whole): Host allow-list (DNS rebinding), same-origin for state-changing requests (no CORS at
all), an access token when serving beyond loopback, and a request body size limit."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exbert.errors import PayloadTooLarge

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_COOKIE = "exbert_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK_HOSTS or host.startswith("127.")


def split_host(value: str) -> str:
    """``host[:port]`` -> host (IPv6 in brackets kept without them)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Guard:
    allowed_hosts: frozenset[str]
    token: str | None
    max_body_bytes: int


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._check(scope, headers)
        if problem is not None:
            status, type_, message = problem
            await _reply(send, status, type_, message)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.guard.max_body_bytes):
            await _reply(send, 413, "PayloadTooLarge", self._too_large())
            return
        if self.guard.token is not None and self._query_token(scope):
            send = self._set_cookie(send)
        await self.app(scope, self._limited(receive, send), send)

    def _set_cookie(self, send: Send) -> Send:
        """A browser that opened ``/?token=...`` keeps the token in an HttpOnly cookie, so the
        app's own API calls carry it."""
        assert self.guard.token is not None
        cookie = f"{TOKEN_COOKIE}={self.guard.token}; Path=/; HttpOnly; SameSite=Strict"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message["headers"], (b"set-cookie", cookie.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    @staticmethod
    def _query_token(scope: Scope) -> list[str]:
        return parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = split_host(headers.get("host", ""))
        if host not in self.guard.allowed_hosts:
            return 400, "BadHost", f"host {host!r} is not served here"
        if scope["method"] not in SAFE_METHODS and "origin" in headers:
            origin = headers["origin"]
            parts = urlsplit(origin) if origin != "null" else None
            if parts is None or split_host(parts.netloc) not in self.guard.allowed_hosts:
                return 403, "ForeignOrigin", f"requests from origin {origin!r} are refused"
        if self.guard.token is not None and not self._has_token(scope, headers):
            return 401, "Unauthorized", "this server needs its access token (see its start-up log)"
        return None

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.guard.token is not None
        offered: list[str] = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            jar.load(headers["cookie"])
            if TOKEN_COOKIE in jar:
                offered.append(jar[TOKEN_COOKIE].value)
        offered.extend(self._query_token(scope))
        return any(hmac.compare_digest(o.encode(), self.guard.token.encode()) for o in offered)

    def _too_large(self) -> str:
        return f"request body over {self.guard.max_body_bytes} bytes"

    def _limited(self, receive: Receive, send: Send) -> Receive:
        seen = 0
        limit = self.guard.max_body_bytes

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(self._too_large())
            return message

        return wrapped


async def _reply(send: Send, status: int, type_: str, message: str) -> None:
    body = orjson.dumps(
        {"error": {"type": type_, "message": message, "status": status, "details": {}}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    hosts = set(LOOPBACK_HOSTS) | {h.lower() for h in extra}
    if bind_host not in ("0.0.0.0", "::", ""):
        hosts.add(split_host(bind_host))
    return frozenset(hosts)


