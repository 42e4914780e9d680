"""An httpx transport to an embedded server in the same process, without sockets.

A notebook's embedded server runs on its own thread and loop. Over loopback TCP
each request costs the client httpx's connection pool, a socket write and read and
several system calls, and the server uvicorn's parsing, which together cost more
CPU than the server spends running a whole short execution. This transport hands
a plain request to the server's ASGI app on the server's own loop
(``run_coroutine_threadsafe``, through httpx's :class:`~httpx.ASGITransport`) and
awaits its answer: the same app, routes, authentication and errors, no sockets.

Event streams (paths ending in ``.stream``) still go over TCP: ``ASGITransport``
returns a response only once its body is complete, and a live stream must be read
as it arrives. So do all requests once the server has stopped, which then fail as
any unreachable server does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["InProcessTransport"]


class InProcessTransport(httpx.AsyncBaseTransport):
    """Requests to ``app`` run on ``loop`` (the server's); streams go over the network."""

    def __init__(
        self, app: ASGIApp, loop: asyncio.AbstractEventLoop, *, limits: httpx.Limits | None = None
    ) -> None:
        self._app = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = loop
        self._limits = limits or httpx.Limits()  # of the network transports
        # Network transports hold sockets of the loop that opened them: one per loop.
        self._network: dict[asyncio.AbstractEventLoop, httpx.AsyncHTTPTransport] = {}

    def __repr__(self) -> str:
        return f"<InProcessTransport running={self._loop.is_running()}>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".stream") or not self._loop.is_running():
            return await self._over_network().handle_async_request(request)
        await request.aread()  # the body, as bytes the server's loop may read
        try:
            answer = asyncio.run_coroutine_threadsafe(
                self._app.handle_async_request(request), self._loop
            )
        except RuntimeError as exc:  # the server's loop closed under us
            raise httpx.ConnectError(f"the embedded server has stopped ({exc})") from exc
        return await asyncio.wrap_future(answer)

    def _over_network(self) -> httpx.AsyncHTTPTransport:
        loop = asyncio.get_running_loop()
        network = self._network.get(loop)
        if network is None:
            for dead in [old for old in self._network if old.is_closed()]:
                del self._network[dead]
            network = self._network[loop] = httpx.AsyncHTTPTransport(limits=self._limits)
        return network

    async def aclose(self) -> None:
        network = self._network.pop(asyncio.get_running_loop(), None)
        if network is not None:
            await network.aclose()
