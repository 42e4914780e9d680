"""Temporal's RPC failures as the live layer's :class:`~julep_nb.live.errors.SourceError` tree.

``RPCError`` status codes decide: NOT_FOUND is :class:`SourceNotFound`,
UNAUTHENTICATED / PERMISSION_DENIED :class:`SourceUnauthorized`, UNAVAILABLE /
DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED / CANCELLED :class:`SourceUnreachable` (worth
retrying), FAILED_PRECONDITION and ALREADY_EXISTS :class:`ActionRefused`; anything
else a plain :class:`SourceError`. Messages name what was asked and never the API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.service import RPCError, RPCStatusCode

from julep_nb.live.errors import (
    ActionRefused,
    SourceError,
    SourceNotFound,
    SourceUnauthorized,
    SourceUnreachable,
)

__all__ = ["TRANSIENT", "map_rpc_error", "rpc_errors"]

TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,  # a connection reset mid-call surfaces as UNKNOWN
    }
)

_CLASSES: dict[RPCStatusCode, type[SourceError]] = {
    RPCStatusCode.NOT_FOUND: SourceNotFound,
    RPCStatusCode.UNAUTHENTICATED: SourceUnauthorized,
    RPCStatusCode.PERMISSION_DENIED: SourceUnauthorized,
    RPCStatusCode.FAILED_PRECONDITION: ActionRefused,
    RPCStatusCode.ALREADY_EXISTS: ActionRefused,
    **{code: SourceUnreachable for code in TRANSIENT},
}

_ADVICE: dict[type[SourceError], str] = {
    SourceNotFound: "check the workflow id (and run id) and the namespace",
    SourceUnauthorized: "check the API key and the namespace it is for",
    SourceUnreachable: "check that the Temporal server runs and the target is right",
    ActionRefused: "the workflow's state does not allow it now",
}


def map_rpc_error(exc: RPCError, what: str) -> SourceError:
    """The :class:`SourceError` for ``exc``, raised while doing ``what``."""
    cls = _CLASSES.get(exc.status, SourceError)
    advice = _ADVICE.get(cls)
    message = f"Temporal could not {what}: {exc.message or exc.status.name}"
    return cls(f"{message} ({advice})." if advice else f"{message}.")


@contextmanager
def rpc_errors(what: str) -> Iterator[None]:
    """Re-raise Temporal RPC failures inside the block as :class:`SourceError`s."""
    try:
        yield
    except RPCError as exc:
        raise map_rpc_error(exc, what) from exc
