"""uvicorn's httptools protocol, with the writes of one loop turn sent together.

uvicorn writes a response's status line and headers as soon as the app starts
the response, then each body part: two ``send`` system calls (and two wake-ups
of the client) for every JSON answer, more for a short event stream. Here the
protocol's transport gathers what is written during one turn of the loop and
sends it with one call at the end of that turn (``call_soon``), before the loop
waits again, so nothing is delayed; closing the connection sends what is left.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]


class _TurnTransport:
    """A transport whose writes during one loop turn leave in one ``write``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._parts:
            self._loop.call_soon(self._flush)
        self._parts.append(data)

    def _flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._parts))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` on a :class:`_TurnTransport` (pass as ``uvicorn.Config(http=…)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_TurnTransport(transport, self.loop))  # type: ignore[arg-type]
