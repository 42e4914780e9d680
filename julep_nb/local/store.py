"""SQLite store of the local server: agents, tasks, executions, append-only transitions.

One connection (``check_same_thread=False``) guarded by a lock; every public
method is a short synchronous call, safe from the server's event-loop thread.
An execution's ``status``, ``output``, ``error``, ``transition_count`` and
``updated_at`` are derived from its transitions; they are cached on the
execution row in the same transaction that appends the transition, so they can
never disagree with the transition log.

Each transition gets a per-execution sequence number (1, 2, …): the transitions
stream uses it as the SSE ``id``. Listeners registered with :meth:`Store.add_listener`
are called after each commit, in commit order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from julep_nb.local.agent_tools import AgentTools
from julep_nb.local.agents import AgentRows
from julep_nb.local.commit_group import CommitGroup
from julep_nb.local.ended import EndedRows
from julep_nb.local.errors import Conflict
from julep_nb.local.history import TransitionReads
from julep_nb.local.ids import new_id
from julep_nb.local.rows import (
    EXECUTION_COLUMNS,
    RESERVED,
    SCHEMA,
    check_page,
    dumps,
    execution_from_row,
    execution_json,
    not_found,
    now_us,
    task_from_row,
)
from julep_nb.local.transition_writes import Listener, TransitionWrites
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    Task,
)

__all__ = ["ExecutionRow", "Listener", "Store"]

log = logging.getLogger(__name__)

_TASK_CACHE_SIZE: Final = 1024

NewRow = tuple[dict[str, Any], "dict[str, Any] | None", "str | None"]
"""A new execution's ``(input, metadata, idempotency_key)``."""

ExecutionRow = tuple[Any, ...]
"""An execution as a row of ``rows.EXECUTION_COLUMNS``."""


class Store(AgentRows, TransitionReads, TransitionWrites):
    """The local server's SQLite store (WAL mode on files; ``None``/``":memory:"`` in memory).

    Meant to be the only writer of its file: it caches task rows and the latest
    transition of live executions (a write through another connection is detected
    for transitions, not for task edits).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = ":memory:" if path is None else os.fspath(path)
        self._lock = threading.RLock()
        self._listeners: list[tuple[Listener, Callable[[str], bool] | None]] = []
        self._heads: dict[str, tuple[str | None, int, int]] = {}
        self._ended = EndedRows()  # rows of executions that ended lately (local/ended.py)
        self._tasks: dict[str, tuple[str, str, int, int]] = {}
        self._task_specs: dict[str, str] = {}  # task id → its wire JSON (see task_spec)
        self._input_schemas: dict[str, dict[str, Any] | None] = {}  # see input_schema
        self._last_created = 0  # created_at of the newest execution (microseconds)
        self._agent_names: dict[str, dict[str, Any]] = {}  # see AgentRows.agent_names
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (a commit group may hold many).
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, cached_statements=256
        )
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process crash; only an OS crash may lose
            # the last commits, which is acceptable for a local development server.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint (and fsync) every ~40 MB of WAL rather than every 4 MB: a
            # checkpoint runs on the committing call, so fewer means steadier latency.
            self._db.execute("PRAGMA wal_autocheckpoint=10000")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._group = CommitGroup(self._db, self._lock)
        self.agent_tools = AgentTools(self)
        """The agents' tools (``/agents/{agent_id}/tools``)."""

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            self._group.flush()
            self._db.close()

    def group_commits(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Let the transitions written on ``loop`` share a commit per turn (``None``: stop).

        See :mod:`julep_nb.local.commit_group`; the server attaches its own loop.
        """
        if loop is None:
            self._group.detach()
        else:
            self._group.attach(loop)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._group.flush()
            self._agent_names.clear()  # agents and their tools change only here
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _write_in_group(self) -> Iterator[sqlite3.Connection]:
        """A write that joins the loop's commit group when it can (see :meth:`committed`)."""
        with self._lock:
            if not self._group.joinable():
                with self._write() as db:
                    yield db
                return
            self._group.join()
            yield self._db  # a failing statement leaves nothing behind; the group goes on

    def committed(self) -> asyncio.Future[None]:
        """Done once every write made so far on the server's loop is committed."""
        with self._lock:
            return self._group.committed()

    def _one(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> tuple[Any, ...] | None:
        """One row. ``grouped_rows=False``: the open commit group wrote none of the rows read
        (agents and tools, which no transition writes; an execution it did not touch), so
        it may stay open."""
        with self._lock:
            if grouped_rows:
                self._group.flush()  # no answer is built from uncommitted rows
            row: tuple[Any, ...] | None = self._db.execute(sql, params).fetchone()
            return row

    def _all(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> list[tuple[Any, ...]]:
        """All rows (``grouped_rows`` as for :meth:`_one`)."""
        with self._lock:
            if grouped_rows:
                self._group.flush()
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ tasks

    def create_task(self, agent_id: str, spec: dict[str, Any], task_id: str | None = None) -> Task:
        """Store a new task of ``agent_id``; ``Conflict`` if ``task_id`` is taken."""
        self.get_agent(agent_id)
        task_id = task_id or new_id()
        body = {k: v for k, v in spec.items() if k not in RESERVED}
        now = now_us()
        spec_json = dumps(body)
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO tasks VALUES (?, ?, ?, ?, ?)",
                    (task_id, agent_id, spec_json, now, now),
                )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"task {task_id!r} already exists: update it with PUT "
                f"/agents/{agent_id}/tasks/{task_id}",
                code="conflict",
            ) from None
        self._remember_task(task_id, agent_id, spec_json, now, now)
        return task_from_row(task_id, agent_id, body, now, now)

    def update_task(
        self, task_id: str, spec: dict[str, Any], *, agent_id: str | None = None
    ) -> Task:
        """Replace a task's spec; creates it under ``agent_id`` when it does not exist yet."""
        body = {k: v for k, v in spec.items() if k not in RESERVED}
        spec_json, now = dumps(body), now_us()
        with self._write() as db:
            found = db.execute(
                "SELECT agent_id, created_at FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if found is not None:
                db.execute(
                    "UPDATE tasks SET spec = ?, updated_at = ? WHERE id = ?",
                    (spec_json, now, task_id),
                )
        if found is not None:
            self._remember_task(task_id, found[0], spec_json, found[1], now)
            return task_from_row(task_id, found[0], body, found[1], now)
        if agent_id is None:
            raise not_found("task", task_id)
        return self.create_task(agent_id, body, task_id=task_id)

    def get_task(self, task_id: str) -> Task:
        """The task with this id (``NotFound`` when unknown)."""
        agent_id, spec, created, updated = self._task_row(task_id)
        return task_from_row(task_id, agent_id, json.loads(spec), created, updated)

    def task_spec(self, task_id: str) -> dict[str, Any]:
        """The task as wire data (what an execution runs): a fresh dict on every call."""
        spec: dict[str, Any] = json.loads(self.task_spec_json(task_id))
        return spec

    def task_spec_json(self, task_id: str) -> str:
        """:meth:`task_spec` as JSON text, kept per task (the same string until it changes)."""
        cached = self._task_specs.get(task_id)
        if cached is None:
            cached = json.dumps(self.get_task(task_id).to_wire(), separators=(",", ":"))
            self._task_specs[task_id] = cached
        return cached

    def input_schema(self, task_id: str) -> dict[str, Any] | None:
        """The task's ``input_schema`` (``NotFound`` when unknown): what a new execution's
        input is checked against, kept per task (do not modify it)."""
        if task_id in self._input_schemas:
            return self._input_schemas[task_id]
        schema = json.loads(self._task_row(task_id)[1]).get("input_schema") or None
        self._input_schemas[task_id] = schema
        return schema

    def _task_row(self, task_id: str) -> tuple[str, str, int, int]:
        # Tasks are read for every execution and rarely change: keep their rows.
        cached = self._tasks.get(task_id)
        if cached is not None:
            return cached
        row = self._one(
            "SELECT agent_id, spec, created_at, updated_at FROM tasks WHERE id = ?", (task_id,)
        )
        if row is None:
            raise not_found("task", task_id)
        return self._remember_task(task_id, row[0], row[1], row[2], row[3])

    def _remember_task(
        self, task_id: str, agent_id: str, spec: str, created: int, updated: int
    ) -> tuple[str, str, int, int]:
        if len(self._tasks) >= _TASK_CACHE_SIZE:
            self._tasks.clear()
            self._task_specs.clear()
            self._input_schemas.clear()
        self._task_specs.pop(task_id, None)
        self._input_schemas.pop(task_id, None)
        self._tasks[task_id] = (agent_id, spec, created, updated)
        return self._tasks[task_id]

    def list_tasks(
        self, agent_id: str, *, limit: int = 100, offset: int = 0, direction: str = "desc"
    ) -> list[Task]:
        """The agent's tasks, by creation time."""
        order = check_page(limit, offset, direction)
        rows = self._all(
            "SELECT id, agent_id, spec, created_at, updated_at FROM tasks WHERE agent_id = ? "
            f"ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?",
            (agent_id, limit, offset),
        )
        return [task_from_row(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    # ------------------------------------------------------------------ executions

    def create_execution(
        self,
        task_id: str,
        input: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Execution, bool]:
        """A new queued execution, or the first one made with the same idempotency key.

        Returns ``(execution, created)``; ``created`` is false for a repeated key.
        """
        return self.create_executions(task_id, [(input, metadata, idempotency_key)])[0]

    def create_executions(
        self, task_id: str, items: Sequence[NewRow]
    ) -> list[tuple[Execution, bool]]:
        """:meth:`create_execution` for each ``(input, metadata, idempotency_key)``, in order,
        in one transaction (on the server's loop: the loop turn's commit group)."""
        return [(execution_from_row(row), made) for row, made in self.create_rows(task_id, items)]

    def create_rows(self, task_id: str, items: Sequence[NewRow]) -> list[tuple[ExecutionRow, bool]]:
        """:meth:`create_executions` answering each execution's row of
        ``EXECUTION_COLUMNS`` (``rows.execution_wire``/``execution_json`` read it): what the
        routes use, so a created execution is never built as a model."""
        self._task_row(task_id)  # NotFound for an unknown task
        with self._write_in_group() as db:  # the app awaits committed() before answering
            if len(items) == 1:
                return [self._insert_execution(db, task_id, *items[0])]
            made: list[tuple[ExecutionRow, bool]] = []
            db.execute("SAVEPOINT create_executions")  # all of them or none, in a group too
            try:
                for item in items:
                    made.append(self._insert_execution(db, task_id, *item))
            except BaseException:
                db.execute("ROLLBACK TO create_executions")
                db.execute("RELEASE create_executions")
                for row, created in made:
                    if created:
                        self._heads.pop(row[0], None)
                        self._ended.forget(row[0])
                raise
            db.execute("RELEASE create_executions")
            return made

    def _insert_execution(
        self,
        db: sqlite3.Connection,
        task_id: str,
        input: dict[str, Any],
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> tuple[ExecutionRow, bool]:
        if idempotency_key is not None:
            row = db.execute(
                f"SELECT {EXECUTION_COLUMNS} FROM executions "
                "WHERE task_id = ? AND idempotency_key = ?",
                (task_id, idempotency_key),
            ).fetchone()
            if row is not None:
                return row, False
        execution_id = new_id()
        # Strictly increasing: executions listed by creation time come in the order made.
        now = self._last_created = max(now_us(), self._last_created + 1)
        input_json = dumps(input)
        metadata_json = None if metadata is None else dumps(metadata)
        db.execute(
            "INSERT INTO executions (id, task_id, input, metadata, idempotency_key, "
            "created_at, updated_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                execution_id,
                task_id,
                input_json,
                metadata_json,
                idempotency_key,
                now,
                now,
                ExecutionStatus.QUEUED.value,
            ),
        )
        self._heads[execution_id] = (None, 0, now)
        self._ended.born(execution_id, task_id, input_json, metadata_json, now)
        self._group.created(execution_id)  # a read of it commits the group first
        row = (execution_id, task_id, input_json, metadata_json, now, now, "queued", 0, None, None)
        return row, True

    def get_execution(self, execution_id: str) -> Execution:
        """The execution with its derived status, output, error and transition count."""
        return execution_from_row(self._execution_row(execution_id))

    def get_execution_json(self, execution_id: str) -> tuple[str, ExecutionStatus]:
        """``get_execution(…).to_wire()`` as JSON text, and the status: built from the
        row's JSON columns, without a model (``rows.execution_json``)."""
        row = self._execution_row(execution_id)
        return execution_json(row), ExecutionStatus(row[6])

    def _execution_row(self, execution_id: str) -> tuple[Any, ...]:
        with self._lock:
            ended = self._ended.get(execution_id)
            if ended is not None:
                return ended
            row = self._one(
                f"SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?",
                (execution_id,),
                grouped_rows=self._group.touches(execution_id),
            )
        if row is None:
            raise not_found("execution", execution_id)
        return row
