"""How many watcher events one turn of the event loop handles, so a crowd is spread out.

When hundreds of executions change at the same moment (workflows started together,
timers that fire together), their watchers all wake in the same turn of the kernel's
loop, and each one maps and reduces its events (a few tenths of a millisecond each).
Run back to back, that turn would hold the loop for tens of milliseconds, and an
``execute_request`` arriving meanwhile would wait for all of it. A long burst in one
stream (events already buffered need no waiting) would do the same.

:class:`TurnBudget` hands out :data:`EVENTS_PER_TURN` events per turn. A watcher takes
one before it handles each event (:meth:`TurnBudget.take`): at once while the turn has
room, which is always the case for a few watchers; otherwise it waits, in arrival
order, for a later turn. Nothing is dropped or reordered within a watcher; a crowd
just takes a few more turns to pass. There is one budget per event loop
(:func:`turns_for`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Final

__all__ = ["EVENTS_PER_TURN", "TurnBudget", "turns_for"]

EVENTS_PER_TURN: Final = 16


class TurnBudget:
    """Events handed out per loop turn (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, per_turn: int = EVENTS_PER_TURN) -> None:
        if per_turn < 1:
            raise ValueError(f"per_turn must be at least 1, not {per_turn!r}")
        self.loop = loop
        self.per_turn = per_turn
        self.deferred = 0  # events that waited for a later turn (for tests and benchmarks)
        self._used = 0  # events handed out since the last turn began
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._armed = False

    async def take(self) -> None:
        """One event's share of a turn: at once if this turn has room, else in a later one."""
        if self._used < self.per_turn and not self._waiting:
            self._used += 1
            self._arm()
            return
        granted = self.loop.create_future()
        self._waiting.append(granted)
        self.deferred += 1
        self._arm()
        await granted  # counted by the turn that granted it

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self.loop.call_soon(self._next_turn)  # runs in the next turn of the loop

    def _next_turn(self) -> None:
        """A new turn: fresh room, first for those who wait (they run in the turn after)."""
        self._armed = False
        self._used = 0
        while self._waiting and self._used < self.per_turn:
            granted = self._waiting.popleft()
            if not granted.done():  # a waiter cancelled meanwhile takes no room
                granted.set_result(None)
                self._used += 1
        if self._waiting or self._used:
            self._arm()


_budgets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnBudget] = (
    weakref.WeakKeyDictionary()
)


def turns_for(loop: asyncio.AbstractEventLoop) -> TurnBudget:
    """The one :class:`TurnBudget` of ``loop``."""
    budget = _budgets.get(loop)
    if budget is None:
        budget = _budgets[loop] = TurnBudget(loop)
    return budget
