"""The live layer's neutral vocabulary: statuses, timeline entries, reports, capabilities.

Every execution service (Julep, Temporal, Thand, …) maps what it sends onto these:

- :class:`ExecutionStatus`: Julep's seven statuses plus ``terminated``, ``timed_out``
  and ``continued_as_new`` (Temporal's COMPLETED is ``succeeded``, CANCELED is
  ``cancelled``).
- :class:`TimelineEntry`: one row of the timeline, what a Julep transition and a
  Temporal history event (an activity, a timer, a signal…) both become.
- :class:`StatusReport`: what the service says about the execution as a whole (a
  snapshot, or one event of a status stream).
- :class:`Capability`: the actions a source offers; a view shows only those controls.

A wire object can stand for its live event by defining ``as_live_event()``:
:func:`julep_nb.live.state.reduce` accepts it directly.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Capability",
    "Event",
    "ExecutionStatus",
    "HasLiveEvent",
    "StatusReport",
    "TimelineEntry",
    "as_event",
]


class ExecutionStatus(str, Enum):
    """Where an execution is, in words every source maps onto."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    AWAITING_INPUT = "awaiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CONTINUED_AS_NEW = "continued_as_new"

    @property
    def is_terminal(self) -> bool:
        """Nothing more happens to this execution (a continued one goes on as a new run)."""
        return self in _TERMINAL

    def __str__(self) -> str:  # "running", not "ExecutionStatus.RUNNING"
        return self.value


_TERMINAL = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TERMINATED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.CONTINUED_AS_NEW,
    }
)


class Capability(str, Enum):
    """An action a source can take on an execution."""

    CANCEL = "cancel"  # ask it to stop; it may clean up first
    TERMINATE = "terminate"  # stop it at once, with a reason
    SIGNAL = "signal"  # send it a named message with a payload
    QUERY = "query"  # ask it a named question; nothing changes
    RESUME = "resume"  # answer its request for input

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)  # no slots: views cache rows by weak reference (3.10 has no weakref_slot)
class TimelineEntry:
    """One row of an execution's timeline.

    ``at`` orders the timeline. ``started_at`` None means "when the previous entry of
    the same ``scope`` ended" (a sequence of steps); ``ended_at`` None means the entry
    is still going (a running activity). ``status`` is the entry's own outcome;
    ``execution_status`` what the execution is after it, when the entry says (a
    Julep ``finish`` makes it ``succeeded``; a Temporal activity says nothing).
    ``detail`` keeps the source's own record (a Julep ``Transition``).
    """

    id: str
    kind: str
    label: str
    at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: ExecutionStatus | None = None
    execution_status: ExecutionStatus | None = None
    output: Any = None
    error: str | None = None
    attempt: int | None = None
    scope: str | None = None
    note: str | None = None  # a word more about the kind (the Julep step type)
    next_label: str | None = None  # what runs after this entry, when the source says
    detail: Any = None

    @property
    def is_final(self) -> bool:
        """The entry ends the execution."""
        return self.execution_status is not None and self.execution_status.is_terminal

    def to_bytes(self) -> bytes:
        """A compact form for long timelines (subclasses may store their record only)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> TimelineEntry:
        """The entry :meth:`to_bytes` stored."""
        entry = pickle.loads(data)  # noqa: S301 - only bytes this process wrote
        assert isinstance(entry, TimelineEntry)
        return entry


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What the service says about the execution as a whole, as of ``at``.

    Fields left None are unknown in this report (a status-stream event carries less
    than a snapshot). ``running`` lists the entries in progress now (Temporal's
    pending activities), replacing those of earlier reports; None keeps them.
    """

    execution_id: str
    status: ExecutionStatus
    at: datetime | None = None
    source: str | None = None  # the service's name, e.g. "Julep"
    task_id: str | None = None
    name: str | None = None
    input: Any = None
    output: Any = None
    has_output: bool = False  # the report carries an output (it may be None)
    error: str | None = None
    entry_count: int | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    running: tuple[TimelineEntry, ...] | None = None
    next_run: str | None = None  # continued as new: the run that follows
    signals: tuple[str, ...] | None = None  # signal names it accepts, when the source knows
    queries: tuple[str, ...] | None = None  # query names it answers, when the source knows


Event = StatusReport | TimelineEntry


@runtime_checkable
class HasLiveEvent(Protocol):
    """A source's wire object that knows its live event."""

    def as_live_event(self) -> Event: ...


def as_event(value: Event | HasLiveEvent) -> Event:
    """``value`` as a live event (wire objects convert themselves)."""
    if isinstance(value, StatusReport | TimelineEntry):
        return value
    convert = getattr(value, "as_live_event", None)
    if convert is None:
        raise TypeError(
            f"cannot apply {type(value).__name__} to an execution state: expected a "
            "StatusReport, a TimelineEntry, or an object with as_live_event()"
        )
    event: Event = convert()
    return event
