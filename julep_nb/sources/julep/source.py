"""Julep executions as a live :class:`~julep_nb.live.source.ExecutionSource`.

:class:`JulepSource` wraps a :class:`~julep_nb.sources.julep.client.Client`. Its live
stream (:class:`JulepStream`) follows the first way that works, in one connection
at a time:

1. ``transitions-stream``: JSON transitions as they are committed, resumed after the
   last SSE id (the local server numbers them 1..n, so a final ``finish`` at id n
   proves the timeline complete);
2. ``status-stream``: status events, each change followed by a pull of the new
   transitions (hosted Julep's transitions stream sends Python reprs and misses
   child-workflow transitions, so this is what drives against it).

Anything but refused credentials moves it from 1 to 2 (a server without the endpoint
answers 404 or 405 for a stream of an execution it just served); from 2 it raises
:class:`~julep_nb.live.errors.StreamUnavailable` and the watcher polls. The cursor
(:class:`JulepCursor`) carries which way works and what is already known, so a pull
asks only for the newest rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from julep_nb.live.errors import StreamUnavailable
from julep_nb.live.events import Capability, Event, ExecutionStatus
from julep_nb.live.source import Snapshot, SourceBase
from julep_nb.sources.julep.errors import AuthError, ConflictError, JulepError
from julep_nb.sources.julep.models import SOURCE_NAME, Execution, Transition

if TYPE_CHECKING:
    from julep_nb.sources.julep.client import Client

__all__ = ["STATUS_STREAM", "TRANSITIONS_STREAM", "JulepCursor", "JulepSource", "JulepStream"]

TRANSITIONS_STREAM: Final = "transitions-stream"
STATUS_STREAM: Final = "status-stream"
PULL_MARGIN: Final = 8  # extra rows asked for in an incremental pull, for concurrent commits
PULL_PAGE: Final = 100  # the servers' largest page
RECENT_IDS: Final = 2 * PULL_PAGE  # newest known ids a cursor remembers
MAX_QUIET: Final = 3  # a transitions stream that closes this often with nothing is dropped


@dataclass(frozen=True, slots=True)
class JulepCursor:
    """Where a Julep execution's watching stands."""

    last_event_id: str | None = None  # of the transitions stream
    seen: int = 0  # distinct transitions known
    reported: int = 0  # transitions the server reported
    recent: tuple[str, ...] = ()  # the newest known transition ids
    status_only: bool = False  # the transitions stream proved unusable
    quiet: int = 0  # transitions streams in a row that closed with nothing

    def knows(self, transition_id: str) -> bool:
        return transition_id in self.recent

    def with_transitions(self, transitions: Iterable[Transition]) -> JulepCursor:
        """The cursor after ``transitions`` (oldest first) were passed on."""
        recent = list(self.recent)
        seen = self.seen
        for transition in transitions:
            if transition.id not in recent:
                recent.append(transition.id)
                seen += 1
        return replace(self, seen=seen, recent=tuple(recent[-RECENT_IDS:]))


class JulepSource(SourceBase):
    """Julep executions: cancel and resume (answering ``awaiting_input``)."""

    name = SOURCE_NAME
    capabilities = frozenset({Capability.CANCEL, Capability.RESUME})

    def __init__(self, client: Client) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"JulepSource({self.client!r})"

    # ------------------------------------------------------------------ reading

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        """The execution and, unless the cursor holds them all, its transitions."""
        known = cursor if isinstance(cursor, JulepCursor) else JulepCursor()
        execution = await self.client.get_execution(execution_id)
        count = execution.transition_count  # None: the server did not say
        transitions: list[Transition] = []
        if count != 0 and (count is None or count > known.seen):
            transitions = await self.client.list_transitions(execution_id)
        return _snapshot(execution, transitions, known)

    async def poll(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        """The execution and the transitions past the cursor (newest first, then all)."""
        known = cursor if isinstance(cursor, JulepCursor) else JulepCursor()
        execution = await self.client.get_execution(execution_id)
        known = replace(known, reported=max(known.reported, execution.transition_count or 0))
        transitions = await self.pull(execution_id, known)
        return _snapshot(execution, transitions, known)

    def follow(self, execution_id: str, *, cursor: Any = None) -> JulepStream:
        known = cursor if isinstance(cursor, JulepCursor) else JulepCursor()
        return JulepStream(self, execution_id, known)

    async def pull(self, execution_id: str, known: JulepCursor) -> list[Transition]:
        """Transitions not known yet, oldest first (a few known ones may come too)."""
        if known.seen == 0:
            return await self.client.list_transitions(execution_id)
        expected = max(known.reported - known.seen, 0)
        limit = min(expected + PULL_MARGIN, PULL_PAGE)
        newest = await self.client.list_transitions(execution_id, limit=limit, direction="desc")
        if len(newest) >= limit and not any(known.knows(t.id) for t in newest):
            # More are new than one page holds: walk them all (the reducer drops the known).
            return await self.client.list_transitions(execution_id)
        return list(reversed(newest))

    # ------------------------------------------------------------------ actions

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        await self.client.cancel(execution_id, reason=reason)

    async def resume(self, execution_id: str, input: Mapping[str, Any]) -> None:
        """Answer the execution; refused (nothing sent) unless it is awaiting input."""
        execution = await self.client.get_execution(execution_id)
        if execution.status is not ExecutionStatus.AWAITING_INPUT:
            # A ConflictError, as the server's own 409 would be: also an ActionRefused.
            raise ConflictError(
                f"Execution {execution_id} is {execution.status.value}, not awaiting_input: "
                "there is nothing to resume. Resume it once its status is 'awaiting_input'.",
                status=409,
                code="not_awaiting_input",
            )
        await self.client.resume(execution_id, input)


def _snapshot(
    execution: Execution, transitions: Sequence[Transition], known: JulepCursor
) -> Snapshot:
    events: list[Event] = [execution.as_live_event()]
    events += [t.as_live_event() for t in transitions]
    cursor = known.with_transitions(transitions)
    cursor = replace(cursor, reported=max(cursor.reported, execution.transition_count or 0))
    return Snapshot(tuple(events), cursor)


class JulepStream:
    """The live events of one Julep execution (see the module docstring)."""

    def __init__(self, source: JulepSource, execution_id: str, cursor: JulepCursor) -> None:
        self.source = source
        self.execution_id = execution_id
        self.cursor = cursor
        self.complete = False
        self.name = STATUS_STREAM if cursor.status_only else TRANSITIONS_STREAM
        self._open: Any = None  # the client stream being read, closed by aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def aclose(self) -> None:
        stream, self._open = self._open, None
        if stream is not None:
            await stream.aclose()

    async def _events(self) -> AsyncIterator[Event]:
        if not self.cursor.status_only:
            try:
                async for event in self._transitions():
                    yield event
                return
            except AuthError:
                raise
            except JulepError:  # not JSON transitions, no such endpoint, a broken stream
                self.cursor = replace(self.cursor, status_only=True, quiet=0)
                self.name = STATUS_STREAM
        try:
            async for event in self._status():
                yield event
        except AuthError:
            raise
        except JulepError as exc:
            raise StreamUnavailable(
                f"no usable stream for Julep execution {self.execution_id}: {exc}"
            ) from exc

    async def _transitions(self) -> AsyncIterator[Event]:
        client = self.source.client
        stream = client.stream_transitions(
            self.execution_id, last_event_id=self.cursor.last_event_id
        )
        self._open = stream
        news = False
        try:
            async for transition in stream:
                news = True
                # A fake client's plain generator has no SSE ids: nothing to resume from.
                last_id = getattr(stream, "last_event_id", None) or self.cursor.last_event_id
                self.cursor = replace(
                    self.cursor.with_transitions((transition,)), last_event_id=last_id, quiet=0
                )
                entry = transition.as_live_event()
                if entry.is_final:
                    self.complete = _numbered_up_to(last_id, self.cursor.seen)
                yield entry
        finally:
            self._open = None
            with contextlib.suppress(Exception):
                await stream.aclose()
        if not news:
            quiet = self.cursor.quiet + 1
            self.cursor = replace(self.cursor, quiet=quiet, status_only=quiet >= MAX_QUIET)

    async def _status(self) -> AsyncIterator[Event]:
        # What a broken stream missed, before the status stream says what changes next.
        for event in await self._pulled():
            yield event
        stream = self.source.client.stream_status(self.execution_id)
        self._open = stream
        last_status = None
        try:
            async for status_event in stream:
                report = status_event.as_live_event()
                count = status_event.transition_count
                self.cursor = replace(self.cursor, reported=max(self.cursor.reported, count or 0))
                yield report
                if count is None or count > self.cursor.seen or report.status != last_status:
                    for event in await self._pulled():
                        yield event
                last_status = report.status
        finally:
            self._open = None
            with contextlib.suppress(Exception):
                await stream.aclose()

    async def _pulled(self) -> list[Event]:
        transitions = await self.source.pull(self.execution_id, self.cursor)
        self.cursor = self.cursor.with_transitions(transitions)
        return [t.as_live_event() for t in transitions]


def _numbered_up_to(last_id: str | None, count: int) -> bool:
    """Whether SSE ids number the transitions 1..``count`` (the local server's)."""
    return isinstance(last_id, str) and last_id.isdigit() and int(last_id) == count
