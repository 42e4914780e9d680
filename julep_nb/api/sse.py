"""A reconnecting Server-Sent Events reader on httpx-sse.

:class:`EventStream` opens an SSE response with an :class:`httpx.AsyncClient` and
yields :class:`httpx_sse.ServerSentEvent` objects. Decoding is httpx-sse's own
line and event decoders; this module adds what a long-lived live view needs:

- reconnects with exponential backoff and jitter, never sooner than the server's
  ``retry:`` field asks, and carries ``Last-Event-ID`` across reconnects;
- drops the empty "phantom" events httpx-sse 0.4.3 produces for a comment block
  after an ``id:`` line (the spec never dispatches an event with no data);
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
import codecs
import random
from collections.abc import AsyncGenerator, Callable, Mapping
from types import TracebackType
from typing import Any, Final

import httpx
from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from julep_nb.api._http import (
    ERROR_BODY_BYTES,
    SNIPPET_CHARS,
    http_error,
    read_limited,
    retry_after,
    secret_from_headers,
)
from julep_nb.api.config import redact
from julep_nb.api.errors import APIError, StreamError, TransportError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_READ_TIMEOUT",
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


class _Retryable(Exception):
    """A response worth another connection attempt (429, 5xx)."""

    def __init__(self, error: APIError, floor: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.floor = floor


class EventStream:
    """Server-sent events from one URL, reconnecting until the stream really ends.

    Iterate with ``async for``; close with ``aclose()`` or ``async with``::

        async with EventStream(http, "GET", url, end_on_close=False) as events:
            async for event in events:
                ...

    ``last_event_id`` is the id to resume from; ``connections`` counts responses.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
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
        self._client = client
        self._method = method
        self._url = url
        self._headers = dict(headers or {})
        self._params = dict(params) if params else None
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._timeout = _stream_timeout(client.timeout, read_timeout)
        self._end_on_close = end_on_close
        self._secret = secret_from_headers(client.headers, self._headers)
        self.last_event_id: str | None = last_event_id or None
        self.retry: float | None = None  # the server's ``retry:``, in seconds
        self.connections = 0
        self.last_event: ServerSentEvent | None = None
        self._events = self._run()

    @property
    def url(self) -> str:
        """The stream's URL with any key masked."""
        return redact(str(self._client.build_request(self._method, self._url).url), self._secret)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerSentEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Close the current response, if any; iteration then stops."""
        await self._events.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"EventStream({self._method} {self.url}, last_event_id={self.last_event_id!r})"

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> AsyncGenerator[ServerSentEvent, None]:
        failures = 0  # consecutive connections that delivered no event
        reached = False  # whether any response ever came back
        last_error: BaseException | None = None
        floor: float | None = None
        while True:
            delivered = 0
            try:
                async with self._client.stream(
                    self._method,
                    self._url,
                    headers=self._request_headers(),
                    params=self._params,
                    timeout=self._timeout,
                ) as response:
                    reached = True
                    self.connections += 1
                    if not await self._accept(response):
                        return
                    async for event in self._read(response):
                        delivered += 1
                        self.last_event = event
                        yield event
                if self._closed_for_good():
                    return
                last_error, floor = None, None
            except _Retryable as exc:
                last_error, floor = exc.error, exc.floor
            except httpx.TransportError as exc:
                # Connect errors, read timeouts (the heartbeat watchdog) and a peer
                # that hangs up mid-body all mean "try again".
                last_error, floor = exc, None
            failures = 0 if delivered else failures + 1
            if failures >= self._max_attempts:
                raise self._give_up(failures, last_error, reached)
            await asyncio.sleep(self._delay(failures, floor))

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
            error = http_error(response, body, self._secret)
            if status == 429 or status >= 500 or status == 408:
                raise _Retryable(error, retry_after(response.headers))
            raise error
        content_type = response.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "text/event-stream":
            snippet = await read_limited(response, SNIPPET_CHARS)
            text = redact(snippet.decode("utf-8", "replace")[:SNIPPET_CHARS], self._secret)
            raise StreamError(
                f"Expected text/event-stream from {self.url}, got "
                f"{content_type or 'no content type'}: {text!r}. "
                "Check that the URL names an event stream (…/status.stream)."
            )
        return True

    async def _read(self, response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
        # Spec 9.2.6: the stream is always UTF-8, and one leading BOM is ignored
        # ("utf-8-sig"); a fresh event decoder per connection drops a half-read
        # event, as the spec requires when the stream ends mid-event.
        text_decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        lines = SSELineDecoder()
        decoder = SSEDecoder()
        ids_here = False
        async for chunk in response.aiter_bytes():
            for line in lines.decode(text_decoder.decode(chunk)):
                event = decoder.decode(line)
                if event is None:
                    continue
                ids_here = self._note(event, ids_here)
                if event.data:
                    yield event
        for line in lines.decode(text_decoder.decode(b"", final=True)) + lines.flush():
            event = decoder.decode(line)
            if event is not None:
                ids_here = self._note(event, ids_here)
                if event.data:
                    yield event

    def _note(self, event: ServerSentEvent, ids_here: bool) -> bool:
        """Record ``retry:`` and ``id:``; returns whether this connection set an id."""
        if event.retry is not None:
            self.retry = event.retry / 1000
        if event.id:
            self.last_event_id = event.id
            return True
        if ids_here:
            # httpx-sse keeps the id across events, so an empty id after a set one
            # is an explicit ``id:`` reset (spec 9.2.6): resume from the start.
            self.last_event_id = None
        return ids_here

    def _closed_for_good(self) -> bool:
        rule = self._end_on_close
        return rule(self.last_event) if callable(rule) else bool(rule)

    def _delay(self, failures: int, floor: float | None) -> float:
        ceiling = min(self._max_backoff, self._backoff * 2 ** max(failures - 1, 0))
        # "Equal jitter": at least half the backoff, so retries stay spread out.
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        # Spec 9.2.3: the server's ``retry:`` sets the reconnection time.
        return max(delay, self.retry or 0.0, floor or 0.0)

    def _give_up(self, failures: int, error: BaseException | None, reached: bool) -> Exception:
        cause = (
            redact(f"{type(error).__name__}: {error}", self._secret)
            if error
            else "the server closed it at once"
        )
        if isinstance(error, httpx.ReadTimeout):
            cause = f"no data (not even a ping) for {self._timeout.read} s"
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


# ---------------------------------------------------------------------- helpers


def _stream_timeout(base: httpx.Timeout, read: float | None) -> httpx.Timeout:
    return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)
