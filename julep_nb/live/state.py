"""What is known about one execution, and the pure function that updates it.

:class:`ExecutionState` is frozen; :func:`reduce` takes a state and one event (a
status-stream event, a transition, or an execution snapshot) and returns the next
state. Events may arrive in any order and more than once: transitions are
deduplicated by id and kept ordered by ``(created_at, id)``, a stale snapshot never
moves the status backwards, and a terminal status is final.

Transitions live in a shared append-only :class:`~julep_nb.live.log.TransitionLog`
so that adding one is O(1) even for executions with 100,000 transitions: each state
sees the first ``n`` entries of the log, and entries past a state's ``n`` are
invisible to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, overload

from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    ExecutionStatusEvent,
    Transition,
    TransitionTarget,
    TransitionType,
    status_for,
)
from julep_nb.live.log import TransitionLog, TransitionsView, sort_key, step_label

__all__ = [
    "Event",
    "ExecutionState",
    "StepTiming",
    "TransitionLog",
    "TransitionsView",
    "reduce",
    "reduce_all",
    "step_label",
]

Event = ExecutionStatusEvent | Transition | Execution


@dataclass(frozen=True, slots=True)
class StepTiming:
    """One row of the timeline: a transition and how long the step before it took."""

    transition: Transition
    label: str
    started_at: datetime
    duration: float

    @property
    def ended_at(self) -> datetime:
        return self.transition.created_at


_EMPTY_LOG = TransitionLog()


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """Everything known about one execution at one moment."""

    execution_id: str
    task_id: str | None = None
    reported_status: ExecutionStatus = ExecutionStatus.QUEUED
    reported_at: datetime | None = None
    input: Any = None
    reported_output: Any = None
    reported_error: str | None = None
    reported_transition_count: int = 0
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    _log: TransitionLog = field(default=_EMPTY_LOG, repr=False, compare=False)
    _n: int = 0

    # ------------------------------------------------------------------ transitions

    @property
    def transitions(self) -> Sequence[Transition]:
        """Transitions seen so far, deduplicated, ordered by ``(created_at, id)``.

        A read-only view: indexing and iterating decode older rows on demand.
        """
        return TransitionsView(self._log, self._n)

    @property
    def latest_transition(self) -> Transition | None:
        return self._log[self._n - 1] if self._n else None

    def has_transition(self, transition_id: str) -> bool:
        return self._log.has(transition_id, self._n)

    def timeline(self, limit: int | None = None) -> list[StepTiming]:
        """Timeline rows (newest ``limit`` when given), with step durations in seconds."""
        start = 0 if limit is None else max(self._n - limit, 0)
        log = self._log
        rows = []
        for i in range(start, self._n):
            transition = log[i]
            rows.append(
                StepTiming(
                    transition=transition,
                    label=log.label(i),
                    started_at=_minus(transition.created_at, log.durations[i]),
                    duration=log.durations[i],
                )
            )
        return rows

    @property
    def seen_count(self) -> int:
        """How many transitions this state holds (``len(transitions)`` without a copy)."""
        return self._n

    def step_durations(self) -> dict[str, float]:
        """Total seconds per step label, in first-seen order (for a Gantt chart).

        O(steps) for the newest state of a log; an older state pays for the shorter of
        its prefix and the log's tail past it.
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
        """The newer of the reported status and the one the latest transition implies."""
        latest = self.latest_transition
        if latest is None:
            return self.reported_status
        derived = status_for(latest.type)
        if derived.is_terminal or self.reported_status.is_terminal:
            return derived if derived.is_terminal else self.reported_status
        if self.reported_at is not None and self.reported_at > latest.created_at:
            return self.reported_status
        return derived

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def transition_count(self) -> int:
        return max(self.reported_transition_count, self._n)

    @property
    def output(self) -> Any:
        """The latest output: the final result once succeeded, the ``info`` while waiting."""
        latest = self.latest_transition
        if latest is not None and (
            self.reported_at is None or latest.created_at >= self.reported_at
        ):
            return latest.output
        return self.reported_output

    @property
    def waiting_info(self) -> Any:
        """What a waiting step asks for (its ``info``), or None when not waiting."""
        if self.status is not ExecutionStatus.AWAITING_INPUT:
            return None
        output = self.output
        if isinstance(output, dict) and set(output) == {"info"}:
            return output["info"]
        return output

    @property
    def error(self) -> str | None:
        """The error message of a failed execution."""
        if self.reported_error:
            return self.reported_error
        latest = self.latest_transition
        if latest is not None and latest.type is TransitionType.ERROR:
            out = latest.output
            if isinstance(out, dict) and "error" in out:
                return str(out["error"])
            return out if isinstance(out, str) else (None if out is None else str(out))
        return None

    @property
    def current_step(self) -> TransitionTarget | None:
        """Where the execution is now: the latest transition's ``next`` (or ``current``)."""
        latest = self.latest_transition
        if latest is None:
            return None
        return latest.next or latest.current

    @property
    def current_step_label(self) -> str | None:
        latest = self.latest_transition
        if latest is None:
            return None
        if latest.next is None:
            return step_label(latest)
        return str(latest.next)

    @property
    def updated_at(self) -> datetime | None:
        latest = self.latest_transition
        times = [t for t in (self.reported_at, latest.created_at if latest else None) if t]
        return max(times) if times else None

    def elapsed(self, now: datetime | None = None) -> float | None:
        """Seconds from creation to the end (terminal) or to ``now``."""
        if self.created_at is None:
            return None
        end = self.updated_at if self.is_terminal else now
        if end is None:
            return None
        return max((end - self.created_at).total_seconds(), 0.0)

    # ------------------------------------------------------------------ updates

    def with_transition(self, transition: Transition) -> ExecutionState:
        if self.has_transition(transition.id):
            return self
        log = self._log
        in_order = self._n == 0 or sort_key(transition) >= sort_key(log[self._n - 1])
        if log is not _EMPTY_LOG and self._n == len(log) and in_order:
            log.append(transition)
        else:
            log = TransitionLog.build([*self.transitions, transition])
        return replace(self, _log=log, _n=self._n + 1)


def _minus(moment: datetime, seconds: float) -> datetime:
    return moment - timedelta(seconds=seconds)


def _newer(state: ExecutionState, at: datetime | None) -> bool:
    return state.reported_at is None or at is None or at >= state.reported_at


def _with_report(
    state: ExecutionState, status: ExecutionStatus, at: datetime | None, **fields: Any
) -> ExecutionState:
    if state.reported_status.is_terminal and not status.is_terminal:
        return replace(state, **{k: v for k, v in fields.items() if v is not None})
    if not _newer(state, at) and not status.is_terminal:
        return state
    return replace(state, reported_status=status, reported_at=at or state.reported_at, **fields)


@overload
def reduce(state: ExecutionState, event: Event) -> ExecutionState: ...
@overload
def reduce(state: None, event: Event) -> ExecutionState: ...
def reduce(state: ExecutionState | None, event: Event) -> ExecutionState:
    """The state after ``event``; ``state=None`` starts from the event's execution."""
    if state is None:
        execution_id = (
            event.id if isinstance(event, Execution) else getattr(event, "execution_id", "")
        )
        state = ExecutionState(execution_id=execution_id)
    if isinstance(event, Transition):
        return state.with_transition(event)
    if isinstance(event, Execution):
        return _with_report(
            state,
            event.status,
            event.updated_at or event.created_at,
            task_id=event.task_id,
            input=event.input,
            reported_output=event.output,
            reported_error=event.error,
            reported_transition_count=max(
                event.transition_count or 0, state.reported_transition_count
            ),
            created_at=event.created_at,
            metadata=event.metadata,
        )
    if isinstance(event, ExecutionStatusEvent):
        extra = event.model_extra or {}
        fields: dict[str, Any] = {
            "reported_error": event.error,
            "reported_transition_count": max(
                event.transition_count or 0, state.reported_transition_count
            ),
        }
        if "output" in extra:
            fields["reported_output"] = extra["output"]
        if isinstance(extra.get("task_id"), str):
            fields["task_id"] = extra["task_id"]
        return _with_report(state, event.status, event.updated_at, **fields)
    raise TypeError(
        f"reduce() cannot apply {type(event).__name__}: expected a Transition, "
        "an Execution or an ExecutionStatusEvent"
    )


def reduce_all(state: ExecutionState | None, events: Iterable[Event]) -> ExecutionState:
    """Apply many events in order (e.g. a page of transitions)."""
    for event in events:
        state = reduce(state, event)
    if state is None:
        raise ValueError("reduce_all() needs a state or at least one event")
    return state
