"""API-key check of the local server, as a pure ASGI middleware.

A pure ASGI middleware (not ``BaseHTTPMiddleware``) so that SSE responses
stream unbuffered. Keys are compared in constant time; the key never appears
in a response or a log line.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

__all__ = ["APIKeyMiddleware", "error_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MISSING = (
    "Missing API key: send it as 'Authorization: Bearer <key>' or 'X-Auth-Key: <key>' "
    "(the key this server was started with)"
)
# Julep's own wording for a wrong key.
_WRONG = "Could not validate API KEY"


def error_body(message: str, status: int, *, code: str | None = None, type: str = "http_error"):
    """The JSON error object Julep sends: ``{"error": {"message", "code", "type"}}``."""
    return {"error": {"message": message, "code": code or f"http_{status}", "type": type}}


def _presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        lname = name.lower()
        if lname in (b"authorization", b"x-auth-key"):
            value = value.strip()
            # Julep strips a "Bearer " prefix from either header.
            if value[:7].lower() == b"bearer ":
                value = value[7:].strip()
            return value
    return None


class APIKeyMiddleware:
    """Require ``Authorization: Bearer <key>`` or ``X-Auth-Key: <key>`` on HTTP requests.

    No header: 401. A wrong key: 403 (as Julep). Paths in ``open_paths`` need no key.
    """

    def __init__(self, app: ASGIApp, api_key: str, *, open_paths: Collection[str] = ()) -> None:
        self.app = app
        self._key = api_key.encode()
        self._open = frozenset(open_paths)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(open_paths={sorted(self._open)!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope["headers"])
        if not presented:
            await _reject(send, 401, _MISSING)
        elif not hmac.compare_digest(presented, self._key):
            await _reject(send, 403, _WRONG)
        else:
            await self.app(scope, receive, send)


async def _reject(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(message, status)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
