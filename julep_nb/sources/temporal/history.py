"""Temporal history events as timeline entries: a pure, incremental mapping.

:class:`HistoryMapper` is fed one run's history events in order and returns the live
events each one makes (no I/O). Rules:

- workflow-task events (scheduled, started, completed, timed out) are bookkeeping: no row;
- an activity is one row, written when it closes (completed, failed, timed out,
  canceled), paired with its scheduled and started events by the scheduled event
  id, with its attempt count and the last failure; until then it is "open"
  (:meth:`HistoryMapper.open_entries`: the source shows it as running);
- timers and child workflows are paired the same way (by started / initiated id);
- signals (name and payload), cancel requests and markers are one row each;
- the closing event is the final row, with the result or the reason (preceded by a
  report that clears what was running, followed by the terminal report).

Entry ids are ``"<run id>/<kind>/<event id>"``, so the rows of the runs of one chain
(continue-as-new) never collide, and a row re-read after a reconnect is the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from julep_nb.live.events import Event, ExecutionStatus, StatusReport, TimelineEntry

__all__ = ["CLOSE_STATUSES", "Decode", "HistoryMapper", "failure_text", "timestamp"]

S = ExecutionStatus
SOURCE = "Temporal"

# Decodes a ``Payloads`` message's payloads into Python values.
Decode = Callable[[Sequence[Any]], list[Any]]

# The closing event's attribute field -> the execution's status.
CLOSE_STATUSES: dict[str, ExecutionStatus] = {
    "workflow_execution_completed_event_attributes": S.SUCCEEDED,
    "workflow_execution_failed_event_attributes": S.FAILED,
    "workflow_execution_canceled_event_attributes": S.CANCELLED,
    "workflow_execution_terminated_event_attributes": S.TERMINATED,
    "workflow_execution_timed_out_event_attributes": S.TIMED_OUT,
    "workflow_execution_continued_as_new_event_attributes": S.CONTINUED_AS_NEW,
}

_CLOSE_WORDS = {
    S.SUCCEEDED: "completed",
    S.FAILED: "failed",
    S.CANCELLED: "canceled",
    S.TERMINATED: "terminated",
    S.TIMED_OUT: "timed out",
    S.CONTINUED_AS_NEW: "continued as new",
}

# Attribute field of a closing event of an activity / child -> the entry's status.
_ACTIVITY_CLOSE = {
    "activity_task_completed_event_attributes": S.SUCCEEDED,
    "activity_task_failed_event_attributes": S.FAILED,
    "activity_task_timed_out_event_attributes": S.TIMED_OUT,
    "activity_task_canceled_event_attributes": S.CANCELLED,
}
_CHILD_CLOSE = {
    "child_workflow_execution_completed_event_attributes": S.SUCCEEDED,
    "child_workflow_execution_failed_event_attributes": S.FAILED,
    "child_workflow_execution_canceled_event_attributes": S.CANCELLED,
    "child_workflow_execution_timed_out_event_attributes": S.TIMED_OUT,
    "child_workflow_execution_terminated_event_attributes": S.TERMINATED,
    "start_child_workflow_execution_failed_event_attributes": S.FAILED,
}


def timestamp(value: Any) -> datetime | None:
    """A protobuf ``Timestamp`` as an aware datetime (None when unset)."""
    if value is None or (value.seconds == 0 and value.nanos == 0):
        return None
    result: datetime = value.ToDatetime(tzinfo=timezone.utc)
    return result


def failure_text(failure: Any) -> str | None:
    """A ``Failure`` and its causes as one line: ``"Activity task failed: boom"``."""
    parts: list[str] = []
    while failure is not None and failure.ByteSize():
        if failure.message and failure.message not in parts:
            parts.append(failure.message)
        failure = failure.cause if failure.HasField("cause") else None
    return ": ".join(parts) or None


@dataclass(slots=True)
class _Open:
    """An activity, timer or child workflow that has started and not closed."""

    kind: str
    label: str
    at: datetime
    key: str  # activity id, timer id or child workflow id
    started_at: datetime | None = None
    attempt: int | None = None
    last_failure: str | None = None


class HistoryMapper:
    """Maps one run's history events, in order, to live events (see the module doc)."""

    def __init__(
        self, execution_id: str, run_id: str, *, decode: Decode, follow_chain: bool = False
    ) -> None:
        self.execution_id = execution_id
        self.run_id = run_id
        self.decode = decode
        self.follow_chain = follow_chain  # continue-as-new is not the end of the execution
        self.last_event_id = 0
        self.next_run: str | None = None
        self.closed: ExecutionStatus | None = None
        self._open: dict[int, _Open] = {}

    # ------------------------------------------------------------------ public

    def feed(self, event: Any) -> list[Event]:
        """The live events ``event`` makes (often none); events must come in order."""
        self.last_event_id = max(self.last_event_id, int(event.event_id))
        field = event.WhichOneof("attributes")
        if field is None:
            return []
        at = timestamp(event.event_time) or datetime.now(timezone.utc)
        attrs = getattr(event, field)
        if field in CLOSE_STATUSES:
            return self._close(event.event_id, at, CLOSE_STATUSES[field], attrs)
        if field in _ACTIVITY_CLOSE or field in _CHILD_CLOSE:
            return self._close_item(event.event_id, at, field, attrs)
        handler = _HANDLERS.get(field)
        return handler(self, int(event.event_id), at, attrs) if handler else []

    def open_entries(self) -> list[TimelineEntry]:
        """Activities, timers and child workflows in progress, as running entries."""
        return [self._running(sid, item) for sid, item in sorted(self._open.items())]

    @property
    def has_open_activity(self) -> bool:
        """An activity is scheduled and not closed (only ``describe()`` says how it goes)."""
        return any(item.kind == "activity" for item in self._open.values())

    def activity_event_id(self, activity_id: str) -> int | None:
        """The scheduled event id of the open activity ``activity_id``."""
        for sid, item in self._open.items():
            if item.kind == "activity" and item.key == activity_id:
                return sid
        return None

    def running_activity(self, pending: Any) -> TimelineEntry | None:
        """A ``PendingActivityInfo`` of :meth:`describe` as a running entry."""
        sid = self.activity_event_id(pending.activity_id)
        if sid is None:
            return None
        item = self._open[sid]
        item.started_at = timestamp(pending.last_started_time) or item.started_at
        item.attempt = int(pending.attempt) or item.attempt
        if pending.HasField("last_failure"):
            item.last_failure = failure_text(pending.last_failure) or item.last_failure
        return self._running(sid, item)

    def entry_id(self, kind: str, event_id: int) -> str:
        return f"{self.run_id}/{kind}/{event_id}"

    # ------------------------------------------------------------------ rows

    def _entry(
        self, kind: str, event_id: int, at: datetime, label: str, **kw: Any
    ) -> TimelineEntry:
        return TimelineEntry(
            id=self.entry_id(kind, event_id), kind=kind, label=label, at=at, scope=self.run_id,
            started_at=kw.pop("started_at", at), ended_at=kw.pop("ended_at", at), **kw,
        )  # fmt: skip

    def _running(self, sid: int, item: _Open) -> TimelineEntry:
        return TimelineEntry(
            id=self.entry_id(item.kind, sid), kind=item.kind, label=item.label, at=item.at,
            started_at=item.started_at or item.at, ended_at=None, status=S.RUNNING,
            attempt=item.attempt, error=item.last_failure, scope=self.run_id, note=item.key,
        )  # fmt: skip

    def _values(self, payloads: Any) -> Any:
        """A ``Payloads`` as one value (a list when several; None when empty)."""
        items = list(payloads.payloads) if payloads is not None else []
        if not items:
            return None
        try:
            values = self.decode(items)
        except Exception:  # a payload this converter cannot read: show its bytes
            values = [p.data.decode("utf-8", "replace") for p in items]
        return values[0] if len(values) == 1 else values

    def _started(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        task_queue = attrs.task_queue.name
        report = StatusReport(
            execution_id=self.execution_id, status=S.RUNNING, at=at, source=SOURCE,
            name=attrs.workflow_type.name, input=self._values(attrs.input), created_at=at,
            metadata={"run_id": self.run_id, "task_queue": task_queue},
        )  # fmt: skip
        entry = self._entry(
            "workflow", event_id, at, "started", note=attrs.workflow_type.name,
            detail={"run_id": self.run_id, "attempt": attrs.attempt},
        )  # fmt: skip
        return [report, entry]

    def _scheduled(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        self._open[event_id] = _Open("activity", attrs.activity_type.name, at, attrs.activity_id)
        return []

    def _activity_started(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        item = self._open.get(int(attrs.scheduled_event_id))
        if item is not None:
            item.started_at = at
            item.attempt = int(attrs.attempt) or None
            if attrs.HasField("last_failure"):
                item.last_failure = failure_text(attrs.last_failure)
        return []

    def _timer(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        seconds = attrs.start_to_fire_timeout.ToTimedelta().total_seconds()
        self._open[event_id] = _Open("timer", f"timer {seconds:g} s", at, attrs.timer_id)
        return []

    def _timer_closed(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        item = self._open.pop(int(attrs.started_event_id), None)
        if item is None:
            return []
        fired = attrs.DESCRIPTOR.name == "TimerFiredEventAttributes"
        return [
            self._entry(
                "timer", int(attrs.started_event_id), at, item.label, started_at=item.at,
                status=S.SUCCEEDED if fired else S.CANCELLED, note=item.key,
            )
        ]  # fmt: skip

    def _child(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        self._open[event_id] = _Open(
            "child_workflow", attrs.workflow_type.name, at, attrs.workflow_id
        )
        return []

    def _child_started(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        item = self._open.get(int(attrs.initiated_event_id))
        if item is not None:
            item.started_at = at
        return []

    def _close_item(self, event_id: int, at: datetime, field: str, attrs: Any) -> list[Event]:
        key = "scheduled_event_id" if field in _ACTIVITY_CLOSE else "initiated_event_id"
        sid = int(getattr(attrs, key))
        item = self._open.pop(sid, None)
        if item is None:
            return []
        status = _ACTIVITY_CLOSE.get(field) or _CHILD_CLOSE[field]
        error = failure_text(attrs.failure) if hasattr(attrs, "failure") else None
        if status is S.TIMED_OUT and not error:
            error = "timed out"
        output = self._values(attrs.result) if hasattr(attrs, "result") else None
        note = item.key
        if status is not S.SUCCEEDED:
            error = error or item.last_failure
        elif item.last_failure:  # it succeeded after retries: say so, without an error
            note = f"{item.key}; attempt {item.attempt}, last failure: {item.last_failure}"
        return [
            self._entry(
                item.kind, sid, at, item.label, started_at=item.started_at or item.at,
                status=status, output=output, error=error, attempt=item.attempt, note=note,
            )
        ]  # fmt: skip

    def _signaled(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        return [
            self._entry("signal", event_id, at, attrs.signal_name, output=self._values(attrs.input))
        ]  # fmt: skip

    def _cancel_requested(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        return [
            self._entry(
                "cancel_request", event_id, at, "cancel requested",
                note=attrs.cause or None,
            )
        ]  # fmt: skip

    def _marker(self, event_id: int, at: datetime, attrs: Any) -> list[Event]:
        error = failure_text(attrs.failure) if attrs.HasField("failure") else None
        return [self._entry("marker", event_id, at, attrs.marker_name, error=error)]

    def _close(
        self, event_id: int, at: datetime, status: ExecutionStatus, attrs: Any
    ) -> list[Event]:
        self.closed = status
        output, error = None, None
        if status is S.SUCCEEDED:
            output = self._values(attrs.result)
        elif status is S.FAILED:
            error = failure_text(attrs.failure) or "failed"
        elif status is S.TERMINATED:
            error = attrs.reason or "terminated"
            output = self._values(attrs.details)
        elif status is S.TIMED_OUT:
            error = "the workflow timed out"
        elif status is S.CANCELLED:
            output = self._values(attrs.details)
        elif status is S.CONTINUED_AS_NEW:
            self.next_run = attrs.new_execution_run_id
        chained = status is S.CONTINUED_AS_NEW and self.follow_chain
        execution_status = None if chained else status
        entry = self._entry(
            "workflow", event_id, at, _CLOSE_WORDS[status], status=status,
            execution_status=execution_status, output=output, error=error,
            note=f"next run {self.next_run}" if self.next_run else None,
        )  # fmt: skip
        self._open.clear()
        report = StatusReport(
            execution_id=self.execution_id, status=S.RUNNING if chained else status, at=at,
            source=SOURCE, output=output, has_output=not chained, error=error,
            next_run=self.next_run, running=(),
        )  # fmt: skip
        # What runs is over (and which run is next) before the final row: a watcher stops
        # at the first terminal event, and the row carries the result and the reason.
        cleared = StatusReport(
            execution_id=self.execution_id, status=S.RUNNING, source=SOURCE, running=(),
            next_run=self.next_run,
        )  # fmt: skip
        return [cleared, entry, report]


_HANDLERS: dict[str, Callable[[HistoryMapper, int, datetime, Any], list[Event]]] = {
    "workflow_execution_started_event_attributes": HistoryMapper._started,
    "activity_task_scheduled_event_attributes": HistoryMapper._scheduled,
    "activity_task_started_event_attributes": HistoryMapper._activity_started,
    "timer_started_event_attributes": HistoryMapper._timer,
    "timer_fired_event_attributes": HistoryMapper._timer_closed,
    "timer_canceled_event_attributes": HistoryMapper._timer_closed,
    "start_child_workflow_execution_initiated_event_attributes": HistoryMapper._child,
    "child_workflow_execution_started_event_attributes": HistoryMapper._child_started,
    "workflow_execution_signaled_event_attributes": HistoryMapper._signaled,
    "workflow_execution_cancel_requested_event_attributes": HistoryMapper._cancel_requested,
    "marker_recorded_event_attributes": HistoryMapper._marker,
}
