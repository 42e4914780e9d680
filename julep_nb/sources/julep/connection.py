"""The HTTP side of the Julep client: pools per event loop, retries, errors.

:class:`Connection` owns the httpx clients (one pool per event loop), the per-loop
gate on requests in flight, the retry policy (idempotent requests again after a
transport error or a retryable status, with the backoff of :mod:`backoff`), and how
failures become the :mod:`errors` tree with the key redacted.
:class:`~julep_nb.sources.julep.client.Client` adds one method per endpoint.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import httpx
import pydantic

from julep_nb._version import __version__
from julep_nb.live.sync import running_loop
from julep_nb.sources.julep._http import (
    MAX_RETRY_AFTER,
    body_json,
    http_error,
    parse_model,
    retry_after,
)
from julep_nb.sources.julep.backoff import backoff_delay, retryable_status
from julep_nb.sources.julep.config import (
    NOT_GIVEN,
    Settings,
    _NotGiven,
    mask_key,
    redact,
    resolve_settings,
)
from julep_nb.sources.julep.errors import APIError, ConfigError, TransportError
from julep_nb.sources.julep.paging import check_limit, paginate

__all__ = ["MAX_BACKOFF", "Connection", "Retry"]

MAX_BACKOFF: Final = 8.0

Retry = Literal["auto", "idempotent", "once", "never"]
"""When a request is sent again: ``idempotent`` after any transient failure, ``once``
only if it never reached the server, ``never`` not at all (a probe), ``auto`` by method."""
M = TypeVar("M", bound=pydantic.BaseModel)
C = TypeVar("C", bound="Connection")


POOL_LIMITS: Final = httpx.Limits(max_connections=None, max_keepalive_connections=20)
"""Each live watcher holds one streaming connection, so the pool must not cap them at
httpx's default of 100; it keeps few idle ones, since httpcore scans every pooled
connection on each request."""


class Connection:
    """Requests to one Julep server, from any event loop, with retries."""

    def __init__(
        self,
        base_url: str | None | _NotGiven = NOT_GIVEN,
        api_key: str | None = None,
        environment: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        settings: Settings | None = None,
        extensions: bool | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be at least 1 (requests in flight), not {max_concurrency!r}"
            )
        self.settings = settings or resolve_settings(
            base_url=base_url, api_key=api_key, environment=environment
        )
        self.max_retries = max_retries
        self.backoff = backoff
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._transport = transport
        # httpx connections belong to the loop that opened them, so each event loop
        # gets its own pool: a script's successive asyncio.run() calls, or a
        # private loop in a thread beside the kernel's, never share sockets.
        self._pools: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        # Requests (not streams) in flight per loop: past a few dozen queued at once,
        # httpcore's pool spends more CPU rescanning its queue than sending.
        self.max_concurrency = max_concurrency
        self._gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._task_update_method = "PUT"
        # julep_nb's extension routes (local/bulk_routes.py): None = ask a loopback
        # server once whether it has them, True = ask any server, False = never use them.
        self.extensions = extensions
        self._extensions: frozenset[str] | None = None  # what the server said it has

    @property
    def base_url(self) -> str | None:
        """The server's base URL (``None`` until the embedded server has started)."""
        return self.settings.base_url

    def __repr__(self) -> str:
        where = self.settings.base_url or "(embedded local server)"
        return f"Client(base_url={where!r}, api_key={mask_key(self.settings.api_key)!r})"

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the shared local server keeps running)."""
        loop = running_loop()
        http = self._pools.pop(loop, None) if loop is not None else None
        self._pools.clear()  # pools of other loops cannot be closed from this one
        if http is not None:
            await http.aclose()

    async def ensure_base_url(self) -> str:
        """The base URL; a client with none configured refuses to guess."""
        if self.settings.base_url is None:
            raise ConfigError(
                "No Julep server is configured: set JULEP_BASE_URL (and JULEP_API_KEY), "
                "or pass base_url=... . julep_nb.Client() starts the embedded local "
                "server when nothing is configured."
            )
        return self.settings.base_url

    # ------------------------------------------------------------ plumbing

    async def http_ready(self) -> httpx.AsyncClient:
        """:meth:`http` once the base URL is known (the local server started)."""
        await self.ensure_base_url()
        return self.http()

    def http(self) -> httpx.AsyncClient:
        """The httpx client for the running event loop (created on first use)."""
        loop = asyncio.get_running_loop()
        http = self._pools.get(loop)
        if http is None:
            for dead in [old for old in self._pools if old.is_closed()]:
                del self._pools[dead]  # its sockets died with their loop
                self._gates.pop(dead, None)
            headers = {"Accept": "application/json", "User-Agent": f"julep_nb/{__version__}"}
            if self.settings.api_key:
                headers["Authorization"] = f"Bearer {self.settings.api_key}"
            self._gates[loop] = asyncio.Semaphore(self.max_concurrency)
            http = self._pools[loop] = httpx.AsyncClient(
                base_url=self.settings.base_url or "",
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                limits=POOL_LIMITS,
            )
        return http

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: Retry = "auto",
    ) -> Any:
        """Send a request (with retries) and return its JSON body (``None`` if empty)."""
        http = await self.http_ready()
        gate = self._gates[asyncio.get_running_loop()]  # made with the loop's pool
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        policy = retry if retry != "auto" else ("once" if method == "POST" else "idempotent")
        attempt = 0
        while True:
            try:
                async with gate:  # held for the exchange only, not for a retry's wait
                    response = await http.request(
                        method, path, json=json, content=content, params=params, headers=headers
                    )
            except httpx.TransportError as exc:
                if attempt < self.max_retries and policy != "never" and _may_resend(exc, policy):
                    attempt += 1
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                raise self._unreachable(exc, method, path, policy) from exc
            if response.is_success:
                return body_json(response, self.settings.api_key)
            wait = retry_after(response.headers)
            if (
                attempt < self.max_retries
                and policy == "idempotent"
                and retryable_status(response.status_code)
                and (wait is None or wait <= MAX_RETRY_AFTER)
            ):
                attempt += 1
                await asyncio.sleep(self._delay(attempt, wait))
                continue
            raise http_error(response, response.content, self.settings.api_key)

    async def _list(
        self, model: type[M], path: str, limit: int | None, params: dict[str, Any]
    ) -> list[M]:
        check_limit(limit)

        async def fetch(size: int, offset: int) -> Sequence[M]:
            data = await self._json("GET", path, params={**params, "limit": size, "offset": offset})
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise self._unexpected(path, "a list response without 'items'", data)
            return [parse_model(model, item, model.__name__) for item in items]

        return [item async for item in paginate(fetch, limit=limit)]

    def _delay(self, attempt: int, floor: float | None) -> float:
        return backoff_delay(attempt, base=self.backoff, ceiling=MAX_BACKOFF, floor=floor)

    def _unreachable(
        self, exc: httpx.TransportError, method: str, path: str, policy: str
    ) -> TransportError:
        key = self.settings.api_key
        url = redact(f"{self.settings.base_url}{path}", key)
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        maybe = " The request may have been applied." if sent and policy == "once" else ""
        return TransportError(
            f"Could not reach the Julep server at {redact(str(self.settings.base_url), key)} "
            f"({method} {url} failed with {redact(what, key)}).{maybe} "
            "Is the server running? Set JULEP_BASE_URL (or pass base_url=...) to point at it."
        )

    def _unexpected(self, path: str, what: str, data: Any) -> APIError:
        url = redact(f"{self.settings.base_url}{path}", self.settings.api_key)
        snippet = redact(json.dumps(data, default=str)[:200], self.settings.api_key)
        return APIError(f"Unexpected response: {what}: {snippet}", status=200, url=url, body=data)


def _may_resend(exc: httpx.TransportError, policy: str) -> bool:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True  # nothing reached the server: safe even for a POST
    transient = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    return policy != "once" and isinstance(exc, transient)
