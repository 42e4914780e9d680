"""The live stream of one Temporal workflow: history long-poll plus pending activities.

:class:`HistoryStream` reads the run's history with
``fetch_history_events(wait_new_event=True)`` (events arrive 10-50 ms after they
happen) and passes on what lies past its cursor (the last event id passed on). Two
things the history does not say come from ``describe()``: which activities run now,
with their attempt and last failure (the history records an activity's start only
when it ends), asked after :data:`DESCRIBE_INTERVAL` without news while one is open
(a short activity never costs a request); and
the signal names, from the workflow's own ``__temporal_workflow_metadata`` query,
asked once in the background.

A failure the server may recover from (a restart) re-reads the history from the
start of the run after a pause and skips what the cursor has passed: nothing lost,
nothing repeated. Only after :data:`RECONNECT_WINDOW` seconds of that does it give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError

from julep_nb.live.errors import SourceUnreachable
from julep_nb.live.events import Event, ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.sources.temporal.errors import TRANSIENT, map_rpc_error
from julep_nb.sources.temporal.history import SOURCE, HistoryMapper
from julep_nb.sources.temporal.reading import (
    RunRef,
    TemporalCursor,
    handle_for,
    mapper_for,
    running_entries,
)

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["HISTORY_STREAM", "HistoryStream", "declared_names"]

HISTORY_STREAM: Final = "history-long-poll"
DESCRIBE_INTERVAL: Final = 0.5  # seconds between describes while activities are open
RECONNECT_WINDOW: Final = 60.0  # seconds of failed re-reads before the stream gives up
RECONNECT_PAUSE: Final = (0.1, 2.0)  # first and largest pause between re-reads
METADATA_QUERY: Final = "__temporal_workflow_metadata"
METADATA_TIMEOUT: Final = timedelta(seconds=3)
S = ExecutionStatus
_END = object()


async def declared_names(
    client: Client, ref: RunRef, run_id: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The signals and the queries the workflow declares, from its metadata query (None:
    no answer); Temporal's own (``__…``) left out."""
    handle = handle_for(client, ref, run_id)
    try:
        metadata = await handle.query(
            METADATA_QUERY, result_type=WorkflowMetadata, rpc_timeout=METADATA_TIMEOUT
        )
    except Exception:  # no worker, an old SDK, a closed workflow: the forms let users type
        return None
    definition = metadata.definition
    return _names(definition.signal_definitions), _names(definition.query_definitions)


def _names(definitions: Any) -> tuple[str, ...]:
    return tuple(d.name for d in definitions if d.name and not d.name.startswith("__"))


class HistoryStream:
    """Events of one workflow as they happen (see the module docstring)."""

    name = HISTORY_STREAM

    def __init__(self, client: Client, execution: str, ref: RunRef, cursor: TemporalCursor) -> None:
        self.client = client
        self.execution = execution
        self.ref = ref
        self.cursor = cursor
        self.complete = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._names_asked = False
        self._moved = False  # the run continued as new and the chain goes on

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _events(self) -> AsyncIterator[Event]:
        failing_since: float | None = None
        pause = RECONNECT_PAUSE[0]
        while True:
            try:
                async for event in self._read_run():
                    failing_since, pause = None, RECONNECT_PAUSE[0]
                    yield event
            except RPCError as exc:
                if exc.status not in TRANSIENT:
                    raise map_rpc_error(exc, f"follow workflow {self.ref.workflow_id!r}") from exc
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > RECONNECT_WINDOW:
                    raise SourceUnreachable(
                        f"lost Temporal for {RECONNECT_WINDOW:.0f} s while following workflow "
                        f"{self.ref.workflow_id!r}: {exc.message}"
                    ) from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_PAUSE[1])
                continue
            if self.complete or not self._moved:
                return  # closed, or the history ended early: the watcher reopens

    async def _read_run(self) -> AsyncIterator[Event]:
        self._moved = False
        handle = handle_for(self.client, self.ref, self.cursor.run_id)
        description = await handle.describe()
        run_id = description.run_id
        if self.cursor.run_id != run_id:  # the first read, or a run the cursor did not know
            self.cursor = TemporalCursor(run_id, 0)
        mapper = mapper_for(self.client, self.execution, run_id, chain=self.ref.follows_chain)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._start(self._pump(run_id, queue), "history")
        if not self._names_asked:
            self._names_asked = True
            self._start(self._ask_names(run_id, queue), "names")
        describing: asyncio.Task[Any] | None = None
        last_running: tuple[Any, ...] | None = None
        while True:
            timeout = DESCRIBE_INTERVAL if mapper.has_open_activity else None
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                item = None
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, StatusReport):
                yield item
                continue
            if isinstance(item, _Described):
                running = running_entries(mapper, item.pending)
            elif item is not None:
                async for live in self._fed(mapper, item):
                    yield live
                if mapper.closed is not None:
                    break
                running = running_entries(mapper)  # what the history says, no request
            elif describing is None or describing.done():
                # Quiet for a while with something open: ask for attempts and failures, in
                # the background (the next history event must not wait for it).
                describing = self._start(self._describe(run_id, queue), "describe")
                continue
            else:
                continue
            if running != last_running:
                last_running = running
                yield self._running(running)
        await self._ended(mapper)

    def _running(self, running: tuple[Any, ...]) -> StatusReport:
        return StatusReport(
            execution_id=self.execution, status=S.RUNNING, source=SOURCE, running=running
        )

    async def _describe(self, run_id: str, queue: asyncio.Queue[Any]) -> None:
        # The raw RPC: only the pending activities are needed, not a decoded description.
        request = DescribeWorkflowExecutionRequest(
            namespace=self.client.namespace,
            execution=WorkflowExecution(workflow_id=self.ref.workflow_id, run_id=run_id),
        )
        try:
            response = await self.client.workflow_service.describe_workflow_execution(request)
        except RPCError:
            return  # the history stream reports a lost server; this was only a refinement
        queue.put_nowait(_Described(tuple(response.pending_activities)))

    async def _fed(self, mapper: HistoryMapper, event: Any) -> AsyncIterator[Event]:
        mapped = mapper.feed(event)
        if event.event_id <= self.cursor.event_id:
            return  # passed on before a reconnect
        for live in mapped:
            if isinstance(live, TimelineEntry) and live.is_final:
                # The watcher stops at this row: it holds the end, nothing is missing.
                self.cursor = TemporalCursor(self.cursor.run_id, int(event.event_id))
                self.complete = True
            yield live
        self.cursor = TemporalCursor(self.cursor.run_id, int(event.event_id))

    async def _ended(self, mapper: HistoryMapper) -> None:
        for task in self._tasks:
            task.cancel()
        if mapper.closed is S.CONTINUED_AS_NEW and self.ref.follows_chain and mapper.next_run:
            self.cursor = TemporalCursor(mapper.next_run, 0)
            self._moved = True
        elif mapper.closed is not None:
            self.complete = True

    def _start(self, coro: Any, what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"julep_nb temporal {what}")
        self._tasks = [t for t in self._tasks if not t.done()] + [task]
        return task

    async def _pump(self, run_id: str, queue: asyncio.Queue[Any]) -> None:
        handle = self.client.get_workflow_handle(self.ref.workflow_id, run_id=run_id)
        try:
            async for event in handle.fetch_history_events(wait_new_event=True):
                queue.put_nowait(event)
            queue.put_nowait(_END)
        except BaseException as exc:  # the reader raises it in its own task
            queue.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def _ask_names(self, run_id: str, queue: asyncio.Queue[Any]) -> None:
        names = await declared_names(self.client, self.ref, run_id)
        if names is not None:
            signals, queries = names
            queue.put_nowait(
                StatusReport(
                    execution_id=self.execution,
                    status=S.RUNNING,
                    source=SOURCE,
                    signals=signals,
                    queries=queries,
                )
            )


@dataclass(frozen=True, slots=True)
class _Described:
    """The pending activities a describe request answered."""

    pending: tuple[Any, ...]


def _touches_activity(event: Any) -> bool:
    field = event.WhichOneof("attributes") or ""
    return field.startswith("activity_task_")
