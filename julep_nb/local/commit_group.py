"""Group commit: the transitions written in one turn of the server's loop share a transaction.

An execution of plain steps writes its ``init``, each ``step`` and its ``finish``
in one go, without awaiting; other executions do the same in the same turn of the
loop. Committing each transition on its own cost most of the store's time (a WAL
commit writes every page the transition touched, and each SQLite call hands the
GIL away). So, on the loop the group is attached to, :meth:`CommitGroup.join`
opens one ``BEGIN IMMEDIATE`` transaction that the turn's transitions share, and
schedules :meth:`CommitGroup.flush` with ``call_soon``. A group that holds only
new executions waits one more turn: they start in the next turn, and their
first transitions then join the same commit. The rows and the head
moves wait in the group and are written by the flush with one ``executemany``
each. The flush then commits, and calls the store's listeners with the group's
transitions in order.

The store caches the head of each live execution. Another connection writing
to the same file would make that cache stale: :meth:`CommitGroup.others_wrote`
asks SQLite (``PRAGMA data_version``, which changes only when *another*
connection commits) once per group, inside the group's write transaction, so
nothing can commit between that check and the group's own commit; when it
changed, the store drops its cached heads and reads them again.

Nothing is acknowledged before it is stored:

- the listeners (the SSE streams) hear of a transition only after its COMMIT;
- every other statement (a read of an execution the group wrote or created, any
  other write, a transition written from another thread) first commits the open
  group, so no answer is built from uncommitted rows (the store calls
  :meth:`flush` under its lock); an execution the group did not write
  (:meth:`touches`) is read with the group left open, since its row is as
  committed;
- anything that reacts to a transition without reading the store (a resumed or
  cancelled request that awaited the execution) is scheduled after the
  transition was written, so after the flush, which ``call_soon`` queued first;
- a request whose own write joined the group (a new execution) awaits
  :meth:`CommitGroup.committed` before it answers.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from julep_nb.local.rows import INSERT_TRANSITION, SET_HEAD

__all__ = ["CommitGroup"]

log = logging.getLogger(__name__)

Pending = Callable[[], None]


class CommitGroup:
    """The open group transaction of one store connection (used under the store's lock)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._open = False
        self._scheduled = False
        self._after: list[Pending] = []  # what the commit releases (listener calls)
        self._on_failure: list[Callable[[], object]] = []
        self._waiters: list[asyncio.Future[None]] = []  # see committed()
        self._rows: list[list[Any]] = []  # transition rows to insert
        self._heads: dict[str, tuple[Any, ...]] = {}  # execution id → its latest SET_HEAD
        self._created: set[str] = set()  # executions the open group inserted (see touches)
        self._waited = False  # whether the scheduled flush waited a turn (see _flush_soon)
        self._version = self._data_version()  # see others_wrote()
        self._checked = False  # whether the open group asked others_wrote() yet

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Group the transitions written on ``loop``'s thread from now on."""
        with self._lock:
            self._loop, self._thread = loop, threading.get_ident()

    def detach(self) -> None:
        """Commit what is open; later transitions commit one by one again."""
        with self._lock:
            self.flush()
            self._loop = self._thread = None

    def joinable(self) -> bool:
        """Whether a transition written now, on this thread, may join the group."""
        return self._loop is not None and threading.get_ident() == self._thread

    def join(self) -> None:
        """Open the group's transaction if it is not open (on the attached loop's thread)."""
        if self._open:
            return
        assert self._loop is not None
        self._db.execute("BEGIN IMMEDIATE")
        self._open, self._checked = True, False
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)

    def others_wrote(self) -> bool:
        """Whether another connection committed since this one last asked (in the open group).

        Asked once per group: the group holds the write lock from its ``BEGIN
        IMMEDIATE`` to its commit, so nobody else can commit before the group does.
        """
        if self._checked:
            return False
        self._checked = True
        version = self._data_version()
        changed, self._version = version != self._version, version
        return changed

    def _data_version(self) -> int:
        version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return version

    def head(self, execution_id: str) -> tuple[str | None, int, int] | None:
        """The execution's (type, seq, time) as this group left it; ``None`` if it did not
        write one of its transitions (then the head in the database is current)."""
        moved = self._heads.get(execution_id)
        return None if moved is None else (moved[1], moved[2], moved[5])

    def write(self, row: list[Any], head: tuple[Any, ...], execution_id: str) -> None:
        """Insert ``row`` and set the execution's head (``SET_HEAD`` parameters) at the flush."""
        self._rows.append(row)
        self._heads[execution_id] = head

    def created(self, execution_id: str) -> None:
        """Note that the open group inserted the execution's row (a new execution joined it)."""
        if self._open and self.joinable():
            self._created.add(execution_id)

    def touches(self, execution_id: str) -> bool:
        """Whether the open group wrote to the execution: then a read of it must flush
        first. Any other execution's row is as committed, and is read with the group
        left open (a status stream's read then does not split the loop turn's commit)."""
        return self._open and (execution_id in self._heads or execution_id in self._created)

    def after_commit(self, release: Pending, undo: Callable[[], object]) -> None:
        """Call ``release`` once the group is committed, or ``undo`` if it is rolled back."""
        self._after.append(release)
        self._on_failure.append(undo)

    def committed(self) -> asyncio.Future[None]:
        """Done once what the group holds now is committed (at once when nothing is open).

        Await it before answering a request whose writes joined the group.
        """
        assert self._loop is not None or not self._open
        if not self._open or self._loop is None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def _flush_soon(self) -> None:
        with self._lock:
            if self._open and not self._rows and not self._waited and self._loop is not None:
                # Only new executions so far: they start in this turn, and their first
                # transitions then share the commit with their rows (one commit, and
                # each page of the executions table written once instead of twice).
                self._waited = True
                self._loop.call_soon(self._flush_soon)
                return
            self._waited = False
            self._scheduled = False
            try:
                self.flush()
            except Exception:  # a loop callback has nobody to raise to
                log.exception("the local store could not commit a group of transitions")

    def flush(self) -> None:
        """Commit the open group (if any), then release its transitions in order."""
        if not self._open:
            return
        self._open = False
        after, self._after = self._after, []
        undo, self._on_failure = self._on_failure, []
        rows, self._rows = self._rows, []
        heads, self._heads = self._heads, {}
        self._created = set()
        waiters, self._waiters = self._waiters, []
        try:
            if rows:
                self._db.executemany(INSERT_TRANSITION, rows)
                self._db.executemany(SET_HEAD, heads.values())
            self._db.execute("COMMIT")
        except BaseException as exc:
            _rollback(self._db)
            for forget in undo:
                forget()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            raise
        for release in after:
            release()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _rollback(db: sqlite3.Connection) -> Any:
    if db.in_transaction:
        db.execute("ROLLBACK")
