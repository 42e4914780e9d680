"""A reconnecting Server-Sent Events reader on httpx-sse.

:class:`EventStream` opens an SSE response with an :class:`httpx.AsyncClient` and
yields httpx-sse's :class:`~httpx_sse.ServerSentEvent` objects, decoded by the pure,
incremental :class:`SSEParser`. On top of httpx-sse's model it adds what a
long-lived live view needs:

- reconnects with exponential backoff and jitter, never sooner than the server's
  ``retry:`` field asks, and carries ``Last-Event-ID`` across reconnects;
- no empty "phantom" events: httpx-sse 0.4.3 yields one for a comment block after
  an ``id:`` line, but the spec never dispatches an event with no data;
- treats a stream silent for longer than ``read_timeout`` (a few missed pings) as
  dropped, through httpx's read timeout, so there is no extra watchdog task;
- never retries a 4xx (401/403 → :class:`AuthError`) or a wrong content type
  (:class:`StreamError` naming what came back);
- gives up after ``max_attempts`` consecutive connections that delivered nothing,
  with :class:`StreamError` (or :class:`TransportError` when the server was never
  reached), so the caller can fall back to polling;
- ends cleanly when the server closes the stream, or reconnects, as the caller says
  with ``end_on_close``.

Spec references are to https://html.spec.whatwg.org/multipage/server-sent-events.html.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, Final, Generic, TypeVar

import httpx
from httpx_sse import ServerSentEvent

from julep_nb.sources.julep._http import (
    ERROR_BODY_BYTES,
    SNIPPET_CHARS,
    http_error,
    read_limited,
    retry_after,
    secret_from_headers,
)
from julep_nb.sources.julep.backoff import backoff_delay, retryable_status
from julep_nb.sources.julep.config import redact
from julep_nb.sources.julep.errors import APIError, StreamError, TransportError
from julep_nb.sources.julep.sse_parser import SSEParser

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_READ_TIMEOUT",
    "BaseEventStream",
    "EndOnClose",
    "EventStream",
    "ServerSentEvent",
    "sse_events",
]

DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_BACKOFF: Final = 0.5  # seconds before the first reconnect, doubled each time
DEFAULT_MAX_BACKOFF: Final = 30.0
# Julep pings every 15 s: three missed pings means the connection is dead.
DEFAULT_READ_TIMEOUT: Final = 45.0

EndOnClose = bool | Callable[[ServerSentEvent | None], bool]
"""Whether a clean close ends the stream: a bool, or a test of the last event seen."""

T = TypeVar("T")
S = TypeVar("S", bound="BaseEventStream[Any]")
ClientSource = httpx.AsyncClient | Callable[[], Awaitable[httpx.AsyncClient]]


class _Retryable(Exception):
    """A response worth another connection attempt (429, 5xx)."""

    def __init__(self, error: APIError, floor: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.floor = floor


class BaseEventStream(Generic[T]):
    """The reconnecting loop; subclasses say what an event becomes (``_convert``)."""

    def __init__(
        self,
        client: ClientSource,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        last_event_id: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        end_on_close: EndOnClose = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._http = client if isinstance(client, httpx.AsyncClient) else None
        self._open = None if isinstance(client, httpx.AsyncClient) else client
        self._method = method
        self._url = url
        self._headers = dict(headers or {})
        self._params = dict(params) if params else None
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._read_timeout = read_timeout
        self._end_on_close = end_on_close
        self.last_event_id: str | None = last_event_id or None
        self.connections = 0
        self._parser = SSEParser()
        self.last_event: ServerSentEvent | None = None
        self._items = self._run()

    def _convert(self, event: ServerSentEvent) -> tuple[T, bool]:
        """The item ``event`` becomes, and whether it is the last one."""
        raise NotImplementedError

    @property
    def retry(self) -> float | None:
        """The reconnection delay the server asked for with ``retry:``, in seconds."""
        return self._parser.retry

    @property
    def url(self) -> str:
        """The stream's URL with any key masked."""
        if self._http is None:
            return redact(self._url, secret_from_headers(self._headers))
        full = self._http.build_request(self._method, self._url, params=self._params).url
        return redact(str(full), self._secret())

    def __aiter__(self) -> AsyncGenerator[T, None]:
        # The generator itself, so ``async for`` pays for no extra Python frame.
        return self._items

    async def __anext__(self) -> T:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        """Close the current response, if any; iteration then stops."""
        await self._items.aclose()

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self._method} {self.url}, last_event_id={self.last_event_id!r})"

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> AsyncGenerator[T, None]:
        if self._http is None:
            assert self._open is not None
            self._http = await self._open()
        http = self._http
        timeout = httpx.Timeout(
            connect=http.timeout.connect,
            read=self._read_timeout,
            write=http.timeout.write,
            pool=http.timeout.pool,
        )
        failures = 0  # consecutive connections that delivered no event
        reached = False  # whether any response ever came back
        while True:
            delivered = 0
            error: BaseException | None = None
            floor: float | None = None
            try:
                async with http.stream(
                    self._method,
                    self._url,
                    headers=self._request_headers(),
                    params=self._params,
                    timeout=timeout,
                ) as response:
                    reached = True
                    self.connections += 1
                    if not await self._accept(response):
                        return  # 204
                    self._parser.reset(self.last_event_id)
                    async with aclosing(_batches(response, self._parser)) as batches:
                        async for events in batches:
                            for event in events:
                                delivered += 1
                                self.last_event, self.last_event_id = event, event.id or None
                                item, final = self._convert(event)
                                yield item
                                if final:
                                    return
                if self._closed_for_good():
                    return
            except _Retryable as exc:
                error, floor = exc.error, exc.floor
            except httpx.TransportError as exc:
                # Connect errors, read timeouts (the heartbeat watchdog) and a peer
                # that hangs up mid-body all mean "try again".
                error = exc
            failures = 0 if delivered else failures + 1
            if failures >= self._max_attempts:
                raise self._give_up(failures, error, reached, timeout.read)
            await asyncio.sleep(self._delay(failures, floor))

    def _secret(self) -> str | None:
        return secret_from_headers(self._http.headers if self._http else {}, self._headers)

    def _request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        headers.update(self._headers)
        # Spec 9.2.3 "reestablish the connection": send the last event ID, if any.
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    async def _accept(self, response: httpx.Response) -> bool:
        """Check status and content type; ``False`` means "stop, do not reconnect"."""
        status = response.status_code
        if status == 204:
            # Spec 9.2.3: a 204 No Content tells the client not to reconnect.
            return False
        if status != 200:
            body = await read_limited(response, ERROR_BODY_BYTES)
            error = http_error(response, body, self._secret())
            if retryable_status(status):
                raise _Retryable(error, retry_after(response.headers))
            raise error
        content_type = response.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "text/event-stream":
            snippet = await read_limited(response, SNIPPET_CHARS)
            text = redact(snippet.decode("utf-8", "replace")[:SNIPPET_CHARS], self._secret())
            raise StreamError(
                f"Expected text/event-stream from {self.url}, got "
                f"{content_type or 'no content type'}: {text!r}. "
                "Check that the URL names an event stream (…/status.stream)."
            )
        return True

    def _closed_for_good(self) -> bool:
        rule = self._end_on_close
        return rule(self.last_event) if callable(rule) else bool(rule)

    def _delay(self, failures: int, floor: float | None) -> float:
        # Spec 9.2.3: the server's ``retry:`` sets the reconnection time.
        floor = max(self.retry or 0.0, floor or 0.0)
        return backoff_delay(failures, base=self._backoff, ceiling=self._max_backoff, floor=floor)

    def _give_up(
        self, failures: int, error: BaseException | None, reached: bool, read: float | None
    ) -> Exception:
        if isinstance(error, httpx.ReadTimeout):
            cause = f"no data, not even a ping, for {read} s"
        elif error is not None:
            cause = redact(f"{type(error).__name__}: {error}", self._secret())
        else:
            cause = "the server closed it at once"
        if not reached:
            out: Exception = TransportError(
                f"Could not reach the event stream {self.url} after {failures} attempts "
                f"({cause}). Is the server running? Set JULEP_BASE_URL to point at it."
            )
        else:
            out = StreamError(
                f"Gave up on the event stream {self.url} after {failures} attempts "
                f"without an event ({cause}); fall back to polling."
            )
        out.__cause__ = error
        return out


async def _batches(response: httpx.Response, parser: SSEParser) -> AsyncGenerator[list[Any], None]:
    # One hop per network read, not per event: the events of a read come as a list.
    async for chunk in response.aiter_bytes():
        yield parser.feed(chunk)
    yield parser.close()


class EventStream(BaseEventStream[ServerSentEvent]):
    """Server-sent events from one URL, reconnecting until the stream really ends.

    Iterate with ``async for``; close with ``aclose()`` or ``async with``::

        async with EventStream(http, "GET", url, end_on_close=False) as events:
            async for event in events:
                ...

    ``last_event_id`` is the id to resume from; ``connections`` counts responses.
    """

    def _convert(self, event: ServerSentEvent) -> tuple[ServerSentEvent, bool]:
        return event, False


def sse_events(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    last_event_id: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    end_on_close: EndOnClose = True,
) -> EventStream:
    """Events from ``url``, reconnecting as :class:`EventStream` describes."""
    return EventStream(
        client,
        method,
        url,
        headers=headers,
        params=params,
        last_event_id=last_event_id,
        max_attempts=max_attempts,
        backoff=backoff,
        read_timeout=read_timeout,
        end_on_close=end_on_close,
    )
