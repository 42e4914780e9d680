"""What is known about one execution, and the pure function that updates it.

:class:`ExecutionState` is frozen; :func:`reduce` takes a state and one event (a
:class:`~julep_nb.live.events.StatusReport` or a
:class:`~julep_nb.live.events.TimelineEntry`, or a source's wire object that converts
itself) and returns the next state. Events may arrive in any order and more than
once: entries are deduplicated by id and kept ordered by ``(at, final, id)``, a stale
report never moves the status backwards, and a terminal status is final.

Entries live in a shared append-only :class:`~julep_nb.live.log.EntryLog` so that
adding one is O(1) even for executions with 100,000 of them: each state sees the
first ``n`` rows of the log, and rows past a state's ``n`` are invisible to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, overload

from julep_nb.live.batch.tables import timeline_dataframe
from julep_nb.live.events import (
    Event,
    ExecutionStatus,
    HasLiveEvent,
    StatusReport,
    TimelineEntry,
    as_event,
)
from julep_nb.live.log import EntryLog, LogView, identity, sort_key

__all__ = ["ExecutionState", "TimelineRow", "reduce", "reduce_all"]

S = ExecutionStatus


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One row of the timeline as a view shows it: the entry and how long it took."""

    entry: TimelineEntry
    label: str
    started_at: datetime
    duration: float

    @property
    def ended_at(self) -> datetime:
        return self.entry.ended_at or self.entry.at

    @property
    def transition(self) -> Any:
        """The source's own record of the row (a Julep ``Transition``)."""
        return self.entry.detail


_EMPTY_LOG = EntryLog()


def _detail(entry: TimelineEntry) -> Any:
    return entry.detail


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """Everything known about one execution at one moment."""

    execution_id: str
    source: str | None = None  # the service's name, e.g. "Julep"
    task_id: str | None = None
    name: str | None = None
    reported_status: ExecutionStatus = S.QUEUED
    reported_at: datetime | None = None
    input: Any = None
    reported_output: Any = None
    reported_error: str | None = None
    reported_entry_count: int = 0
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    running: tuple[TimelineEntry, ...] = ()  # entries in progress (none once it ended)
    next_run: str | None = None  # continued as new: the run that follows
    signals: tuple[str, ...] = ()  # signal names it accepts, when the source says
    queries: tuple[str, ...] = ()  # query names it answers, when the source says
    _log: EntryLog = field(default=_EMPTY_LOG, repr=False, compare=False)
    _n: int = 0

    # ------------------------------------------------------------------ timeline

    @property
    def entries(self) -> Sequence[TimelineEntry]:
        """Timeline entries seen so far, deduplicated, in timeline order (read-only)."""
        return LogView(self._log, self._n, identity)

    @property
    def transitions(self) -> Sequence[Any]:
        """The source's own records of the entries: a Julep execution's ``Transition``s."""
        return LogView(self._log, self._n, _detail, "transitions")

    @property
    def latest_entry(self) -> TimelineEntry | None:
        return self._log[self._n - 1] if self._n else None

    @property
    def latest_transition(self) -> Any:
        """The newest entry's own record (a Julep ``Transition``), or None."""
        latest = self.latest_entry
        return latest.detail if latest is not None else None

    def has_entry(self, entry_id: str) -> bool:
        return self._log.has(entry_id, self._n)

    has_transition = has_entry

    def timeline(self, limit: int | None = None) -> list[TimelineRow]:
        """Timeline rows (newest ``limit`` when given), with durations in seconds."""
        start = 0 if limit is None else max(self._n - limit, 0)
        log = self._log
        return [
            TimelineRow(
                entry=log[i], label=log.label(i), started_at=log.started_at(i),
                duration=log.durations[i],
            )
            for i in range(start, self._n)
        ]  # fmt: skip

    @property
    def seen_count(self) -> int:
        """How many entries this state holds (``len(entries)`` without a copy)."""
        return self._n

    def step_durations(self) -> dict[str, float]:
        """Total seconds per label, in first-seen order (for a Gantt chart).

        O(labels) for the newest state of a log; an older state pays for the shorter
        of its prefix and the log's tail past it.
        """
        log = self._log
        size = len(log)
        if size - self._n < self._n:  # start from the log's totals and take the tail back out
            totals = {label: t for label, (first, t) in log.label_totals.items() if first < self._n}
            for i in range(self._n, size):
                label = log.label(i)
                if label in totals:
                    totals[label] = max(totals[label] - log.durations[i], 0.0)
            return totals
        totals = {}
        for i in range(self._n):
            label = log.label(i)
            totals[label] = totals.get(label, 0.0) + log.durations[i]
        return totals

    # ------------------------------------------------------------------ derived

    @property
    def status(self) -> ExecutionStatus:
        """The newer of the reported status and the one the latest entry implies."""
        latest = self.latest_entry
        derived = latest.execution_status if latest is not None else None
        if latest is None or derived is None:
            return self.reported_status
        if derived.is_terminal or self.reported_status.is_terminal:
            return derived if derived.is_terminal else self.reported_status
        if self.reported_at is not None and self.reported_at > latest.at:
            return self.reported_status
        return derived

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def entry_count(self) -> int:
        """Entries the service reported, or seen here if more."""
        return max(self.reported_entry_count, self._n)

    transition_count = entry_count

    @property
    def reported_transition_count(self) -> int:
        return self.reported_entry_count

    @property
    def output(self) -> Any:
        """The latest output: the final result once done, the question while waiting."""
        latest = self.latest_entry
        if latest is not None and latest.is_final:
            return latest.output  # the entry that ended it carries the result or the reason
        if (
            latest is not None
            and latest.execution_status is not None
            and (self.reported_at is None or latest.at >= self.reported_at)
        ):
            return latest.output
        return self.reported_output

    @property
    def waiting_info(self) -> Any:
        """What the execution asks for (its ``info``), or None when not waiting."""
        if self.status is not S.AWAITING_INPUT:
            return None
        output = self.output
        if isinstance(output, dict) and set(output) == {"info"}:
            return output["info"]
        return output

    @property
    def error(self) -> str | None:
        """The error message of a failed (or timed out, terminated) execution."""
        if self.reported_error:
            return self.reported_error
        latest = self.latest_entry
        return latest.error if latest is not None and latest.is_final else None

    @property
    def current_step_label(self) -> str | None:
        """What runs now: an entry in progress, else the latest entry's label."""
        if self.running:
            return self.running[-1].label
        latest = self.latest_entry
        if latest is None:
            return None
        return latest.next_label or latest.label

    @property
    def updated_at(self) -> datetime | None:
        latest = self.latest_entry
        times = [t for t in (self.reported_at, latest.at if latest else None) if t]
        return max(times) if times else None

    def to_dataframe(self) -> Any:
        """The timeline as a pandas DataFrame, one row per entry (needs pandas)."""
        return timeline_dataframe(self)

    def elapsed(self, now: datetime | None = None) -> float | None:
        """Seconds from creation to the end (terminal) or to ``now``."""
        if self.created_at is None:
            return None
        end = self.updated_at if self.is_terminal else now
        if end is None:
            return None
        return max((end - self.created_at).total_seconds(), 0.0)

    # ------------------------------------------------------------------ updates

    def with_entry(self, entry: TimelineEntry) -> ExecutionState:
        if self.has_entry(entry.id):
            return self
        log = self._log
        in_order = self._n == 0 or sort_key(entry) >= sort_key(log[self._n - 1])
        if log is not _EMPTY_LOG and self._n == len(log) and in_order:
            log.append(entry)
        else:
            log = EntryLog.build([*self.entries, entry])
        # An entry that ends the execution ends whatever was still in progress.
        if entry.is_final:
            running: tuple[TimelineEntry, ...] = ()
        else:
            running = tuple(r for r in self.running if r.id != entry.id) if self.running else ()
        return replace(self, _log=log, _n=self._n + 1, running=running)


# Report fields that replace the state's when the report has them (None: unknown).
_REPORTED = (
    "source", "task_id", "name", "input", "created_at", "metadata", "running", "next_run",
    "signals", "queries",
)  # fmt: skip


def _newer(state: ExecutionState, at: datetime | None) -> bool:
    return state.reported_at is None or at is None or at >= state.reported_at


def _with_report(state: ExecutionState, report: StatusReport) -> ExecutionState:
    updated = _reported(state, report)
    if updated.running and updated.is_terminal:
        # Nothing runs in an execution that ended, whatever a late report lists.
        updated = replace(updated, running=())
    return updated


def _reported(state: ExecutionState, report: StatusReport) -> ExecutionState:
    fields: dict[str, Any] = {
        "reported_entry_count": max(report.entry_count or 0, state.reported_entry_count),
        "reported_error": report.error,
    }
    for name in _REPORTED:
        value = getattr(report, name)
        if value is not None:
            fields[name] = value
    if report.has_output:
        fields["reported_output"] = report.output
    status = report.status
    if state.reported_status.is_terminal and not status.is_terminal:
        return replace(state, **{k: v for k, v in fields.items() if v is not None})
    if not _newer(state, report.at) and not status.is_terminal:
        return state
    return replace(
        state, reported_status=status, reported_at=report.at or state.reported_at, **fields
    )


@overload
def reduce(state: ExecutionState, event: Event | HasLiveEvent) -> ExecutionState: ...
@overload
def reduce(state: None, event: Event | HasLiveEvent) -> ExecutionState: ...
def reduce(state: ExecutionState | None, event: Event | HasLiveEvent) -> ExecutionState:
    """The state after ``event``; ``state=None`` starts from the event's execution."""
    live = as_event(event)
    if state is None:
        found = live.execution_id if isinstance(live, StatusReport) else None
        execution_id = found or getattr(event, "execution_id", "")  # a wire object's
        state = ExecutionState(execution_id=str(execution_id))
    if isinstance(live, TimelineEntry):
        return state.with_entry(live)
    return _with_report(state, live)


def reduce_all(
    state: ExecutionState | None, events: Iterable[Event | HasLiveEvent]
) -> ExecutionState:
    """Apply many events in order (e.g. a page of transitions)."""
    for event in events:
        state = reduce(state, event)
    if state is None:
        raise ValueError("reduce_all() needs a state or at least one event")
    return state
