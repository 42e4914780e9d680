"""What the live layer needs from an execution service.

:class:`ExecutionSource` is the whole surface the watcher and handles use. The Julep
client (:class:`julep_nb.sources.julep.client.Client`) satisfies it; another service of the same
shape (get, list transitions, stream status, cancel, resume) can be watched by
implementing these six methods.

Errors follow :mod:`julep_nb.sources.julep.errors`: a stream that cannot be used raises
:class:`~julep_nb.sources.julep.errors.StreamError` (the watcher then falls back to a simpler
strategy), a rejected key raises :class:`~julep_nb.sources.julep.errors.AuthError` (the watcher
stops), an unreachable server raises :class:`~julep_nb.sources.julep.errors.TransportError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from julep_nb.sources.julep.models import Execution, ExecutionStatusEvent, Transition

__all__ = ["ExecutionSource"]


@runtime_checkable
class ExecutionSource(Protocol):
    """An execution service the watcher can follow and a handle can steer."""

    async def get_execution(self, execution_id: str) -> Execution:
        """The execution now (404 → NotFoundError)."""
        ...

    async def list_transitions(
        self,
        execution_id: str,
        *,
        limit: int | None = None,
        direction: str = "asc",
        scope_id: str | None = None,
    ) -> list[Transition]:
        """Transitions ordered by ``created_at`` (``limit=None``: all of them)."""
        ...

    def stream_status(self, execution_id: str) -> AsyncIterator[ExecutionStatusEvent]:
        """Status events as they happen; may end (or not) after a terminal status."""
        ...

    def stream_transitions(
        self, execution_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Transition]:
        """Transitions after ``last_event_id`` as they are committed."""
        ...

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Ask the service to cancel the execution."""
        ...

    async def resume(self, execution_id: str, input: dict[str, Any]) -> None:
        """Answer a waiting execution; ``input`` becomes the waiting step's output."""
        ...
