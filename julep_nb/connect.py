"""Where executions come from by default: settings, or the embedded local server.

The one module that chooses: with a Julep base URL or key configured (arguments,
``JULEP_BASE_URL``, ``JULEP_API_KEY``), requests go there; with neither, to a
process-wide embedded local server, started on first use, and reached without
sockets except for event streams (:mod:`julep_nb.local.inprocess`). The HTTP client
below never starts a server; :class:`Client` here is that client with this choice
made.

``run`` and ``watch`` are the public entry points of the Python API::

    async with julep_nb.Client() as client:
        handle = await julep_nb.run(task_id, {"x": 1}, client=client)
        state = await handle
    handle = julep_nb.watch(execution_id)                       # Julep, by default
    handle = julep_nb.watch(workflow_id, source=temporal_source)  # any ExecutionSource
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import ExecutionSource
from julep_nb.live.state import reduce
from julep_nb.sources.julep.client import Client as HTTPClient
from julep_nb.sources.julep.connection import POOL_LIMITS
from julep_nb.sources.julep.errors import JulepError, TransportError
from julep_nb.sources.julep.source import JulepSource

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer

__all__ = ["Client", "default_client", "run", "shared_local_server", "source_for", "watch"]

_local_lock = threading.Lock()
_local_server: LocalServer | None = None


def shared_local_server() -> LocalServer:
    """The process-wide embedded local server, started on first use (blocking)."""
    global _local_server
    with _local_lock:
        if _local_server is None:
            from julep_nb.local.server import start

            _local_server = start()
            atexit.register(_local_server.stop)
        return _local_server


class Client(HTTPClient):
    """The Julep client; with nothing configured, the embedded local server."""

    async def ensure_base_url(self) -> str:
        """The base URL, starting the embedded local server when nothing is configured."""
        if self.settings.base_url is None:
            try:
                server = await asyncio.to_thread(shared_local_server)
            except JulepError:
                raise
            except Exception as exc:
                raise TransportError(
                    f"Could not start the embedded local server ({type(exc).__name__}: {exc}). "
                    "Set JULEP_BASE_URL (and JULEP_API_KEY) to use a Julep server instead."
                ) from exc
            self.settings = self.settings.with_base_url(server.base_url, server.api_key)
            if self._transport is None:  # requests in-process, streams over loopback
                self._transport = server.transport(limits=POOL_LIMITS)
            self._pools.clear()
        return await super().ensure_base_url()


_default_lock = threading.Lock()
_default: Client | None = None


def default_client() -> Client:
    """The process-wide :class:`Client` built from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def source_for(client: HTTPClient | None = None) -> JulepSource:
    """The Julep source of ``client`` (default: :func:`default_client`)."""
    return JulepSource(client if client is not None else default_client())


async def run(
    task_id: str,
    input: Mapping[str, Any] | None = None,
    *,
    client: HTTPClient | None = None,
    metadata: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> ExecutionHandle:
    """Start an execution of ``task_id`` and watch it; ``await`` the handle for the result."""
    source = source_for(client)
    execution = await source.client.create_execution(task_id, input or {}, metadata=metadata)
    handle = ExecutionHandle(execution.id, source=source, key=key, initial=reduce(None, execution))
    handle.start()
    return handle


def watch(
    execution_id: str,
    *,
    client: HTTPClient | None = None,
    source: ExecutionSource | None = None,
    key: str | None = None,
) -> ExecutionHandle:
    """A handle on an existing execution; watching starts now if a loop runs, else on wait.

    ``source`` is any :class:`~julep_nb.live.source.ExecutionSource` (Temporal,
    Thand…); without one, the Julep ``client`` (default: :func:`default_client`).
    """
    if source is not None and client is not None:
        raise ValueError("watch() takes a client (Julep) or a source, not both")
    chosen = source if source is not None else source_for(client)
    return ExecutionHandle(execution_id, source=chosen, key=key).start_if_running()
