"""The errors the local server raises; ``local/app.py`` turns them into HTTP answers.

Every error is a :class:`LocalError`::

    LocalError                   carries the HTTP status, code and wire type it answers with
    ├── NotFound                 404: unknown agent, task, tool, execution, transition, token
    ├── Conflict                 409: the request does not fit the object's current state
    ├── InvalidRequest           400: a parameter or body value is out of range or malformed
    ├── TaskInvalid              400 "invalid_task" at task creation; an execution's failure
    │   ├── StepError            a step is invalid, or failed while it ran (names its path)
    │   └── ExpressionError      a ``$ `` expression or a template failed (names it)
    └── ServerConfigError        the server cannot start as asked (address, key); no HTTP

The package keeps these apart from ``julep_nb.sources.julep.errors`` (the client's errors):
the server answers with JSON bodies and the client turns those into its own errors.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Conflict",
    "ExpressionError",
    "InvalidRequest",
    "LocalError",
    "NotFound",
    "ServerConfigError",
    "StepError",
    "TaskInvalid",
]


class LocalError(Exception):
    """Base class of the local server's errors."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str | None] = None
    """``None``: the body's code is ``http_<status>``."""
    wire_type: ClassVar[str] = "server_error"
    """The ``type`` of the JSON error body (Julep's client-side class names)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code: str | None = code or self.default_code


class NotFound(LocalError):
    """404: the object does not exist."""

    status = 404
    wire_type = "NotFoundError"


class Conflict(LocalError):
    """409: the request does not fit the object's current state."""

    status = 409
    wire_type = "ConflictError"


class InvalidRequest(LocalError):
    """400: a request parameter or body value is invalid."""

    status = 400
    wire_type = "ValidationError"


class TaskInvalid(LocalError):
    """A task definition is invalid (400 at creation) or a step failed (execution error)."""

    status = 400
    default_code = "invalid_task"

    @property
    def location(self) -> str | None:
        """Where in the task the problem is (a step path), if known."""
        return None


class StepError(TaskInvalid):
    """A task step is invalid, or failed while it ran."""

    wire_type = "StepError"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path

    @property
    def location(self) -> str | None:
        return self.path


class ExpressionError(TaskInvalid):
    """A ``$ `` expression or a template failed."""

    wire_type = "ExpressionError"

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.expression = expression


class ServerConfigError(LocalError, ValueError):
    """The server cannot start as asked (an address without a key, a busy port)."""
