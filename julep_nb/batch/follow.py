"""Follow a batch of Julep executions with one request for many of them.

One watcher per execution costs a stream and two or three requests each; for a
batch, :class:`ListFollower` instead lists the task's executions by update time,
newest first (``GET /tasks/{id}/executions?sort_by=updated_at&direction=desc``),
and reads pages back to the newest update it had already seen: each request brings
up to 100 executions' news. It polls fast while things change and backs off while
nothing does. An execution that the listing has not shown changing for a while is
asked for on its own (``GET /executions/{id}``), so one that the listing misses
(another client's clock, a paging race) still ends in the batch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx

from julep_nb.live.batch.follow import OnLost, OnState, cancel_unless_ended
from julep_nb.live.events import ExecutionStatus
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.state import ExecutionState, reduce
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import JulepError
from julep_nb.sources.julep.models import Execution
from julep_nb.sources.julep.source import JulepSource

__all__ = ["ListFollower"]

logger = logging.getLogger(__name__)

PAGE: Final = 100  # Julep's largest page
MIN_INTERVAL: Final = 0.005  # seconds between polls while executions change
MAX_INTERVAL: Final = 0.5  # ...backing off to this while nothing does
ERROR_INTERVAL: Final = 1.0  # ...and this after a failed poll
STALE: Final = 3.0  # seconds without news before an execution is asked for on its own
STALE_PER_POLL: Final = 16
_FATAL_STATUS = (401, 403, 404)


@dataclass
class _Tracked:
    state: ExecutionState
    on_state: OnState
    on_lost: OnLost
    seen: float  # loop time of the last news


class ListFollower:
    """Follows the executions of one task by listing them (see the module docstring)."""

    def __init__(self, client: Client, task_id: str) -> None:
        self.client = client
        self.task_id = task_id
        self.source = JulepSource(client)
        self.polls = 0  # requests made, for benchmarks and tests
        self._tracked: dict[str, _Tracked] = {}
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._interval = MIN_INTERVAL

    def follow(self, state: ExecutionState, *, on_state: OnState, on_lost: OnLost) -> None:
        loop = asyncio.get_running_loop()
        self._tracked[state.execution_id] = _Tracked(state, on_state, on_lost, loop.time())
        if state.created_at is not None and (self._since is None or state.created_at < self._since):
            self._since = state.created_at
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=f"julep_nb batch {self.task_id}")
        elif self._interval > 0.05:
            self._wake.set()

    def handle(self, state: ExecutionState) -> ExecutionHandle:
        handle = ExecutionHandle(state.execution_id, source=self.source, initial=state)
        return handle if state.is_terminal else handle.start_if_running()

    async def cancel(self, state: ExecutionState, *, reason: str | None) -> None:
        await cancel_unless_ended(self.source, state.execution_id, reason=reason)
        self._wake.set()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------------ polling

    async def _run(self) -> None:
        while self._tracked:
            try:
                changed = await self._poll()
                changed += await self._ask_stale()
            except _Fatal as exc:
                self._lose_all(str(exc))
                return
            except (JulepError, httpx.HTTPError, ValueError) as exc:
                logger.info("batch of task %s: listing failed (%s); retrying", self.task_id, exc)
                self._interval = ERROR_INTERVAL
            else:
                self._interval = MIN_INTERVAL if changed else min(self._interval * 2, MAX_INTERVAL)
            if not self._tracked:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except asyncio.TimeoutError:
                pass

    async def _poll(self) -> int:
        """One pass over the pages updated since the last; how many executions changed."""
        http = await self.client.http_ready()
        newest, offset, changed = self._since, 0, 0
        # Most news is about the executions in flight: a page a little larger than their
        # number is cheaper for both sides than Julep's largest, and paging covers the rest.
        size = min(PAGE, 2 * len(self._tracked) + 8)
        while True:
            items = await self._page(http, offset, size)
            last = None
            for item in items:
                if item.get("id") in self._tracked:
                    execution = Execution.model_validate(item)
                    changed += self._apply(execution)
                    last = execution.updated_at
                else:  # read no further than its time
                    last = _updated_at(item)
                if last is not None and (newest is None or last > newest):
                    newest = last
            if len(items) < size or self._since is None or last is None or last < self._since:
                break
            offset += size
        self._since = newest
        return changed

    async def _page(self, http: httpx.AsyncClient, offset: int, size: int) -> list[dict[str, Any]]:
        self.polls += 1
        params: dict[str, Any] = {
            "sort_by": "updated_at", "direction": "desc", "limit": size, "offset": offset,
        }  # fmt: skip
        response = await http.get(f"/tasks/{self.task_id}/executions", params=params)
        if response.status_code in _FATAL_STATUS:
            raise _Fatal(
                f"listing the executions of task {self.task_id} was refused "
                f"(HTTP {response.status_code})"
            )
        response.raise_for_status()
        items = response.json().get("items")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ValueError("an executions page without a list of 'items'")
        return items

    def _apply(self, execution: Execution) -> int:
        tracked = self._tracked.get(execution.id)
        if tracked is None:
            return 0
        before = tracked.state
        state = reduce(before, execution)
        if state.status is before.status and state.updated_at == before.updated_at:
            return 0
        tracked.state = state
        tracked.seen = asyncio.get_running_loop().time()
        if state.is_terminal:
            del self._tracked[execution.id]
        tracked.on_state(state)
        return 1

    async def _ask_stale(self) -> int:
        """Ask for executions the listing has not shown changing for a while."""
        now = asyncio.get_running_loop().time()
        stale = [
            execution_id
            for execution_id, t in self._tracked.items()
            if now - t.seen > STALE and t.state.status is not ExecutionStatus.AWAITING_INPUT
        ][:STALE_PER_POLL]
        changed = 0
        for execution_id in stale:
            self._tracked[execution_id].seen = now
            changed += self._apply(await self.client.get_execution(execution_id))
        return changed

    def _lose_all(self, why: str) -> None:
        tracked, self._tracked = self._tracked, {}
        for t in tracked.values():
            t.on_lost(t.state, why)


class _Fatal(Exception):
    """The listing was refused: nothing can be followed this way."""


def _updated_at(item: dict[str, Any]) -> datetime | None:
    """A listed execution's ``updated_at``, read without building its model (most items
    of a page are executions the follower no longer tracks): as :class:`Execution` reads
    it, which it is left to when the text is not plain ISO 8601."""
    value = item.get("updated_at")
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:
                return when
    return Execution.model_validate(item).updated_at
