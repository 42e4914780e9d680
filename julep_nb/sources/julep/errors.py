"""The errors julep_nb raises.

Every error is a :class:`JulepError`, so one ``except`` catches them all::

    JulepError
    ├── APIError                 the server answered with an error status
    │   ├── AuthError            401 / 403: missing or wrong API key
    │   ├── NotFoundError        404: unknown agent, task, execution or transition
    │   ├── ConflictError        409: e.g. resuming an execution that is not waiting
    │   ├── ValidationError      400 / 422: input does not match a schema or a rule
    │   ├── RateLimitError       429
    │   └── ServerError          5xx
    ├── TransportError           the server could not be reached (connect, read, timeout)
    ├── StreamError              an event stream could not be read or resumed
    ├── ConfigError              base URL / environment / API key cannot be resolved
    └── InputError               a cell body or argument cannot be parsed; nothing was sent

The classes a watcher acts on are also the live layer's neutral ones
(:mod:`julep_nb.live.errors`): ``AuthError`` is a ``SourceUnauthorized``,
``NotFoundError`` a ``SourceNotFound``, ``ConflictError`` an ``ActionRefused``,
``TransportError``, ``ServerError`` and ``RateLimitError`` are ``SourceUnreachable``,
``StreamError`` a ``StreamBroken``.

Messages say what happened, name the value involved and what to do next. They
never contain an API key: everything that formats a URL or header goes through
:func:`julep_nb.sources.julep.config.redact`.
"""

from __future__ import annotations

from typing import Any

from julep_nb.live.errors import (
    ActionRefused,
    SourceNotFound,
    SourceUnauthorized,
    SourceUnreachable,
    StreamBroken,
)

__all__ = [
    "APIError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "InputError",
    "JulepError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "TransportError",
    "ValidationError",
    "error_for_status",
]


class JulepError(Exception):
    """Base class of every error of the Julep client and the magics."""


class APIError(JulepError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        body: Any = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"{self.status}: {self.message}{where}"


class AuthError(APIError, SourceUnauthorized):
    """401 or 403: the API key is missing, wrong, or not allowed here."""


class NotFoundError(APIError, SourceNotFound):
    """404: the object does not exist (or is not visible with this key)."""


class ConflictError(APIError, ActionRefused):
    """409: the request does not fit the object's current state."""


class ValidationError(APIError):
    """400 or 422: the request body or parameters are invalid."""


class RateLimitError(APIError, SourceUnreachable):
    """429: too many requests."""


class ServerError(APIError, SourceUnreachable):
    """5xx: the server failed."""


class TransportError(JulepError, SourceUnreachable):
    """The server could not be reached, or the connection broke."""


class StreamError(JulepError, StreamBroken):
    """An event stream could not be opened, read, or resumed."""


class ConfigError(JulepError):
    """Settings (base URL, environment, API key) are missing or contradict each other."""


class InputError(JulepError, ValueError):
    """A cell body or argument could not be parsed; no request was sent."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIError]:
    """The :class:`APIError` subclass for an HTTP status code."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return APIError
