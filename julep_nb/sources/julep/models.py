"""Pydantic v2 models of the Julep v1 wire objects, and the transition rules.

Every model accepts unknown fields (``extra="allow"``) so that a newer server
does not break an older client, and accepts what the real server and the
official ``julep`` SDK produce (nullable fields, missing optional fields,
ISO-8601 timestamps with or without a zone).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "TERMINAL_STATUSES",
    "Agent",
    "CreateAgentRequest",
    "CreateExecutionRequest",
    "CreateTaskRequest",
    "ErrorBody",
    "ErrorDetail",
    "Execution",
    "ExecutionStatus",
    "ExecutionStatusEvent",
    "Page",
    "ResumeExecutionRequest",
    "StopExecutionRequest",
    "Task",
    "TaskTokenResumeRequest",
    "Transition",
    "TransitionTarget",
    "TransitionType",
    "WireModel",
    "is_valid_transition",
    "status_for",
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


class ExecutionStatus(str, Enum):
    """Status of an execution, as the server reports it."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    AWAITING_INPUT = "awaiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:  # "running", not "ExecutionStatus.RUNNING"
        return self.value


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


class CreateAgentRequest(WireModel):
    """Body of ``POST /agents``."""

    name: str
    about: str | None = ""
    model: str | None = ""
    instructions: str | list[str] | None = None
    metadata: dict[str, Any] | None = None
    default_settings: dict[str, Any] | None = None
    canonical_name: str | None = None


class CreateTaskRequest(WireModel):
    """Body of ``POST /agents/{agent_id}/tasks``; named subworkflows are extra keys."""

    name: str
    description: str | None = ""
    main: list[Any]
    input_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    inherit_tools: bool | None = False
    metadata: dict[str, Any] | None = None
    canonical_name: str | None = None


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
    status: ExecutionStatus
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


class ExecutionStatusEvent(WireModel):
    """Payload of one ``status.stream`` event.

    The real server sends only ``execution_id, status, updated_at, error,
    transition_count, metadata``; the local server adds the Execution fields.
    """

    execution_id: str
    status: ExecutionStatus
    updated_at: datetime | None = None
    error: str | None = None
    transition_count: int | None = None
    metadata: dict[str, Any] | None = None


class CreateExecutionRequest(WireModel):
    """Body of ``POST /tasks/{task_id}/executions``."""

    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None


class ResumeExecutionRequest(WireModel):
    """Body of ``PUT /executions/{id}`` that resumes a waiting execution."""

    status: ExecutionStatus = ExecutionStatus.RUNNING
    input: dict[str, Any] = Field(default_factory=dict)

    @field_validator("status")
    @classmethod
    def _must_be_running(cls, value: ExecutionStatus) -> ExecutionStatus:
        if value is not ExecutionStatus.RUNNING:
            raise ValueError(f"a resume request has status 'running', not {value.value!r}")
        return value


class StopExecutionRequest(WireModel):
    """Body of ``PUT /executions/{id}`` that cancels an execution."""

    status: ExecutionStatus = ExecutionStatus.CANCELLED
    reason: str | None = None

    @field_validator("status")
    @classmethod
    def _must_be_cancelled(cls, value: ExecutionStatus) -> ExecutionStatus:
        if value is not ExecutionStatus.CANCELLED:
            raise ValueError(f"a stop request has status 'cancelled', not {value.value!r}")
        return value


class TaskTokenResumeRequest(WireModel):
    """Body of ``POST /executions/resume``."""

    task_token: str
    input: dict[str, Any] = Field(default_factory=dict)


ItemT = TypeVar("ItemT")


class Page(WireModel, Generic[ItemT]):
    """A list response: ``{"items": [...]}``."""

    items: list[ItemT] = Field(default_factory=list)


class ErrorDetail(WireModel):
    """The ``error`` member of an error response."""

    message: str = ""
    code: str | None = None
    type: str | None = None
    details: Any = None


class ErrorBody(WireModel):
    """An error response: ``{"error": {"message", "code", "type"}}``."""

    error: ErrorDetail
