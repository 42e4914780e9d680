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

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from julep_nb.local.agent_tools import AgentTools
from julep_nb.local.agents import AgentRows
from julep_nb.local.errors import Conflict
from julep_nb.local.history import TransitionReads
from julep_nb.local.ids import new_id
from julep_nb.local.rows import (
    EXECUTION_COLUMNS,
    INSERT_TRANSITION,
    MOVE_HEAD,
    RESERVED,
    SCHEMA,
    StaleHead,
    check_order,
    check_page,
    dumps,
    error_text,
    execution_from_row,
    not_found,
    now_us,
    read_head,
    target_dict,
    task_from_row,
    to_dt,
)
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    Task,
    Transition,
    TransitionTarget,
    TransitionType,
    status_for,
)

__all__ = ["Listener", "Store"]

log = logging.getLogger(__name__)

_TASK_CACHE_SIZE: Final = 1024

Listener = Callable[[Transition, int], None]


class Store(AgentRows, TransitionReads):
    """The local server's SQLite store (WAL mode on files; ``None``/``":memory:"`` in memory).

    Meant to be the only writer of its file: it caches task rows and the latest
    transition of live executions (a write through another connection is detected
    for transitions, not for task edits).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = ":memory:" if path is None else os.fspath(path)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._heads: dict[str, tuple[str | None, int, int]] = {}
        self._tasks: dict[str, tuple[str, str, int, int]] = {}
        self._task_specs: dict[str, str] = {}  # task id → its wire JSON (see task_spec)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per write.
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
        self.agent_tools = AgentTools(self)
        """The agents' tools (``/agents/{agent_id}/tools``)."""

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, params).fetchone()
            return row

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
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
        cached = self._task_specs.get(task_id)
        if cached is None:
            cached = json.dumps(self.get_task(task_id).to_wire(), separators=(",", ":"))
            self._task_specs[task_id] = cached
        spec: dict[str, Any] = json.loads(cached)
        return spec

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
        self._task_specs.pop(task_id, None)
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
        self._task_row(task_id)  # NotFound for an unknown task
        execution_id = new_id()
        now = now_us()
        input_json = dumps(input)
        metadata_json = None if metadata is None else dumps(metadata)
        with self._write() as db:
            if idempotency_key is not None:
                row = db.execute(
                    "SELECT id FROM executions WHERE task_id = ? AND idempotency_key = ?",
                    (task_id, idempotency_key),
                ).fetchone()
                if row is not None:
                    return self.get_execution(row[0]), False
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
        row = (execution_id, task_id, input_json, metadata_json, now, now, "queued", 0, None, None)
        return execution_from_row(row), True

    def get_execution(self, execution_id: str) -> Execution:
        """The execution with its derived status, output, error and transition count."""
        row = self._one(f"SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?", (execution_id,))
        if row is None:
            raise not_found("execution", execution_id)
        return execution_from_row(row)

    # ------------------------------------------------------------------ transitions

    def append_transition(
        self,
        execution_id: str,
        *,
        type: TransitionType,
        output: Any,
        current: TransitionTarget | dict[str, Any],
        next: TransitionTarget | dict[str, Any] | None,
        step_label: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transition:
        """Append a transition, checked against the transition rules, then notify listeners.

        Raises ``Conflict`` naming both types when ``type`` may not follow the
        latest transition, and ``NotFound`` for an unknown execution.
        """
        type_ = TransitionType(type)
        cur, nxt = target_dict(current), target_dict(next)
        assert cur is not None
        token = (metadata or {}).get("task_token")
        output_json = dumps(output)
        row = [
            execution_id,
            0,  # seq, set below
            new_id(),
            type_.value,
            output_json,
            dumps(cur),
            None if nxt is None else dumps(nxt),
            cur.get("scope_id"),
            step_label,
            None if metadata is None else dumps(metadata),
            None if token is None else str(token),
            0,  # created_at, set below
        ]
        update = [status_for(type_).value, type_.value, 0, output_json, error_text(type_, output)]
        with self._lock:
            seq, created = self._commit_transition(execution_id, type_, row, update)
            created_at = to_dt(created)
            # Every field is checked above (cursors, type, JSON output): no second validation.
            transition = Transition.model_construct(
                id=row[2],
                execution_id=execution_id,
                type=type_,
                output=output,
                current=TransitionTarget.model_construct(**cur),
                next=None if nxt is None else TransitionTarget.model_construct(**nxt),
                step_label=step_label,
                metadata=metadata,
                created_at=created_at,
                updated_at=created_at,
            )
            # Inside the lock so that listeners see transitions in commit order.
            self._notify(transition, seq)
        return transition

    def _commit_transition(
        self, execution_id: str, type_: TransitionType, row: list[Any], update: list[Any]
    ) -> tuple[int, int]:
        """Insert the row and move the execution's head in one transaction; (seq, created)."""
        for attempt in range(2):
            # The head (latest type, seq, time) is cached per live execution to save a
            # read per transition; the guarded UPDATE notices a stale head (another
            # Store on the same file), which is then re-read once.
            head = self._heads.get(execution_id) if attempt == 0 else None
            try:
                with self._write() as db:
                    last_type, last_seq, last_us = head or read_head(db, execution_id)
                    check_order(execution_id, last_type, type_)
                    seq, created = last_seq + 1, max(now_us(), last_us + 1)
                    row[1], row[11] = seq, created
                    db.execute(INSERT_TRANSITION, row)
                    moved = db.execute(
                        MOVE_HEAD, (*update[:2], seq, *update[3:], created, execution_id, last_seq)
                    )
                    if moved.rowcount != 1:
                        raise StaleHead
            except (StaleHead, sqlite3.IntegrityError):
                self._heads.pop(execution_id, None)
                if attempt:
                    raise
                continue
            if status_for(type_).is_terminal:
                self._heads.pop(execution_id, None)  # nothing may follow: free the entry
            else:
                self._heads[execution_id] = (type_.value, seq, created)
            return seq, created
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ listeners

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(transition, seq)`` after each commit; returns an unsubscribe function.

        Callbacks run on the committing thread while the store is locked: they must
        be quick and must not block (hand the event to a queue or a loop).
        """
        with self._lock:
            self._listeners = [*self._listeners, callback]

        def remove() -> None:
            with self._lock:
                self._listeners = [cb for cb in self._listeners if cb is not callback]

        return remove

    def _notify(self, transition: Transition, seq: int) -> None:
        for callback in self._listeners:
            try:
                callback(transition, seq)
            except Exception:  # one broken listener must not break the writer or others
                log.exception("store listener %r failed", callback)
