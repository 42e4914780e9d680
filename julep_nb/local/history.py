"""Reading executions back: lists, transitions, wait tokens, checkpoints.

A part of :class:`~julep_nb.local.store.Store`, which supplies the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from julep_nb.local.errors import Conflict, InvalidRequest, NotFound
from julep_nb.local.rows import (
    EXECUTION_COLUMNS,
    SORT_COLUMNS,
    TRANSITION_COLUMNS,
    check_page,
    dumps,
    execution_from_row,
    execution_json,
    not_found,
    transition_from_row,
)
from julep_nb.sources.julep.models import Execution, ExecutionStatus, Transition

__all__ = ["TransitionReads"]


class TransitionReads:
    """Transition pages, single transitions, wait tokens and checkpoints (the store
    supplies the database)."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _one(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _all(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def get_execution(self, execution_id: str) -> Execution:
        raise NotImplementedError

    def list_executions(
        self,
        task_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        sort_by: str = "created_at",
        direction: str = "desc",
    ) -> list[Execution]:
        """The task's executions, sorted by ``created_at`` or ``updated_at``."""
        rows = self._execution_rows(task_id, limit, offset, sort_by, direction)
        return [execution_from_row(r) for r in rows]

    def list_executions_json(
        self,
        task_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        sort_by: str = "created_at",
        direction: str = "desc",
    ) -> list[str]:
        """:meth:`list_executions` as each execution's wire JSON (what the listing sends)."""
        rows = self._execution_rows(task_id, limit, offset, sort_by, direction)
        return [execution_json(r) for r in rows]

    def _execution_rows(
        self, task_id: str, limit: int, offset: int, sort_by: str, direction: str
    ) -> list[tuple[Any, ...]]:
        order = check_page(limit, offset, direction)
        if sort_by not in SORT_COLUMNS:
            raise InvalidRequest(f"sort_by must be 'created_at' or 'updated_at', got {sort_by!r}")
        return self._all(
            f"SELECT {EXECUTION_COLUMNS} FROM executions WHERE task_id = ? "
            f"ORDER BY {SORT_COLUMNS[sort_by]} {order}, id {order} LIMIT ? OFFSET ?",
            (task_id, limit, offset),
        )

    def executions_with_status(self, statuses: Iterable[ExecutionStatus]) -> list[Execution]:
        """Every execution whose status is one of ``statuses`` (oldest first)."""
        values = [ExecutionStatus(s).value for s in statuses]
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        rows = self._all(
            f"SELECT {EXECUTION_COLUMNS} FROM executions WHERE status IN ({marks}) "
            "ORDER BY created_at",
            tuple(values),
        )
        return [execution_from_row(r) for r in rows]

    def latest_transition(self, execution_id: str) -> Transition | None:
        """The execution's most recent transition, or ``None`` while it is queued."""
        rows = self._all(
            f"SELECT {TRANSITION_COLUMNS} FROM transitions WHERE execution_id = ? "
            "ORDER BY seq DESC LIMIT 1",
            (execution_id,),
        )
        if not rows:
            self.get_execution(execution_id)  # NotFound for an unknown id
            return None
        return transition_from_row(rows[0])

    def list_transitions(
        self,
        execution_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        direction: str = "asc",
        scope_id: str | None = None,
    ) -> list[Transition]:
        """A page of the execution's transitions in commit order (optionally one scope)."""
        order = check_page(limit, offset, direction)
        scope = "" if scope_id is None else " AND scope_id = ?"
        params: tuple[Any, ...] = (execution_id,) if scope_id is None else (execution_id, scope_id)
        rows = self._all(
            f"SELECT {TRANSITION_COLUMNS} FROM transitions WHERE execution_id = ?{scope} "
            f"ORDER BY seq {order} LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        if not rows and offset == 0:
            self.get_execution(execution_id)
        return [transition_from_row(r) for r in rows]

    def transitions_after(self, execution_id: str, seq: int) -> list[tuple[int, Transition]]:
        """Every transition with a sequence number above ``seq``, as ``(seq, transition)``."""
        rows = self._all(
            f"SELECT {TRANSITION_COLUMNS} FROM transitions WHERE execution_id = ? AND seq > ? "
            "ORDER BY seq",
            (execution_id, seq),
        )
        return [(r[0], transition_from_row(r)) for r in rows]

    def get_transition(self, execution_id: str, transition_id: str) -> Transition:
        """One transition of the execution (``NotFound`` when unknown)."""
        row = self._one(
            f"SELECT {TRANSITION_COLUMNS} FROM transitions WHERE execution_id = ? AND id = ?",
            (execution_id, transition_id),
        )
        if row is None:
            self.get_execution(execution_id)
            raise not_found("transition", transition_id)
        return transition_from_row(row)

    def find_waiting_by_token(self, task_token: str) -> Execution:
        """The execution whose latest transition is the ``wait`` that carries ``task_token``.

        ``NotFound`` for an unknown token; ``Conflict`` when the token's
        wait has already been answered (the execution moved on).
        """
        row = self._one(
            "SELECT execution_id, seq FROM transitions WHERE task_token = ?", (task_token,)
        )
        if row is None:
            raise NotFound("no execution is waiting with this task token: check the token")
        execution = self.get_execution(row[0])
        if execution.transition_count != row[1]:
            raise Conflict(
                f"the wait of execution {execution.id!r} for this task token was already "
                f"answered; the execution is now {execution.status.value}",
                code="conflict",
            )
        return execution

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, execution_id: str, data: dict[str, Any]) -> None:
        """Replace the engine's opaque checkpoint of an execution."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (execution_id, dumps(data))
            )

    def load_checkpoint(self, execution_id: str) -> dict[str, Any] | None:
        """The execution's last checkpoint, or ``None``."""
        row = self._one("SELECT data FROM checkpoints WHERE execution_id = ?", (execution_id,))
        return None if row is None else json.loads(row[0])
