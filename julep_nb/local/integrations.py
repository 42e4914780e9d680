"""Integration handlers: Python functions that answer Julep ``integration`` tool calls.

Usage (in a notebook cell, before or while executions run)::

    import julep_nb.local

    def search(arguments, setup):
        return {"results": my_search(arguments["query"], key=setup.get("api_key"))}

    julep_nb.local.register_integration("brave", "search", search)

A call of an integration tool (``{type: integration, integration: {provider,
method?, setup?, arguments?}}``) runs the handler registered for its provider and
method, else the one registered for the provider with ``method=None``; the
handler gets the call's arguments (overridden by the tool's own ``arguments``, as
in Julep) and the tool's ``setup``, and its return value is the tool result.
Sync handlers run in a worker thread, async ones on the server's event loop.
With no handler, the execution pauses (``awaiting_input``) with the call as its
output, like a ``function`` tool, and the resume input becomes the result. The
one built-in provider is Julep's ``dummy``, whose result is the arguments.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = [
    "Handler",
    "find_integration",
    "register_integration",
    "registered_integrations",
    "run_integration",
    "unregister_integration",
]

Handler = Callable[[dict[str, Any], dict[str, Any]], Any]
H = TypeVar("H", bound=Handler)

_handlers: dict[tuple[str, str | None], Handler] = {}
_lock: Final = threading.Lock()


def register_integration(provider: str, method: str | None, fn: H) -> H:
    """Answer calls of ``provider``'s ``method`` (every method: ``None``) with ``fn``.

    ``fn(arguments, setup)`` may be sync or async and returns the tool result
    (JSON data). Registering again replaces the handler. Returns ``fn``.
    """
    if not isinstance(provider, str) or not provider:
        raise ValueError(f"provider must be a non-empty string such as 'brave', got {provider!r}")
    if method is not None and not isinstance(method, str):
        raise ValueError(f"method must be a string or None (every method), got {method!r}")
    if not callable(fn):
        raise TypeError(f"the handler of {provider}.{method} must be callable, got {fn!r}")
    with _lock:
        _handlers[(provider, method)] = fn
    return fn


def unregister_integration(provider: str, method: str | None = None) -> bool:
    """Remove a handler; whether there was one."""
    with _lock:
        return _handlers.pop((provider, method), None) is not None


def registered_integrations() -> list[tuple[str, str | None]]:
    """The ``(provider, method)`` pairs that have a handler."""
    with _lock:
        return sorted(_handlers, key=lambda pair: (pair[0], pair[1] or ""))


def find_integration(provider: str, method: str | None) -> Handler | None:
    """The handler for ``provider``/``method``, falling back to the provider's catch-all."""
    with _lock:
        return _handlers.get((provider, method)) or _handlers.get((provider, None))


async def run_integration(
    handler: Handler, arguments: dict[str, Any], setup: dict[str, Any]
) -> Any:
    """Call ``handler`` (sync ones in a thread, so a slow one does not stall the server)."""
    if inspect.iscoroutinefunction(handler):
        return await handler(arguments, setup)
    result = await asyncio.to_thread(handler, arguments, setup)
    if inspect.isawaitable(result):
        result = await result
    return result
