"""The live contract with a source that is neither Julep nor HTTP.

``LedgerSource`` keeps executions as in-memory ledgers of neutral events. It streams
with an integer cursor, can drop its stream after a few events or have none at all,
and offers terminate and signal but not resume: the watcher and the handle must work
from the contract alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from julep_nb.live.errors import ActionUnsupported, SourceNotFound, StreamUnavailable
from julep_nb.live.events import Capability, Event, ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import Snapshot, SourceBase
from julep_nb.live.watcher import POLLING

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
S = ExecutionStatus


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class LedgerStream:
    """Events of one ledger after a cursor; drops itself after ``drop_after`` events."""

    name = "ledger-stream"

    def __init__(self, source: LedgerSource, execution_id: str, cursor: int) -> None:
        self.source, self.execution_id, self.cursor = source, execution_id, cursor
        self.complete = False
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        ledger = self.source.ledgers[self.execution_id]
        sent = 0
        while not self.closed:
            if self.cursor < len(ledger):
                event = ledger[self.cursor]
                self.cursor += 1
                sent += 1
                yield event
                if self.source.drop_after and sent >= self.source.drop_after:
                    self.source.drops += 1
                    return  # the connection dropped: the watcher reopens from the cursor
            else:
                await self.source.changed.wait()
                self.source.changed.clear()

    async def aclose(self) -> None:
        self.closed = True


class LedgerSource(SourceBase):
    """An in-memory service: each execution is a list of neutral events."""

    name = "Ledger"
    capabilities = frozenset({Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL})

    def __init__(self, *, streams: bool = True, drop_after: int = 0) -> None:
        self.ledgers: dict[str, list[Event]] = {}
        self.changed = asyncio.Event()
        self.streams = streams
        self.drop_after = drop_after
        self.drops = 0
        self.follows: list[int] = []
        self.signals: list[tuple[str, Any]] = []

    def add(self, execution_id: str, *events: Event) -> None:
        self.ledgers.setdefault(execution_id, []).extend(events)
        self.changed.set()

    def _events_after(self, execution_id: str, cursor: Any) -> Snapshot:
        if execution_id not in self.ledgers:
            raise SourceNotFound(f"no ledger {execution_id!r}")
        ledger = self.ledgers[execution_id]
        start = cursor if isinstance(cursor, int) else 0
        return Snapshot(tuple(ledger[start:]), len(ledger))

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        return self._events_after(execution_id, None)

    async def poll(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        return self._events_after(execution_id, cursor)

    def follow(self, execution_id: str, *, cursor: Any = None) -> LedgerStream:
        if not self.streams:
            raise StreamUnavailable("the ledger has no stream")
        self.follows.append(cursor if isinstance(cursor, int) else 0)
        return LedgerStream(self, execution_id, cursor if isinstance(cursor, int) else 0)

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None:
        self.add(
            execution_id,
            TimelineEntry(
                id=f"{execution_id}-end", kind="terminated", label="terminated", at=at(99),
                execution_status=S.TERMINATED, status=S.TERMINATED, error=reason,
            ),
            StatusReport(execution_id, S.TERMINATED, at=at(99), error=reason),
        )  # fmt: skip

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        self.signals.append((name, payload))


def activity(i: int, *, attempt: int = 1) -> TimelineEntry:
    return TimelineEntry(
        id=f"act-{i}", kind="activity", label=f"fetch-{i}", at=at(i),
        started_at=at(i), ended_at=at(i + 0.5), status=S.SUCCEEDED, attempt=attempt,
        output={"rows": i},
    )  # fmt: skip


def started(execution_id: str) -> StatusReport:
    return StatusReport(
        execution_id, S.RUNNING, at=at(0), source="Ledger", name="etl", created_at=at(0),
        signals=("approve", "reject"),
        running=(TimelineEntry(id="act-9", kind="activity", label="load", at=at(9)),),
    )  # fmt: skip


async def test_a_non_julep_source_is_followed_across_dropped_streams_from_its_cursor() -> None:
    source = LedgerSource(drop_after=2)
    source.add("wf-1", started("wf-1"))
    handle = ExecutionHandle("wf-1", source=source)
    handle.start()
    for i in range(1, 8):
        source.add("wf-1", activity(i))
        await asyncio.sleep(0.01)
    await handle.terminate(reason="enough")
    async with asyncio.timeout(5):
        state = await handle
    assert state.status is S.TERMINATED and state.is_terminal
    assert state.error == "enough" and state.source == "Ledger" and state.name == "etl"
    assert [e.id for e in state.entries] == [f"act-{i}" for i in range(1, 8)] + ["wf-1-end"]
    assert state.running == ()  # a terminal report clears what was in progress
    assert state.signals == ("approve", "reject")
    assert source.drops >= 2 and source.follows == sorted(source.follows)  # resumed, not replayed
    assert [round(row.duration, 2) for row in handle.timeline][:2] == [0.5, 0.5]


async def test_without_a_stream_the_watcher_polls_the_source() -> None:
    source = LedgerSource(streams=False)
    source.add("wf-2", started("wf-2"), activity(1))
    handle = ExecutionHandle("wf-2", source=source)
    handle.start()
    await asyncio.sleep(0.05)
    assert handle.state.running[0].label == "load"  # in progress, from the report
    source.add("wf-2", activity(2), StatusReport("wf-2", S.TIMED_OUT, at=at(50), error="late"))
    async with asyncio.timeout(5):
        state = await handle
    assert handle.watcher is not None and handle.watcher.strategy == POLLING
    assert state.status is S.TIMED_OUT and state.error == "late"
    assert [e.id for e in state.entries] == ["act-1", "act-2"]


async def test_actions_follow_the_capabilities_the_source_declares() -> None:
    source = LedgerSource()
    source.add("wf-3", started("wf-3"))
    handle = ExecutionHandle("wf-3", source=source)
    assert handle.capabilities == {Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL}
    await handle.signal("approve", {"by": "ada"})
    assert source.signals == [("approve", {"by": "ada"})]
    with pytest.raises(ActionUnsupported, match="Ledger executions cannot resume"):
        await handle.resume({"x": 1})
    with pytest.raises(ActionUnsupported, match="Ledger executions cannot query"):
        await handle.query("progress")
    with pytest.raises(ActionUnsupported, match="cannot cancel"):
        await SourceBase().cancel("wf-3")  # a source that declares nothing


async def test_an_unknown_execution_stops_the_watcher_with_the_sources_error() -> None:
    handle = ExecutionHandle("nope", source=LedgerSource())
    seen: list[object] = []
    handle.subscribe(seen.append)
    with pytest.raises(SourceNotFound, match="no ledger 'nope'"):
        async with asyncio.timeout(5):
            await handle
    assert isinstance(handle.watch_error, SourceNotFound) and not handle.watching
    assert seen  # subscribers heard that the watcher stopped


async def test_continued_as_new_is_terminal_and_names_the_next_run() -> None:
    source = LedgerSource()
    source.add(
        "wf-4",
        started("wf-4"),
        StatusReport("wf-4", S.CONTINUED_AS_NEW, at=at(5), next_run="run-2"),
    )
    state = await ExecutionHandle("wf-4", source=source)
    assert state.status is S.CONTINUED_AS_NEW and state.next_run == "run-2"


def test_entries_survive_the_compact_log() -> None:
    """Past the newest few hundred, entries are stored compactly and read back equal."""
    from julep_nb.live.log import RECENT
    from julep_nb.live.state import reduce_all

    entries = [activity(i) for i in range(RECENT + 20)]
    state = reduce_all(None, [started("wf-5"), *entries])
    assert list(state.entries) == entries
    assert state.entries[0] is not entries[0]  # decoded, not kept
    assert state.step_durations()["fetch-0"] == 0.5


def test_an_ended_execution_keeps_nothing_running_whatever_a_late_report_says() -> None:
    from julep_nb.live.state import reduce_all

    ended = reduce_all(None, [started("wf-6"), StatusReport("wf-6", S.TERMINATED, at=at(9))])
    late = started("wf-6")  # an older report, listing an activity in progress
    assert ended.running == () and reduce_all(ended, [late]).running == ()
