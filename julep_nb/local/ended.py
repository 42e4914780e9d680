"""The rows of executions that ended lately, kept to answer reads without SQLite.

A client usually asks for an execution right after it ended (its ``status.stream``,
a ``GET``), and an ended execution's row never changes again: no transition may
follow a final one, and nothing else writes the row. So the store notes the
parts of each execution it creates (:meth:`EndedRows.born`), completes the row
when a final transition of it is committed (:meth:`EndedRows.end`), and answers
reads of the last :data:`KEEP` ended executions from here (:meth:`EndedRows.get`).
An execution this store did not create (another connection's, or one created
before a restart) is simply read from the database.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["BORN", "KEEP", "EndedRows"]

KEEP: Final = 4096
"""How many ended executions' rows are kept (the oldest leaves first)."""
BORN: Final = 16 * KEEP
"""How many live executions' fixed columns are kept (the oldest leaves first). An
execution whose final transition another connection writes is never ended here: this
bounds what such executions leave behind. One that leaves is read from the file."""


class EndedRows:
    """Rows (``rows.EXECUTION_COLUMNS``) of lately ended executions; use under the store's lock."""

    def __init__(self, keep: int = KEEP, born: int = BORN) -> None:
        self._keep, self._most_born = keep, born
        self._born: dict[str, tuple[str, str, str | None, int]] = {}
        self._ended: dict[str, tuple[Any, ...]] = {}

    def born(
        self, execution_id: str, task_id: str, input_json: str, metadata_json: str | None, at: int
    ) -> None:
        """Note a new execution's fixed columns (its input, metadata, creation time)."""
        self._born[execution_id] = (task_id, input_json, metadata_json, at)
        if len(self._born) > self._most_born:
            del self._born[next(iter(self._born))]

    def forget(self, execution_id: str) -> None:
        """The execution was not created after all (its transaction rolled back)."""
        self._born.pop(execution_id, None)

    def end(self, execution_id: str, head: tuple[Any, ...]) -> None:
        """A final transition of the execution is committed; ``head`` is what it set
        (``rows.SET_HEAD``'s parameters: status, type, seq, output, error, time, id)."""
        born = self._born.pop(execution_id, None)
        if born is None:
            return
        status, _, seq, output, error, updated, _ = head
        task_id, input_json, metadata_json, created = born
        row = (execution_id, task_id, input_json, metadata_json, created, updated, status)
        self._ended[execution_id] = (*row, seq, output, error)
        if len(self._ended) > self._keep:
            del self._ended[next(iter(self._ended))]

    def get(self, execution_id: str) -> tuple[Any, ...] | None:
        """The ended execution's row, if it is kept."""
        return self._ended.get(execution_id)
