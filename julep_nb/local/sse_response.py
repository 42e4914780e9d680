"""The local server's ``text/event-stream`` response: the body streams in the request's task.

Starlette's ``StreamingResponse`` runs its body and a disconnect listener as two
tasks in an anyio task group, which costs more than the rest of a short status
stream. :class:`EventStreamResponse` streams in the request's own task and starts
one plain asyncio task that waits for the client to go away; if it does while the
body is still streaming, the request's task is cancelled and the response ends
quietly, exactly as Starlette's does (the generator's ``finally`` runs either way,
so a stream's subscription is always removed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Final

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["SSE_HEADERS", "EventStreamResponse"]

SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """An SSE response whose body ends when the client disconnects."""

    def __init__(
        self, events: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(
            events, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:  # pragma: no cover - not served here
            await super().__call__(scope, receive, send)
            return
        streaming = True
        gone = False

        async def wait_for_disconnect() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if streaming:  # once the body has ended, the request's task is not ours to stop
                gone = True
                task.cancel()

        watcher = asyncio.get_running_loop().create_task(wait_for_disconnect())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+ counts cancels
            if not gone or (uncancel is not None and uncancel() > 0):
                raise  # cancelled from elsewhere (shutdown): let it propagate
        finally:
            streaming = False
            watcher.cancel()
        close = getattr(self.body_iterator, "aclose", None)
        if gone and close is not None:
            await close()  # a body stopped at a `yield` releases its subscription now
