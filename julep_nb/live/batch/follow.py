"""How a batch hears about its executions: the :class:`Follower` protocol, and one per execution.

A follower reports each execution's states until it ends. :class:`WatchingFollower`
works with any :class:`~julep_nb.live.source.ExecutionSource`: one
:class:`~julep_nb.live.handle.ExecutionHandle` (and its watcher) per execution in
flight, restarted with back-off when it stops on an error (the service went away).
A source with a cheaper way to follow many executions at once supplies its own
(Julep's lists the task's executions by update time: ``julep_nb/batch/follow.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from julep_nb.live.errors import SourceNotFound, SourceUnauthorized
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import ExecutionSource
from julep_nb.live.state import ExecutionState, reduce_all

__all__ = ["Follower", "OnLost", "OnState", "WatchingFollower", "cancel_unless_ended"]

logger = logging.getLogger(__name__)

OnState = Callable[[ExecutionState], None]
OnLost = Callable[[ExecutionState, str], None]
"""The execution cannot be followed any more (last state, why): the batch counts it as ended."""

REWATCH_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds before restarting a stopped watcher
MAX_FATAL_REWATCHES = 3  # an unknown execution or a refused key: give up after these


class Follower(Protocol):
    """Reports the states of a batch's executions."""

    def follow(self, state: ExecutionState, *, on_state: OnState, on_lost: OnLost) -> None:
        """Report ``state.execution_id``'s states to ``on_state`` until it ends."""

    def handle(self, state: ExecutionState) -> ExecutionHandle:
        """A handle on the execution (watching, when a loop runs and it has not ended)."""

    async def cancel(self, state: ExecutionState, *, reason: str | None) -> None:
        """Cancel the execution; no error if it had ended meanwhile."""

    def close(self) -> None:
        """Stop following (the executions go on)."""


class WatchingFollower:
    """One watcher per execution in flight (works with every source)."""

    def __init__(self, source: ExecutionSource) -> None:
        self.source = source
        self._handles: dict[str, ExecutionHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, state: ExecutionState, *, on_state: OnState, on_lost: OnLost) -> None:
        handle = self.handle(state)
        tries = [0]

        def deliver(new: ExecutionState) -> None:
            if new.is_terminal:
                stop()
                self._handles.pop(handle.id, None)
            on_state(new)
            error = handle.watch_error
            if error is not None and not handle.watching and not new.is_terminal:
                task = asyncio.get_running_loop().create_task(self._rewatch(handle, tries, lost))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        def lost(why: str) -> None:
            stop()
            self._handles.pop(handle.id, None)
            on_lost(handle.state, why)

        stop = handle.subscribe(deliver)

    async def _rewatch(
        self, handle: ExecutionHandle, tries: list[int], lost: Callable[[str], None]
    ) -> None:
        error = handle.watch_error
        fatal = isinstance(error, (SourceNotFound, SourceUnauthorized))
        if fatal and tries[0] >= MAX_FATAL_REWATCHES:
            lost(f"stopped following: {type(error).__name__}: {error}")
            return
        await asyncio.sleep(REWATCH_DELAYS[min(tries[0], len(REWATCH_DELAYS) - 1)])
        tries[0] += 1
        if not handle.watching and not handle.state.is_terminal:
            logger.info("execution %s: watching again after %s", handle.id, error)
            handle.start()

    def handle(self, state: ExecutionState) -> ExecutionHandle:
        handle = self._handles.get(state.execution_id)
        if handle is None:
            handle = ExecutionHandle(state.execution_id, source=self.source, initial=state)
            if not state.is_terminal:
                self._handles[state.execution_id] = handle
                handle.start()
        return handle

    async def cancel(self, state: ExecutionState, *, reason: str | None) -> None:
        await cancel_unless_ended(self.source, state.execution_id, reason=reason)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


async def cancel_unless_ended(
    source: ExecutionSource, execution_id: str, *, reason: str | None
) -> None:
    """Cancel the execution; an execution that had ended meanwhile is not an error."""
    try:
        await source.cancel(execution_id, reason=reason)
    except Exception:
        snapshot = await source.snapshot(execution_id)
        if not reduce_all(ExecutionState(execution_id=execution_id), snapshot.events).is_terminal:
            raise
