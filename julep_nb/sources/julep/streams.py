"""Typed event streams of one execution: status events and transitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pydantic

from julep_nb.sources.julep._http import first_error
from julep_nb.sources.julep.errors import StreamError
from julep_nb.sources.julep.models import ExecutionStatusEvent, Transition, TransitionType
from julep_nb.sources.julep.sse import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
    BaseEventStream,
    ServerSentEvent,
)

if TYPE_CHECKING:
    from julep_nb.sources.julep.client import Client

__all__ = ["FINAL_TRANSITIONS", "ModelStream", "parse_status_event", "parse_transition"]

M = TypeVar("M", bound=pydantic.BaseModel)

FINAL_TRANSITIONS = frozenset(
    {TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED}
)
"""Transition types after which an execution has no more transitions."""


class ModelStream(BaseEventStream[M]):
    """Typed events of one execution stream: an async iterator that can be closed.

    It stops by itself after the final event (a terminal status, a ``finish``); a
    close before that is a dropped connection and is reconnected. Use ``async with
    client.stream_status(id) as events: async for e in events`` so the connection
    closes when you stop early.
    """

    def __init__(
        self,
        client: Client,
        path: str,
        parse: Callable[[ServerSentEvent], tuple[M, bool]],
        *,
        last_event_id: str | None = None,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        super().__init__(
            client.http_ready,
            "GET",
            path,
            last_event_id=last_event_id,
            max_attempts=max_attempts,
            backoff=client.backoff,
            read_timeout=read_timeout,
            end_on_close=False,
        )
        self._parse = parse

    def _convert(self, event: ServerSentEvent) -> tuple[M, bool]:
        return self._parse(event)


def parse_status_event(event: ServerSentEvent) -> tuple[ExecutionStatusEvent, bool]:
    """A status event, and whether its status is terminal."""
    try:
        item = ExecutionStatusEvent.model_validate_json(event.data)
    except pydantic.ValidationError as exc:
        raise StreamError(
            f"The status stream sent an event that is not an execution status "
            f"({first_error(exc)}): {event.data[:200]!r}."
        ) from exc
    return item, item.status.is_terminal


def parse_transition(event: ServerSentEvent) -> tuple[Transition, bool]:
    """A JSON transition, and whether it is final; :class:`StreamError` for anything else."""
    try:
        item = Transition.model_validate_json(event.data)
    except pydantic.ValidationError as exc:
        if event.data.lstrip().startswith("{'") or "None" in event.data:
            problem = "a Python repr, not JSON (hosted Julep does this)"
        else:
            problem = f"not a transition ({first_error(exc)})"
        raise StreamError(
            f"The transitions stream sent {problem}: {event.data[:200]!r}. "
            "Follow the status stream and list_transitions() instead."
        ) from exc
    return item, item.type in FINAL_TRANSITIONS
