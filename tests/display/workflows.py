"""An in-memory execution service that is not Julep: the panel tests' second source.

It speaks only the live layer's neutral vocabulary (``StatusReport``,
``TimelineEntry``) and declares cancel, terminate, signal and query, but not resume,
like a workflow engine would. The test drives it (:meth:`Workflows.begin`,
:meth:`Workflows.emit`); its actions record what they were asked and change the
execution as the service would. ``gate`` holds an action in flight, ``fail`` makes
the next one fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from julep_nb.live.errors import ActionRefused
from julep_nb.live.events import Capability, Event, ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.live.source import Snapshot, SourceBase

S = ExecutionStatus


def now() -> datetime:
    return datetime.now(timezone.utc)


class WorkflowStream:
    """The live stream: every event after the cursor, as it is emitted."""

    name = "memory-stream"

    def __init__(self, source: Workflows, cursor: int) -> None:
        self.source = source
        self.cursor = cursor
        self._closed = False

    @property
    def complete(self) -> bool:
        """Every event was sent (the watcher stops reading at a terminal state)."""
        return self.cursor >= len(self.source.events)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while not self._closed:
            while self.cursor < len(self.source.events):
                self.cursor += 1
                yield self.source.events[self.cursor - 1]
            self.source.changed.clear()
            await self.source.changed.wait()

    async def aclose(self) -> None:
        self._closed = True


class Workflows(SourceBase):
    """One workflow execution, held in memory."""

    name = "InMemory"
    capabilities = frozenset(
        {Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL, Capability.QUERY}
    )

    def __init__(
        self,
        execution_id: str = "wf-1",
        *,
        signals: tuple[str, ...] | None = ("approve", "reject"),
        answers: dict[str, Callable[..., Any]] | None = None,
        queries: tuple[str, ...] | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.declares = queries  # the query names it reports
        self.accepts = signals
        self.answers = answers or {}
        self.events: list[Event] = []
        self.changed = asyncio.Event()
        self.created_at = now() - timedelta(seconds=10)
        # what the actions were asked
        self.cancels: list[str | None] = []
        self.terminations: list[str | None] = []
        self.signals: list[tuple[str, Any]] = []
        self.queries: list[tuple[str, tuple[Any, ...]]] = []
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None

    # ------------------------------------------------------------------ the test's side

    def emit(self, *events: Event) -> None:
        self.events.extend(events)
        self.changed.set()

    def report(
        self, status: ExecutionStatus, *, at: datetime | None = None, **fields: Any
    ) -> StatusReport:
        return StatusReport(
            execution_id=self.execution_id,
            status=status,
            at=at or now(),
            source=self.name,
            name="approval",
            created_at=self.created_at,
            signals=self.accepts,
            **{"queries": self.declares, **fields},
        )

    def begin(self) -> None:
        """The workflow runs: one activity done, one in progress on its second attempt."""
        t0 = self.created_at
        done = TimelineEntry(
            id="e1",
            kind="activity",
            label="validate",
            at=t0 + timedelta(seconds=2),
            started_at=t0,
            ended_at=t0 + timedelta(seconds=2),
            status=S.SUCCEEDED,
            output={"valid": True},
        )
        charging = TimelineEntry(
            id="e2",
            kind="activity",
            label="charge",
            at=t0 + timedelta(seconds=2),
            started_at=t0 + timedelta(seconds=2),
            attempt=2,
        )
        self.emit(done, self.report(S.RUNNING, running=(charging,), entry_count=1))

    def end(self, status: ExecutionStatus, kind: str, output: Any = None) -> None:
        """The workflow ends with ``status`` (an entry of ``kind``, then a report)."""
        at = now()
        entry = TimelineEntry(
            id=f"e{len(self.events) + 1}",
            kind=kind,
            label=kind,
            at=at,
            started_at=at,
            ended_at=at,
            status=status,
            execution_status=status,
            output=output,
        )
        self.emit(entry, self.report(status, at=entry.at))  # the same change, told twice

    # ------------------------------------------------------------------ ExecutionSource

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        start = cursor or 0
        return Snapshot(tuple(self.events[start:]), cursor=len(self.events))

    poll = snapshot

    def follow(self, execution_id: str, *, cursor: Any = None) -> WorkflowStream:
        return WorkflowStream(self, cursor or 0)

    async def _steer(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        self.cancels.append(reason)
        await self._steer()
        self.end(S.CANCELLED, "cancelled", {"reason": reason} if reason else None)

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None:
        self.terminations.append(reason)
        await self._steer()
        self.end(S.TERMINATED, "terminated", {"reason": reason})

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        self.signals.append((name, payload))
        await self._steer()
        if self.accepts is not None and name not in self.accepts:
            raise ActionRefused(f"workflow {execution_id} has no signal {name!r}")
        at = now()
        entry = TimelineEntry(
            id=f"e{len(self.events) + 1}",
            kind="signal",
            label=name,
            at=at,
            started_at=at,
            ended_at=at,
            output=payload,
        )
        self.emit(entry)

    async def query(self, execution_id: str, name: str, *args: Any) -> Any:
        self.queries.append((name, args))
        await self._steer()
        if name not in self.answers:
            raise ActionRefused(f"workflow {execution_id} has no query {name!r}")
        return self.answers[name](*args)
