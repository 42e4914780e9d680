"""Writing transitions: the transition rules, the cached head, group commits, listeners.

A part of :class:`~julep_nb.local.store.Store`, which supplies the database, its
lock and its :class:`~julep_nb.local.commit_group.CommitGroup`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Final

from julep_nb.local.commit_group import CommitGroup
from julep_nb.local.ended import EndedRows
from julep_nb.local.ids import new_id
from julep_nb.local.rows import (
    INSERT_TRANSITION,
    MOVE_HEAD,
    StaleHead,
    check_order,
    cursor_json,
    dumps,
    error_text,
    metadata_json,
    now_us,
    read_head,
    target_dict,
    to_dt,
)
from julep_nb.sources.julep.models import (
    Transition,
    TransitionTarget,
    TransitionType,
    status_for,
)

__all__ = ["Listener", "TransitionWrites"]

log = logging.getLogger("julep_nb.local.store")

Listener = Callable[[Transition, int], None]

# Per type: the status it implies, and whether it ends the execution (looked up per write).
_STATUS: Final = {t: (status_for(t).value, status_for(t).is_terminal) for t in TransitionType}


class TransitionWrites:
    """Appending transitions and telling listeners (the store supplies the database)."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _group: CommitGroup
    _heads: dict[str, tuple[str | None, int, int]]
    _ended: EndedRows
    _listeners: list[tuple[Listener, Callable[[str], bool] | None]]

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
        made = self._append(
            execution_id, TransitionType(type), output, current, next, step_label, metadata
        )
        return made()

    def write_transition(
        self,
        execution_id: str,
        *,
        type: TransitionType,
        output: Any,
        current: TransitionTarget | dict[str, Any],
        next: TransitionTarget | dict[str, Any] | None,
        step_label: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """:meth:`append_transition` for a writer that needs no :class:`Transition` back (the
        engine): the model is then built only for a listener that wants it."""
        self._append(
            execution_id, TransitionType(type), output, current, next, step_label, metadata
        )

    def _append(
        self,
        execution_id: str,
        type_: TransitionType,
        output: Any,
        current: TransitionTarget | dict[str, Any],
        next: TransitionTarget | dict[str, Any] | None,
        step_label: str | None,
        metadata: dict[str, Any] | None,
    ) -> Callable[[], Transition]:
        """Write the transition (see :meth:`append_transition`); what builds its model."""
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
            cursor_json(cur),
            None if nxt is None else cursor_json(nxt),
            cur.get("scope_id"),
            step_label,
            metadata_json(metadata),
            None if token is None else str(token),
            0,  # created_at, set below
        ]
        # SET_HEAD's parameters: status, type, seq, output, error, time, id (set below).
        update = [
            _STATUS[type_][0], type_.value, 0, output_json, error_text(type_, output), 0,
            execution_id,
        ]  # fmt: skip
        with self._lock:
            grouped = self._group.joinable()
            seq, created = self._commit_transition(execution_id, type_, row, update, grouped)
            built: list[Transition] = []

            def made() -> Transition:
                if not built:
                    created_at = to_dt(created)
                    # model_validate runs in pydantic-core: cheaper than model_construct.
                    built.append(
                        Transition.model_validate(
                            {
                                "id": row[2],
                                "execution_id": execution_id,
                                "type": type_,
                                "output": output,
                                "current": cur,
                                "next": nxt,
                                "step_label": step_label,
                                "metadata": metadata,
                                "created_at": created_at,
                                "updated_at": created_at,
                            }
                        )
                    )
                return built[0]

            if _STATUS[type_][1]:  # final: the row will not change again (local/ended.py)
                head = tuple(update)
                if grouped:
                    self._group.after_commit(lambda: self._ended.end(execution_id, head), _no_undo)
                else:
                    self._ended.end(execution_id, head)
            # Inside the lock so that listeners see transitions in commit order.
            if grouped:
                self._group.after_commit(
                    lambda: self._notify(execution_id, made, seq),
                    lambda: self._heads.pop(execution_id, None),
                )
            else:
                self._notify(execution_id, made, seq)
        return made

    def _commit_transition(
        self,
        execution_id: str,
        type_: TransitionType,
        row: list[Any],
        update: list[Any],
        grouped: bool,
    ) -> tuple[int, int]:
        """Insert the row and move the execution's head in one transaction; (seq, created).

        ``grouped``: in the loop's open group (committed at the end of the turn),
        else in a transaction of its own, committed before this returns.
        """
        for attempt in range(2):
            if grouped:
                self._group.join()
                if self._group.others_wrote():
                    self._heads.clear()  # another connection may have moved any of them
            else:
                self._group.flush()
                self._db.execute("BEGIN IMMEDIATE")
            # The head (latest type, seq, time) is cached per live execution to save a
            # read per transition. In a group it is current (see others_wrote); alone,
            # the guarded UPDATE notices a stale head, which is then re-read once.
            head = self._heads.get(execution_id) if attempt == 0 else None
            try:
                seq, created = self._write_transition(
                    execution_id, type_, row, update, head, grouped
                )
            except (StaleHead, sqlite3.IntegrityError):
                self._heads.pop(execution_id, None)
                if not grouped:
                    self._db.execute("ROLLBACK")
                if attempt:
                    raise
                continue
            except BaseException:
                if not grouped:
                    self._db.execute("ROLLBACK")
                raise
            if not grouped:
                self._db.execute("COMMIT")
            if _STATUS[type_][1]:
                self._heads.pop(execution_id, None)  # nothing may follow: free the entry
            else:
                self._heads[execution_id] = (type_.value, seq, created)
            return seq, created
        raise AssertionError("unreachable")

    def _write_transition(
        self,
        execution_id: str,
        type_: TransitionType,
        row: list[Any],
        update: list[Any],
        head: tuple[str | None, int, int] | None,
        grouped: bool,
    ) -> tuple[int, int]:
        """Write a transition (in a group: hand it to the group); nothing is left on failure."""
        db = self._db
        pending = self._group.head(execution_id) if grouped else None
        last_type, last_seq, last_us = pending or head or read_head(db, execution_id)
        check_order(execution_id, last_type, type_)
        seq, created = last_seq + 1, max(now_us(), last_us + 1)
        row[1], row[11] = seq, created
        update[2], update[5] = seq, created
        moved_to = tuple(update)
        if grouped:
            self._group.write(row, moved_to, execution_id)
            return seq, created
        # The guarded move notices a head another connection moved (StaleHead).
        if db.execute(MOVE_HEAD, (*moved_to, last_seq)).rowcount != 1:
            raise StaleHead
        db.execute(INSERT_TRANSITION, row)
        return seq, created

    # ------------------------------------------------------------------ listeners

    def add_listener(
        self, callback: Listener, *, wants: Callable[[str], bool] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(transition, seq)`` after each commit; returns an unsubscribe function.

        ``wants(execution_id)``, asked at the commit, limits the calls to the executions it
        answers true for (a transition nobody wants is never built as a model).
        Callbacks run on the committing thread while the store is locked: they must
        be quick and must not block (hand the event to a queue or a loop).
        """
        entry = (callback, wants)
        with self._lock:
            self._listeners = [*self._listeners, entry]

        def remove() -> None:
            with self._lock:
                self._listeners = [e for e in self._listeners if e is not entry]

        return remove

    def _notify(self, execution_id: str, made: Callable[[], Transition], seq: int) -> None:
        for callback, wants in self._listeners:
            try:
                if wants is None or wants(execution_id):
                    callback(made(), seq)
            except Exception:  # one broken listener must not break the writer or others
                log.exception("store listener %r failed", callback)


def _no_undo() -> None:
    """Nothing to undo: a rolled-back group never calls what it would have released."""
