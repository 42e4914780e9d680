"""An in-memory execution service for panel tests (the ExecutionSource protocol).

The test commits transitions (``commit("step")``) and the transitions stream pushes
them to the watcher at once; ``cancel`` and ``resume`` behave like Julep's (a
``cancelled`` or ``resume`` transition) and can be held in flight with ``gate`` or
made to fail with ``fail``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from julep_nb.sources.julep.errors import ConflictError, StreamError
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatusEvent,
    Transition,
    TransitionType,
    status_for,
)

FINAL = {TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED}


class MemoryJulep:
    """One execution whose transitions the test commits."""

    def __init__(self, execution_id: str = "exec-1", task_id: str = "task-1") -> None:
        self.execution_id = execution_id
        self.task_id = task_id
        self.created_at = datetime.now(timezone.utc)
        self.transitions: list[Transition] = []
        self.cancels: list[str | None] = []
        self.resumes: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None  # holds cancel/resume requests in flight
        self.fail: BaseException | None = None  # raised by the next cancel/resume
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ the test's side

    def commit(self, kind: str, output: Any = None, *, label: str | None = None) -> Transition:
        step = len(self.transitions)
        transition = Transition.model_validate(
            {
                "id": f"{self.execution_id}-t{step:05d}",
                "execution_id": self.execution_id,
                "type": kind,
                "output": output,
                "current": {"workflow": "main", "step": step},
                "next": None
                if TransitionType(kind) in FINAL
                else {"workflow": "main", "step": step + 1},
                "step_label": label,
                "created_at": datetime.now(timezone.utc),
            }
        )
        self.transitions.append(transition)
        self._changed.set()
        return transition

    @property
    def done(self) -> bool:
        return bool(self.transitions) and self.transitions[-1].type in FINAL

    # ------------------------------------------------------------------ ExecutionSource

    async def get_execution(self, execution_id: str) -> Execution:
        latest = self.transitions[-1] if self.transitions else None
        return Execution(
            id=execution_id,
            task_id=self.task_id,
            status=status_for(latest.type if latest else None),
            output=latest.output if latest else None,
            transition_count=len(self.transitions),
            created_at=self.created_at,
            updated_at=latest.created_at if latest else self.created_at,
        )

    async def list_transitions(
        self,
        execution_id: str,
        *,
        limit: int | None = None,
        direction: str = "asc",
        scope_id: str | None = None,
    ) -> list[Transition]:
        items = list(self.transitions)
        if direction == "desc":
            items.reverse()
        return items[:limit] if limit else items

    async def stream_transitions(
        self, execution_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Transition]:
        sent = 0
        if last_event_id is not None:
            ids = [t.id for t in self.transitions]
            sent = ids.index(last_event_id) + 1 if last_event_id in ids else 0
        while True:
            while sent < len(self.transitions):
                sent += 1
                yield self.transitions[sent - 1]
            if self.done:
                return
            self._changed.clear()
            await self._changed.wait()

    async def stream_status(self, execution_id: str) -> AsyncIterator[ExecutionStatusEvent]:
        raise StreamError("no status stream in memory")
        yield  # pragma: no cover - makes this an async generator

    async def _steer(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        self.cancels.append(reason)
        await self._steer()
        if self.done:
            raise ConflictError(f"Execution {execution_id} already ended", status=409)
        self.commit("cancelled", {"reason": reason})

    async def resume(self, execution_id: str, input: dict[str, Any]) -> None:
        self.resumes.append(input)
        await self._steer()
        self.commit("resume", input)
