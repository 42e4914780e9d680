"""Append-only, compact storage of one execution's timeline, shared by its states.

Successive :class:`~julep_nb.live.state.ExecutionState` objects share one
:class:`EntryLog`: a state sees the log's first ``n`` rows, so adding an entry is O(1)
even at 100,000 entries. Rows are kept in their compact form
(:meth:`~julep_nb.live.events.TimelineEntry.to_bytes`: a Julep transition's JSON)
and read back as :class:`~julep_nb.live.events.TimelineEntry` objects on demand.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from julep_nb.live.events import TimelineEntry

__all__ = ["RECENT", "EntryLog", "LogView", "identity", "sort_key"]

RECENT = 256  # newest entries a log keeps as objects (≥ a panel's timeline_limit)

T = TypeVar("T")


def sort_key(entry: TimelineEntry) -> tuple[datetime, bool, str]:
    """Where an entry sorts in its execution's timeline."""
    # On equal timestamps a final entry sorts last: nothing follows it, and ids (uuid4)
    # would otherwise let an earlier step win and undo the terminal status.
    return (entry.at, entry.is_final, entry.id)


class EntryLog:
    """Append-only storage shared by successive states (never mutated below a state's n).

    An entry is kept in its compact form (``bytes``), not as an object: 100,000
    pydantic Julep transitions take ~250 MB, their JSON ~40 MB. The newest
    :data:`RECENT` are also kept as objects, so the latest entry and a timeline of the
    newest rows decode nothing; older ones are decoded when read.
    """

    __slots__ = (
        "_blobs",
        "_kinds",
        "_labels",
        "_names",
        "_recent",
        "_types",
        "durations",
        "index",
        "label_totals",
        "last_at_scope",
    )

    def __init__(self) -> None:
        self._blobs: list[bytes] = []
        self._types: list[type[TimelineEntry]] = []  # entry classes seen (usually one)
        self._kinds = array("B")  # index into _types, per row
        self._recent: dict[int, TimelineEntry] = {}  # the newest RECENT rows, as objects
        self._labels: list[str] = []  # label of each row...
        self._names: dict[str, str] = {}  # ...one shared str per distinct label
        self.durations = array("d")  # seconds each row took
        self.index: dict[str, int] = {}
        self.last_at_scope: dict[str | None, datetime] = {}
        # label -> [first index, total seconds]: step_durations() of the newest state is
        # O(steps), not O(entries), so a live Gantt chart stays cheap at 100,000 rows.
        self.label_totals: dict[str, list[float]] = {}

    @classmethod
    def build(cls, entries: Iterable[TimelineEntry]) -> EntryLog:
        log = cls()
        for entry in sorted(entries, key=sort_key):
            log.append(entry)
        return log

    def __len__(self) -> int:
        return len(self._blobs)

    def __getitem__(self, i: int) -> TimelineEntry:
        found = self._recent.get(i)
        if found is not None:
            return found
        if not 0 <= i < len(self._blobs):
            raise IndexError(f"entry {i} is not in a log of {len(self._blobs)}")
        return self._types[self._kinds[i]].from_bytes(self._blobs[i])

    def label(self, i: int) -> str:
        return self._labels[i]

    def started_at(self, i: int) -> datetime:
        """When row ``i`` began: its own start, else where its scope's previous row ended."""
        entry = self[i]
        return entry.started_at or _minus(entry.ended_at or entry.at, self.durations[i])

    def append(self, entry: TimelineEntry) -> None:
        position = len(self._blobs)
        end = entry.ended_at or entry.at
        start = entry.started_at or self.last_at_scope.get(entry.scope)
        if start is None and position:
            previous = self[position - 1]
            start = previous.ended_at or previous.at
        delta = max((end - start).total_seconds(), 0.0) if start is not None else 0.0
        label = self._names.setdefault(entry.label, entry.label)
        self.label_totals.setdefault(label, [position, 0.0])[1] += delta
        self.index[entry.id] = position
        kind = type(entry)
        if kind not in self._types:
            self._types.append(kind)
        self._kinds.append(self._types.index(kind))
        self._blobs.append(entry.to_bytes())
        self._labels.append(label)
        self.durations.append(delta)
        self.last_at_scope[entry.scope] = end
        self._recent[position] = entry
        self._recent.pop(position - RECENT, None)

    def has(self, entry_id: str, n: int) -> bool:
        position = self.index.get(entry_id)
        return position is not None and position < n


class LogView(Sequence[T]):
    """The first ``n`` rows of a log, read-only, each read through ``read``.

    Older rows are decoded on read; ``read`` picks what a row shows (the entry
    itself, or its source's own record).
    """

    __slots__ = ("_log", "_n", "_read", "_what")

    def __init__(
        self, log: EntryLog, n: int, read: Callable[[TimelineEntry], T], what: str = "entries"
    ) -> None:
        self._log = log
        self._n = n
        self._read = read
        self._what = what

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._read(self._log[j]) for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} {self._what}")
        return self._read(self._log[i])

    def __iter__(self) -> Iterator[T]:
        log, read = self._log, self._read
        return (read(log[i]) for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._n and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._n} {self._what}>"


def _minus(moment: datetime, seconds: float) -> datetime:
    return moment - timedelta(seconds=seconds)


def identity(entry: Any) -> Any:
    """A view's ``read`` that shows the entries themselves."""
    return entry
