"""Typed event streams of one execution: status events and transitions."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pydantic

from julep_nb.api._http import first_error
from julep_nb.api.errors import StreamError
from julep_nb.api.models import ExecutionStatusEvent, Transition, TransitionType
from julep_nb.api.sse import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
    EventStream,
    ServerSentEvent,
)

if TYPE_CHECKING:
    from julep_nb.api.client import Client

__all__ = ["FINAL_TRANSITIONS", "ModelStream", "parse_status_event", "parse_transition"]

M = TypeVar("M", bound=pydantic.BaseModel)

FINAL_TRANSITIONS = frozenset(
    {TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED}
)
"""Transition types after which an execution has no more transitions."""


class ModelStream(Generic[M]):
    """Typed events from one SSE endpoint: an async iterator that can be closed.

    Use ``async with client.stream_status(id) as events: async for e in events``
    (or ``contextlib.aclosing``) so the connection closes when you stop early.
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
        self._client = client
        self._path = path
        self._parse = parse
        self._start_id = last_event_id
        self._options: dict[str, Any] = {
            "read_timeout": read_timeout,
            "max_attempts": max_attempts,
            "backoff": client._backoff,
        }
        self.events: EventStream | None = None
        self._items = self._run()

    @property
    def last_event_id(self) -> str | None:
        """The SSE id to resume from (``None`` when the server sends no ids)."""
        return self.events.last_event_id if self.events else self._start_id

    def __aiter__(self) -> ModelStream[M]:
        return self

    async def __anext__(self) -> M:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        await self._items.aclose()

    async def __aenter__(self) -> ModelStream[M]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[M, None]:
        await self._client.ensure_base_url()
        # A close before the final event is a drop (reconnect); after it we stop
        # reading ourselves, so the server's close is never waited for.
        self.events = EventStream(
            self._client.http(),
            "GET",
            self._path,
            last_event_id=self._start_id,
            end_on_close=False,
            **self._options,
        )
        try:
            async for event in self.events:
                item, final = self._parse(event)
                yield item
                if final:
                    return
        finally:
            await self.events.aclose()


def parse_status_event(event: ServerSentEvent) -> tuple[ExecutionStatusEvent, bool]:
    try:
        item = ExecutionStatusEvent.model_validate_json(event.data)
    except pydantic.ValidationError as exc:
        raise StreamError(
            f"The status stream sent an event that is not an execution status "
            f"({first_error(exc)}): {event.data[:200]!r}."
        ) from exc
    return item, item.status.is_terminal


def parse_transition(event: ServerSentEvent) -> tuple[Transition, bool]:
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
