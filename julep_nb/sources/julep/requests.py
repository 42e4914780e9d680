"""Bodies the Julep v1 API takes, and its list and error envelopes."""

from __future__ import annotations

from typing import Any, Final, Generic, TypeVar

from pydantic import Field, field_validator

from julep_nb.sources.julep.models import ExecutionStatus, WireModel

__all__ = [
    "BULK_CREATE",
    "BulkCreateExecutionsRequest",
    "CreateAgentRequest",
    "CreateExecutionRequest",
    "CreateTaskRequest",
    "ErrorBody",
    "ErrorDetail",
    "MAX_BULK_ITEMS",
    "NewExecution",
    "Page",
    "ResumeExecutionRequest",
    "StopExecutionRequest",
    "TaskTokenResumeRequest",
]


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


class CreateExecutionRequest(WireModel):
    """Body of ``POST /tasks/{task_id}/executions``."""

    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None


MAX_BULK_ITEMS: Final = 1000
"""The most executions one bulk create may carry."""
BULK_CREATE: Final = "bulk_create_executions"
"""The name julep_nb's embedded server lists its bulk create under (``GET
/julep_nb/extensions``), and what a client asks ``offers()`` for."""


class NewExecution(CreateExecutionRequest):
    """One item of julep_nb's bulk create: an input, metadata and its own idempotency key."""

    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class BulkCreateExecutionsRequest(WireModel):
    """Body of ``POST /julep_nb/tasks/{task_id}/executions/bulk``, an extension route of
    julep_nb's embedded server (Julep has no bulk create): executions made in one request."""

    items: list[NewExecution] = Field(max_length=MAX_BULK_ITEMS)


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
