"""Append-only, compact storage of one execution's transitions, shared by its states.

Successive :class:`~julep_nb.live.state.ExecutionState` objects share one
:class:`TransitionLog`: a state sees the log's first ``n`` rows, so adding a
transition is O(1) even at 100,000 transitions. Rows are kept as compact JSON and
read back as :class:`~julep_nb.sources.julep.models.Transition` models on demand.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import overload

from julep_nb.sources.julep.models import Transition, status_for

__all__ = ["RECENT", "TransitionLog", "TransitionsView", "sort_key", "step_label"]

RECENT = 256  # newest transitions a log keeps as models (≥ a panel's timeline_limit)


def sort_key(transition: Transition) -> tuple[datetime, bool, str]:
    """Where a transition sorts in its execution's timeline."""
    # On equal timestamps a final transition sorts last: nothing follows it on a server,
    # and ids (uuid4) would otherwise let an earlier step win and undo the terminal status.
    final = status_for(transition.type).is_terminal
    return (transition.created_at, final, transition.id)


class TransitionLog:
    """Append-only storage shared by successive states (never mutated below a state's n).

    A transition is kept as its compact JSON (``bytes``), not as a model: 100,000
    pydantic ``Transition`` objects take ~250 MB, their JSON ~40 MB. The newest
    :data:`RECENT` are also kept as models, so the latest transition and a timeline
    of the newest rows decode nothing; older ones are decoded when read.
    """

    __slots__ = (
        "_blobs",
        "_labels",
        "_names",
        "_recent",
        "durations",
        "index",
        "label_totals",
        "last_at_scope",
    )

    def __init__(self) -> None:
        self._blobs: list[bytes] = []
        self._recent: dict[int, Transition] = {}  # the newest RECENT rows, as models
        self._labels: list[str] = []  # step label of each row...
        self._names: dict[str, str] = {}  # ...one shared str per distinct label
        self.durations = array("d")  # seconds since the previous transition in scope
        self.index: dict[str, int] = {}
        self.last_at_scope: dict[str | None, datetime] = {}
        # label -> [first index, total seconds]: step_durations() of the newest state is
        # O(steps), not O(transitions), so a live Gantt chart stays cheap at 100,000 rows.
        self.label_totals: dict[str, list[float]] = {}

    @classmethod
    def build(cls, transitions: Iterable[Transition]) -> TransitionLog:
        log = cls()
        for transition in sorted(transitions, key=sort_key):
            log.append(transition)
        return log

    def __len__(self) -> int:
        return len(self._blobs)

    def __getitem__(self, i: int) -> Transition:
        found = self._recent.get(i)
        if found is not None:
            return found
        if not 0 <= i < len(self._blobs):
            raise IndexError(f"transition {i} is not in a log of {len(self._blobs)}")
        return Transition.model_validate_json(self._blobs[i])

    def label(self, i: int) -> str:
        return self._labels[i]

    def append(self, transition: Transition) -> None:
        position = len(self._blobs)
        scope = transition.current.scope_id
        previous = self.last_at_scope.get(scope)
        if previous is None and position:
            previous = self[position - 1].created_at
        delta = (transition.created_at - previous).total_seconds() if previous else 0.0
        delta = max(delta, 0.0)
        name = step_label(transition)
        label = self._names.setdefault(name, name)
        self.label_totals.setdefault(label, [position, 0.0])[1] += delta
        self.index[transition.id] = position
        self._blobs.append(
            transition.__pydantic_serializer__.to_json(transition, exclude_unset=True)
        )
        self._labels.append(label)
        self.durations.append(delta)
        self.last_at_scope[scope] = transition.created_at
        self._recent[position] = transition
        self._recent.pop(position - RECENT, None)

    def has(self, transition_id: str, n: int) -> bool:
        position = self.index.get(transition_id)
        return position is not None and position < n


class TransitionsView(Sequence[Transition]):
    """The first ``n`` transitions of a log, read-only; older rows are decoded on read."""

    __slots__ = ("_log", "_n")

    def __init__(self, log: TransitionLog, n: int) -> None:
        self._log = log
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Transition: ...
    @overload
    def __getitem__(self, i: slice) -> list[Transition]: ...
    def __getitem__(self, i: int | slice) -> Transition | list[Transition]:
        if isinstance(i, slice):
            return [self._log[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"transition index {i} out of range for {self._n} transitions")
        return self._log[i]

    def __iter__(self) -> Iterator[Transition]:
        log = self._log
        return (log[i] for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._n and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._n} transitions>"


def step_label(transition: Transition) -> str:
    """``step_label`` when the server gave one, else ``workflow[step]``."""
    return transition.step_label or str(transition.current)
