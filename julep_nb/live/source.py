"""What the live layer needs from an execution service: the ``ExecutionSource`` protocol.

A source turns its service's wire format into the neutral events of
:mod:`julep_nb.live.events` and its failures into :mod:`julep_nb.live.errors`. The
watcher uses exactly this surface:

- :meth:`~ExecutionSource.snapshot`: the execution now, as events, with a cursor;
- :meth:`~ExecutionSource.follow`: a live :class:`EventStream` from a cursor, which
  may raise :class:`~julep_nb.live.errors.StreamUnavailable` (the watcher then polls)
  and ends when the service closes it (the watcher reopens it from its cursor);
- :meth:`~ExecutionSource.poll`: the events since a cursor, one request's worth;
- the actions it declares in :attr:`~ExecutionSource.capabilities`; the others raise
  :class:`~julep_nb.live.errors.ActionUnsupported` (:class:`SourceBase` does that).

Cursors are the source's own, opaque to the watcher: an SSE id, a history event id.
Events may repeat across a reconnect; the reducer drops what it has already seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from julep_nb.live.errors import ActionUnsupported
from julep_nb.live.events import Capability, Event

__all__ = [
    "EventStream",
    "ExecutionSource",
    "ListableSource",
    "Snapshot",
    "SourceBase",
    "unsupported",
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Events that bring a state up to date, and where to go on from."""

    events: tuple[Event, ...]
    cursor: Any = None


@runtime_checkable
class EventStream(Protocol):
    """A live stream of one execution's events; close it with :meth:`aclose`."""

    name: str  # what the watcher reports as its strategy, e.g. "transitions-stream"
    cursor: Any  # where a new stream resumes, after the last event yielded
    complete: bool  # the stream proved that every entry up to a final one was sent

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ExecutionSource(Protocol):
    """An execution service the watcher can follow and a handle can steer."""

    name: str  # names the service in messages: "Julep", "Temporal"
    capabilities: frozenset[Capability]

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        """The execution now. With a cursor, what is already known may be skipped."""
        ...

    def follow(self, execution_id: str, *, cursor: Any = None) -> EventStream:
        """Events as they happen, after ``cursor``."""
        ...

    async def poll(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        """What changed since ``cursor`` (may repeat events)."""
        ...

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None: ...

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None: ...

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None: ...

    async def query(self, execution_id: str, name: str, *args: Any) -> Any: ...

    async def resume(self, execution_id: str, input: Mapping[str, Any]) -> None: ...


@runtime_checkable
class ListableSource(Protocol):
    """A source that can list its executions, newest first (Temporal, Thand)."""

    name: str
    filterable: bool  # whether list() takes a query (Temporal's visibility queries)

    async def list(self, query: str | None = None, *, limit: int = 100) -> Any:
        """Summaries that render as a table; a query where ``filterable`` says so."""
        ...


def unsupported(
    source: ExecutionSource | SourceBase, action: Capability, *, execution_id: str | None = None
) -> ActionUnsupported:
    """The error for an action ``source`` does not offer, naming what it does offer."""
    offered = ", ".join(sorted(c.value for c in source.capabilities)) or "none"
    which = f" (execution {execution_id})" if execution_id else ""
    return ActionUnsupported(
        f"{source.name} executions cannot {action.value}{which}: {source.name} offers {offered}."
    )


class SourceBase:
    """Actions a source does not declare raise a clear :class:`ActionUnsupported`."""

    name = "this source"
    capabilities: frozenset[Capability] = frozenset()

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        raise unsupported(self, Capability.CANCEL)

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None:
        raise unsupported(self, Capability.TERMINATE)

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        raise unsupported(self, Capability.SIGNAL)

    async def query(self, execution_id: str, name: str, *args: Any) -> Any:
        raise unsupported(self, Capability.QUERY)

    async def resume(self, execution_id: str, input: Mapping[str, Any]) -> None:
        raise unsupported(self, Capability.RESUME)
