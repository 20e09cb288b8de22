"""ASGI guards in front of the API: a bearer token and a request body size limit.

Plain ASGI middlewares (no framework state): the token check runs before routing, so no
endpoint is reachable without it, and the comparison is constant-time. The token is never
logged or echoed.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024  # a search body; CQL2 JSON with a detailed polygon fits easily


async def _reply(send: Send, status: int, code: str, description: str, headers: list[tuple[bytes, bytes]] = []) -> None:
    body = json.dumps({"code": code, "description": description}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BearerToken:
    """Every HTTP request needs ``Authorization: Bearer <token>``; otherwise 401."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await _reply(send, 401, "Unauthorized", "this server needs an `Authorization: Bearer <token>` header",
                             [(b"www-authenticate", b'Bearer realm="eoharvest"')])  # fmt: skip
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Request bodies over ``max_bytes`` get 413, whether declared (Content-Length) or counted.

    The body is read here first (a search body is small) and replayed to the app, so a
    chunked body over the limit is refused before any of it is parsed."""

    def __init__(self, app: App, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"the request body is over the {self.max_bytes}-byte limit"
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _reply(send, 413, "PayloadTooLarge", too_large)
            return
        messages: list[dict[str, Any]] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _reply(send, 413, "PayloadTooLarge", too_large)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
