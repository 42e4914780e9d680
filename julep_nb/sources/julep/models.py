"""Pydantic v2 models of the Julep v1 wire objects, and the transition rules.

Every model accepts unknown fields (``extra="allow"``) so that a newer server
does not break an older client, and accepts what the real server and the
official ``julep`` SDK produce (nullable fields, missing optional fields,
ISO-8601 timestamps with or without a zone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from julep_nb.live.events import ExecutionStatus, StatusReport, TimelineEntry

__all__ = [
    "TERMINAL_STATUSES",
    "Agent",
    "Execution",
    "JULEP_STATUSES",
    "ExecutionStatus",
    "ExecutionStatusEvent",
    "JulepStatus",
    "Task",
    "Transition",
    "TransitionEntry",
    "TransitionTarget",
    "TransitionType",
    "WireModel",
    "error_text",
    "is_valid_transition",
    "status_for",
    "step_label",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the server's timestamps)."""
    return datetime.now(timezone.utc)


class WireModel(BaseModel):
    """Base of every wire model: forward compatible, serialises as JSON."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict this model sends (``None`` fields kept)."""
        return self.model_dump(mode="json")


JULEP_STATUSES: tuple[ExecutionStatus, ...] = (
    ExecutionStatus.QUEUED,
    ExecutionStatus.STARTING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.AWAITING_INPUT,
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
)
"""The statuses Julep reports: the first seven words of the live vocabulary."""


def _julep_status(value: ExecutionStatus) -> ExecutionStatus:
    if value not in JULEP_STATUSES:
        raise ValueError(
            f"{value.value!r} is not a Julep execution status (one of "
            f"{', '.join(s.value for s in JULEP_STATUSES)})"
        )
    return value


JulepStatus = Annotated[
    ExecutionStatus,
    AfterValidator(_julep_status),
    WithJsonSchema({"type": "string", "enum": [s.value for s in JULEP_STATUSES]}),
]
"""An execution status on the Julep wire (the live enum, limited to Julep's seven)."""


class TransitionType(str, Enum):
    """Kind of a transition row."""

    INIT = "init"
    INIT_BRANCH = "init_branch"
    FINISH = "finish"
    FINISH_BRANCH = "finish_branch"
    WAIT = "wait"
    RESUME = "resume"
    ERROR = "error"
    STEP = "step"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES: frozenset[ExecutionStatus] = frozenset(
    {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)

_T = TransitionType
_STATUS_FOR: dict[TransitionType, ExecutionStatus] = {
    _T.INIT: ExecutionStatus.STARTING,
    _T.INIT_BRANCH: ExecutionStatus.RUNNING,
    _T.RESUME: ExecutionStatus.RUNNING,
    _T.STEP: ExecutionStatus.RUNNING,
    _T.FINISH_BRANCH: ExecutionStatus.RUNNING,
    _T.WAIT: ExecutionStatus.AWAITING_INPUT,
    _T.FINISH: ExecutionStatus.SUCCEEDED,
    _T.ERROR: ExecutionStatus.FAILED,
    _T.CANCELLED: ExecutionStatus.CANCELLED,
}

# The real server enforces these with a database trigger; ``None`` is "no
# transition yet".
_VALID_NEXT: dict[TransitionType | None, frozenset[TransitionType]] = {
    None: frozenset({_T.INIT, _T.INIT_BRANCH, _T.ERROR, _T.CANCELLED}),
    _T.INIT: frozenset({_T.WAIT, _T.ERROR, _T.STEP, _T.CANCELLED, _T.INIT_BRANCH, _T.FINISH}),
    _T.INIT_BRANCH: frozenset(
        {_T.WAIT, _T.ERROR, _T.STEP, _T.CANCELLED, _T.INIT_BRANCH, _T.FINISH_BRANCH, _T.FINISH}
    ),
    _T.WAIT: frozenset({_T.RESUME, _T.STEP, _T.CANCELLED, _T.FINISH, _T.FINISH_BRANCH}),
    _T.RESUME: frozenset(
        {_T.WAIT, _T.ERROR, _T.CANCELLED, _T.STEP, _T.FINISH, _T.FINISH_BRANCH, _T.INIT_BRANCH}
    ),
    _T.STEP: frozenset(
        {_T.WAIT, _T.ERROR, _T.CANCELLED, _T.STEP, _T.FINISH, _T.FINISH_BRANCH, _T.INIT_BRANCH}
    ),
    _T.FINISH_BRANCH: frozenset(
        {_T.WAIT, _T.ERROR, _T.CANCELLED, _T.STEP, _T.FINISH, _T.INIT_BRANCH, _T.FINISH_BRANCH}
    ),
    _T.FINISH: frozenset(),
    _T.ERROR: frozenset(),
    _T.CANCELLED: frozenset(),
}


def status_for(transition_type: TransitionType | str | None) -> ExecutionStatus:
    """The execution status implied by its latest transition (``None``: queued)."""
    if transition_type is None:
        return ExecutionStatus.QUEUED
    return _STATUS_FOR[TransitionType(transition_type)]


def is_valid_transition(previous: TransitionType | str | None, next: TransitionType | str) -> bool:
    """Whether a transition of type ``next`` may follow ``previous``.

    ``previous=None`` asks whether ``next`` may be an execution's first transition.
    """
    prev = None if previous is None else TransitionType(previous)
    return TransitionType(next) in _VALID_NEXT[prev]


# --------------------------------------------------------------------------- objects


class Agent(WireModel):
    """An agent: owner of tasks."""

    id: str
    name: str = ""
    about: str | None = ""
    model: str | None = ""
    instructions: str | list[str] | None = None
    metadata: dict[str, Any] | None = None
    default_settings: dict[str, Any] | None = None
    canonical_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Task(WireModel):
    """A task definition; named subworkflows arrive as extra keys, like ``main``."""

    id: str
    name: str = ""
    agent_id: str | None = None
    description: str | None = ""
    main: list[Any] = Field(default_factory=list)
    input_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    inherit_tools: bool | None = False
    metadata: dict[str, Any] | None = None
    canonical_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _null_tools(cls, value: Any) -> Any:
        return [] if value is None else value


class Execution(WireModel):
    """An execution of a task."""

    id: str
    task_id: str
    status: JulepStatus
    input: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    error: str | None = None
    transition_count: int | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _null_input(cls, value: Any) -> Any:
        return {} if value is None else value

    def as_live_event(self) -> StatusReport:
        """This snapshot as a live status report."""
        return _execution_report(self)


class TransitionTarget(WireModel):
    """A cursor into a workflow: ``current`` and ``next`` of a transition."""

    workflow: str
    step: int
    scope_id: str | None = None

    def __str__(self) -> str:
        return f"{self.workflow}[{self.step}]"


class Transition(WireModel):
    """One append-only row of an execution's history."""

    id: str
    execution_id: str
    type: TransitionType
    output: Any = None
    current: TransitionTarget
    next: TransitionTarget | None = None
    step_label: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @property
    def step_type(self) -> str | None:
        """The step kind (``evaluate``, ``wait_for_input``…) when the server recorded it."""
        value = (self.metadata or {}).get("step_type")
        return value if isinstance(value, str) else None

    def as_live_event(self) -> TransitionEntry:
        """This transition as a timeline row."""
        return _transition_entry(self)


class ExecutionStatusEvent(WireModel):
    """Payload of one ``status.stream`` event.

    The real server sends only ``execution_id, status, updated_at, error,
    transition_count, metadata``; the local server adds the Execution fields.
    """

    execution_id: str
    status: JulepStatus
    updated_at: datetime | None = None
    error: str | None = None
    transition_count: int | None = None
    metadata: dict[str, Any] | None = None

    def as_live_event(self) -> StatusReport:
        """This event as a live status report."""
        return _status_event_report(self)


# --------------------------------------------------------------------------- live events
# How Julep's wire objects map onto the live layer's neutral vocabulary.


SOURCE_NAME = "Julep"


def error_text(output: Any) -> str | None:
    """The error message a failing transition's output carries (``Execution.error``).

    The one rule, for the client and the local server alike: the ``error`` member of
    a dict, a string as it is, anything else as compact JSON.
    """
    if output is None:
        return None
    if isinstance(output, dict) and "error" in output:
        return str(output["error"])
    if isinstance(output, str):
        return output
    return json.dumps(output, separators=(",", ":"), ensure_ascii=False, default=str)


def step_label(transition: Transition) -> str:
    """``step_label`` when the server gave one, else ``workflow[step]``."""
    return transition.step_label or str(transition.current)


_ROW_STATUS: dict[TransitionType, ExecutionStatus] = {
    TransitionType.WAIT: ExecutionStatus.AWAITING_INPUT,
    TransitionType.ERROR: ExecutionStatus.FAILED,
    TransitionType.CANCELLED: ExecutionStatus.CANCELLED,
}


@dataclass(frozen=True)
class TransitionEntry(TimelineEntry):
    """A Julep transition as a timeline row; ``detail`` is the :class:`Transition`."""

    def to_bytes(self) -> bytes:
        transition: Transition = self.detail
        return transition.__pydantic_serializer__.to_json(transition, exclude_unset=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> TimelineEntry:
        return Transition.model_validate_json(data).as_live_event()

    @property
    def transition(self) -> Transition:
        """The Julep transition this row shows."""
        transition: Transition = self.detail
        return transition


def _transition_entry(transition: Transition) -> TransitionEntry:
    kind = transition.type
    return TransitionEntry(
        id=transition.id,
        kind=kind.value,
        label=step_label(transition),
        at=transition.created_at,
        ended_at=transition.created_at,
        status=_ROW_STATUS.get(kind, ExecutionStatus.SUCCEEDED),
        execution_status=status_for(kind),
        output=transition.output,
        error=error_text(transition.output) if kind is TransitionType.ERROR else None,
        scope=transition.current.scope_id,
        note=transition.step_type,
        next_label=str(transition.next) if transition.next is not None else None,
        detail=transition,
    )


def _execution_report(execution: Execution) -> StatusReport:
    return StatusReport(
        execution_id=execution.id,
        status=execution.status,
        at=execution.updated_at or execution.created_at,
        source=SOURCE_NAME,
        task_id=execution.task_id,
        input=execution.input,
        output=execution.output,
        has_output=True,
        error=execution.error,
        entry_count=execution.transition_count,
        created_at=execution.created_at,
        metadata=execution.metadata,
    )


def _status_event_report(event: ExecutionStatusEvent) -> StatusReport:
    extra = event.model_extra or {}
    task_id = extra.get("task_id")
    return StatusReport(
        execution_id=event.execution_id,
        status=event.status,
        at=event.updated_at,
        source=SOURCE_NAME,
        task_id=task_id if isinstance(task_id, str) else None,
        output=extra.get("output"),
        has_output="output" in extra,
        error=event.error,
        entry_count=event.transition_count,
    )
