"""Execution sources for live-layer tests: a misbehaving Julep, and a scripted source.

:class:`FakeJulep`, on :class:`tests.faults.FaultServer`, serves one execution
whose transitions are "committed" one by one (``commit()``), with the four endpoints
the watcher reads. Its two streams are pluggable handlers, so a test picks how each
stream misbehaves: JSON transitions with drops, Python reprs, a 401, a status stream
that never closes, HTML…

:class:`ScriptedSource` implements the ExecutionSource protocol in memory, for
tests that need exact event timing rather than HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from julep_nb.sources.julep.errors import StreamError, TransportError
from julep_nb.sources.julep.models import Execution, ExecutionStatusEvent, Transition, status_for
from tests.faults import (
    EXECUTION_ID,
    T0,
    Handler,
    Request,
    Responder,
    format_event,
    json_reply,
    routes,
    transition_dicts,
)

STATUS_OF = {
    "init": "starting",
    "step": "running",
    "wait": "awaiting_input",
    "resume": "running",
    "finish": "succeeded",
    "error": "failed",
    "cancelled": "cancelled",
}


async def _html(request: Request, reply: Responder) -> None:
    await reply.send_raw(200, b"<html>login</html>", {"Content-Type": "text/html"})


class FakeJulep:
    """One execution of ``n`` transitions (init, steps, finish), committed on demand."""

    def __init__(self, n: int = 6, *, committed: int = 0, execution_id: str = EXECUTION_ID):
        self.execution_id = execution_id
        self.all = transition_dicts(n, execution_id)
        self.committed = committed
        self.changed = asyncio.Event()
        self.transitions_stream: Handler = _html
        self.status_stream: Handler = _html
        base = f"/executions/{execution_id}"
        self.handler = routes(
            {
                ("GET", base): self._get_execution,
                ("GET", f"{base}/transitions"): self._list_transitions,
                ("GET", f"{base}/transitions.stream"): self._transitions_stream,
                ("GET", f"{base}/status.stream"): self._status_stream,
            }
        )

    # ------------------------------------------------------------------ model

    def commit(self, count: int = 1) -> None:
        self.committed = min(self.committed + count, len(self.all))
        self.changed.set()

    @property
    def visible(self) -> list[dict[str, Any]]:
        return self.all[: self.committed]

    @property
    def status(self) -> str:
        return STATUS_OF[self.visible[-1]["type"]] if self.committed else "queued"

    def execution(self) -> dict[str, Any]:
        last = self.visible[-1] if self.committed else None
        return {
            "id": self.execution_id,
            "task_id": "00000000-0000-4000-8000-0000000000ta",
            "status": self.status,
            "input": {"x": 1},
            "output": last["output"] if last else None,
            "error": None,
            "transition_count": self.committed,
            "created_at": self.all[0]["created_at"],
            "updated_at": last["created_at"] if last else self.all[0]["created_at"],
            "metadata": {},
        }

    def status_event(self) -> str:
        fields = self.execution()
        return json.dumps(
            {
                "execution_id": self.execution_id,
                "status": fields["status"],
                "updated_at": fields["updated_at"],
                "error": None,
                "transition_count": self.committed,
                "metadata": {},
            }
        )

    # ------------------------------------------------------------------ endpoints

    async def _get_execution(self, request: Request, reply: Responder) -> None:
        await reply.send_json(200, self.execution())

    async def _list_transitions(self, request: Request, reply: Responder) -> None:
        items = list(self.visible)
        if request.query.get("direction") == "desc":
            items.reverse()
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "100"))
        await reply.send_json(200, {"items": items[offset : offset + limit]})

    async def _transitions_stream(self, request: Request, reply: Responder) -> None:
        await self.transitions_stream(request, reply)

    async def _status_stream(self, request: Request, reply: Responder) -> None:
        await self.status_stream(request, reply)

    # ------------------------------------------------------------------ stream behaviours

    def status_driver(self, *, interval: float = 0.01, close: bool = False) -> Handler:
        """Julep's status stream that also commits, one transition per ``interval``.

        Like the real one it sends an event only when the status changes, so the
        steps in between are seen only by pulling transitions. With ``close=False``
        it stays open after the terminal status (bounded by the fault server).
        """

        async def handler(request: Request, reply: Responder) -> None:
            await reply.start_stream()
            await reply.send(format_event(self.status_event()))
            while self.committed < len(self.all):
                await asyncio.sleep(interval)
                before = self.status
                self.commit()
                if self.status != before:
                    await reply.send(format_event(self.status_event()))
                await reply.send(": ping\n\n")
            if close:
                await reply.end()
            else:
                await asyncio.sleep(3600)

        return handler

    def committing_transitions(
        self, *, drop_every: int | None = None, comment_after: bool = False
    ) -> Handler:
        """A JSON transitions stream with ``id:`` = sequence number, committing as it goes.

        ``drop_every=k`` breaks each connection after k events; ``Last-Event-ID``
        resumes after the given number, as the local server does.
        """

        async def handler(request: Request, reply: Responder) -> None:
            after = int(request.headers.get("last-event-id") or 0)
            await reply.start_stream()
            sent = 0
            seq = after
            while seq < len(self.all):
                if seq >= self.committed:
                    self.commit()
                if drop_every and sent == drop_every:
                    await reply.drop()
                    return
                await reply.send(format_event(json.dumps(self.all[seq]), id=str(seq + 1)))
                if comment_after:
                    await reply.send(": ping\n\n")
                seq += 1
                sent += 1
                await asyncio.sleep(0)
            await reply.end()

        return handler


def html_page() -> Handler:
    """A 200 text/html answer (a proxy's login page instead of an event stream)."""
    return _html


def unauthorized() -> Handler:
    """401 in Julep's error shape."""
    return json_reply(
        401, {"error": {"message": "Invalid API key", "code": "unauthorized", "type": "auth"}}
    )


class ScriptedSource:
    """An ExecutionSource whose transitions stream emits ``n`` transitions, ``gap`` apart."""

    def __init__(self, n: int, *, gap: float = 0.0, hold: asyncio.Event | None = None):
        self.all = [Transition.model_validate(t) for t in transition_dicts(n)]
        self.committed = 0
        self.gap = gap
        self.hold = hold  # the stream waits on it before the final transition
        self.stream_closed = asyncio.Event()
        self.gets = 0
        self.fail_gets = 0
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.cancelled: list[str | None] = []
        self.resumed: list[dict[str, Any]] = []

    async def get_execution(self, execution_id: str) -> Execution:
        self.gets += 1
        if self.fail_gets:
            self.fail_gets -= 1
            raise TransportError("Could not reach the Julep server at http://fake (test)")
        latest = self.all[self.committed - 1].type if self.committed else None
        status = status_for(latest).value
        return Execution.model_validate(
            {"id": execution_id, "task_id": "t", "status": status, "created_at": T0}
        )

    async def list_transitions(
        self, execution_id: str, *, limit=None, direction="asc", scope_id=None
    ) -> list[Transition]:
        items = self.all[: self.committed]
        if direction == "desc":
            items = items[::-1]
        return items[:limit] if limit else items

    async def stream_transitions(
        self, execution_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Transition]:
        try:
            for i, transition in enumerate(self.all):
                if self.hold is not None and i == len(self.all) - 1:
                    await self.hold.wait()
                self.committed = i + 1
                yield transition
                await asyncio.sleep(self.gap)
        finally:
            self.stream_closed.set()

    async def stream_status(self, execution_id: str) -> AsyncIterator[ExecutionStatusEvent]:
        raise StreamError("no status stream here")
        yield  # pragma: no cover - makes this an async generator

    async def create_execution(
        self, task_id: str, input: dict[str, Any], *, metadata: dict[str, Any] | None = None
    ) -> Execution:
        self.created.append((task_id, input))
        return await self.get_execution(EXECUTION_ID)

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        self.cancelled.append(reason)

    async def resume(self, execution_id: str, input: dict[str, Any]) -> None:
        self.resumed.append(input)
