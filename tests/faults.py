"""Small real HTTP servers on loopback that misbehave on purpose.

:class:`FaultServer` speaks just enough HTTP/1.1 (one request per connection) for
httpx, and lets a handler decide every byte of the answer, so tests can drop a
stream mid-chunk, close it cleanly, dribble bytes, or never close at all. Every
request is recorded (``server.requests``) so tests count retries server-side.

Handlers must be bounded (no endless loops); the server cancels any still
running when the ``async with`` block ends. Scenario helpers below build the
handlers used by the client and SSE tests; other test packages reuse them::

    async with FaultServer(sse_replay(transition_events(5), drop_every=2)) as server:
        ...  # server.base_url, server.requests
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FaultServer",
    "Handler",
    "Request",
    "Responder",
    "closed_port_url",
    "format_event",
    "json_reply",
    "python_repr_stream",
    "routes",
    "sse_replay",
    "status_events",
    "transition_dicts",
    "transition_events",
]

MAX_REQUEST_BYTES = 1 << 20
MAX_HANDLER_SECONDS = 10.0  # no handler outlives this, whatever it was asked to do


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Responder:
    """Writes one response; SSE responses are chunked unless ``chunked=False``."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._chunked = False

    async def send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        """A complete JSON response (``body=None`` sends ``null``)."""
        data = json.dumps(body).encode()
        await self.send_raw(status, data, {"Content-Type": "application/json", **(headers or {})})

    async def send_raw(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        """A complete response with a Content-Length."""
        head = {**headers, "Content-Length": str(len(data)), "Connection": "close"}
        self._writer.write(_head(status, head) + data)
        await self._writer.drain()

    async def start_stream(
        self,
        *,
        status: int = 200,
        content_type: str = "text/event-stream",
        chunked: bool = True,
    ) -> None:
        """Start a streamed body: chunked, or delimited by closing the connection."""
        self._chunked = chunked
        headers = {"Content-Type": content_type, "Cache-Control": "no-store", "Connection": "close"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        self._writer.write(_head(status, headers))
        await self._writer.drain()

    async def send(self, data: bytes | str) -> None:
        """Part of a streamed body."""
        raw = data.encode() if isinstance(data, str) else data
        if self._chunked:
            raw = f"{len(raw):x}\r\n".encode() + raw + b"\r\n"
        self._writer.write(raw)
        await self._writer.drain()

    async def end(self) -> None:
        """End a streamed body cleanly (a clean close for the client)."""
        if self._chunked:
            self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()
        self._writer.close()

    async def drop(self) -> None:
        """Close mid-body: a chunked body without its last chunk is a broken stream."""
        await self._writer.drain()
        self._writer.close()


Handler = Callable[[Request, Responder], Awaitable[None]]


class LoopbackServer:
    """A TCP server on ``127.0.0.1:<ephemeral>`` whose connections end when it closes.

    Subclasses implement :meth:`handle`, one call per connection.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self: _S) -> _S:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        finally:
            self._tasks.discard(task)


_S = TypeVar("_S", bound=LoopbackServer)


class FaultServer(LoopbackServer):
    """A loopback HTTP server on an ephemeral port running ``handler`` per request."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self._handler = handler
        self.requests: list[Request] = []

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matched ``method`` and ``path`` (``None``: any)."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is not None:
                self.requests.append(request)
                async with asyncio.timeout(MAX_HANDLER_SECONDS):
                    await self._handler(request, Responder(writer))
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    size = min(int(headers.get("content-length", "0")), MAX_REQUEST_BYTES)
    body = await reader.readexactly(size) if size else b""
    parts = urlsplit(target)
    return Request(method, parts.path, dict(parse_qsl(parts.query)), headers, body)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized"}


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------------- payloads

EXECUTION_ID = "00000000-0000-4000-8000-00000000e1ec"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def transition_dicts(n: int, execution_id: str = EXECUTION_ID) -> list[dict[str, Any]]:
    """``n`` valid JSON transitions: init, steps…, finish (``n >= 2``)."""
    types = ["init"] + ["step"] * (n - 2) + ["finish"]
    return [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "execution_id": execution_id,
            "type": kind,
            "output": {"i": i, "text": "héllo ✓"},
            "current": {"workflow": "main", "step": i, "scope_id": None},
            "next": None if kind == "finish" else {"workflow": "main", "step": i + 1},
            "created_at": (T0 + timedelta(milliseconds=i)).isoformat(),
            "metadata": {"step_type": "evaluate"},
        }
        for i, kind in enumerate(types)
    ]


def format_event(
    data: str, *, id: str | None = None, event: str | None = None, retry: int | None = None
) -> str:
    """One SSE event block, ending in the blank line that dispatches it."""
    out = ""
    if event:
        out += f"event: {event}\n"
    if id is not None:
        out += f"id: {id}\n"
    if retry is not None:
        out += f"retry: {retry}\n"
    out += "".join(f"data: {line}\n" for line in data.split("\n"))
    return out + "\n"


def transition_events(n: int, execution_id: str = EXECUTION_ID) -> list[tuple[str, str]]:
    """``(id, data)`` pairs: the ``n`` transitions as the local server streams them."""
    return [(str(i + 1), json.dumps(t)) for i, t in enumerate(transition_dicts(n, execution_id))]


def status_events(statuses: Sequence[str], execution_id: str = EXECUTION_ID) -> list[str]:
    """Status-stream payloads (no ids, as Julep sends them)."""
    return [
        json.dumps(
            {
                "execution_id": execution_id,
                "status": status,
                "updated_at": (T0 + timedelta(seconds=i)).isoformat(),
                "error": None,
                "transition_count": i,
                "metadata": {},
            }
        )
        for i, status in enumerate(statuses)
    ]


# ---------------------------------------------------------------------- handlers


def sse_replay(
    events: Sequence[tuple[str, str]],
    *,
    drop_every: int | None = None,
    clean_close: bool = False,
    comment_after: bool = False,
    split_last: bool = False,
    close_at_end: bool = True,
    idle_after: float = 0.0,
) -> Handler:
    """An SSE endpoint that replays ``(id, data)`` events after ``Last-Event-ID``.

    ``drop_every=k`` ends each connection after k events: broken mid-body, or with
    a clean close when ``clean_close``; ``comment_after`` sends a ``: ping`` block
    after each event (httpx-sse's phantom event); ``split_last`` sends half of the
    next event before dropping; ``idle_after`` stays silent that long before closing.
    """
    ids = [event_id for event_id, _ in events]

    async def handler(request: Request, reply: Responder) -> None:
        last = request.headers.get("last-event-id")
        start = ids.index(last) + 1 if last in ids else 0
        await reply.start_stream(chunked=not clean_close)
        sent = 0
        for event_id, data in events[start:]:
            if drop_every and sent == drop_every:
                if split_last:
                    await reply.send(format_event(data, id=event_id)[:20])
                await (reply.end() if clean_close else reply.drop())
                return
            await reply.send(format_event(data, id=event_id))
            if comment_after:
                await reply.send(": ping\n\n")
            sent += 1
        if idle_after:
            await asyncio.sleep(idle_after)
        if close_at_end:
            await reply.end()

    return handler


def python_repr_stream(count: int = 3) -> Handler:
    """Hosted Julep's transitions.stream: Python-repr payloads, never closing (bounded)."""

    async def handler(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        for i in range(count):
            payload = {
                "transition": {"type": "step", "output": None, "created_at": T0.isoformat()},
                "next_page_token": None if i == count - 1 else f"tok{i}",
            }
            await reply.send(format_event(repr(payload)))
        await asyncio.sleep(MAX_HANDLER_SECONDS)

    return handler


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    """Always the same JSON response."""

    async def handler(request: Request, reply: Responder) -> None:
        await reply.send_json(status, body, headers)

    return handler


def routes(table: dict[tuple[str, str], Handler], fallback: Handler | None = None) -> Handler:
    """Dispatch on ``(method, path)``; unknown routes answer 404 in Julep's shape."""

    async def handler(request: Request, reply: Responder) -> None:
        chosen = table.get((request.method, request.path), fallback)
        if chosen is None:
            body = {"error": {"message": "Not Found", "code": "http_404", "type": "http_error"}}
            await reply.send_json(404, body)
            return
        await chosen(request, reply)

    return handler
