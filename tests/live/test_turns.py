"""The turn budget: a crowd of watchers waking together is spread over loop turns.

Real loop, real watchers on in-memory executions; turns are counted by a callback that
re-queues itself (one call per turn of the loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from julep_nb.connect import watch
from julep_nb.live.registry import stop_all
from julep_nb.live.turns import EVENTS_PER_TURN, TurnBudget, turns_for
from tests.display.sources import MemoryJulep


class Turns:
    """Counts the turns of the loop (a callback that re-queues itself)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.count, self.running = loop, 0, True
        loop.call_soon(self._turn)

    def _turn(self) -> None:
        self.count += 1
        if self.running:
            self.loop.call_soon(self._turn)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_a_few_takers_never_wait() -> None:
    budget = TurnBudget(asyncio.get_running_loop(), per_turn=4)
    for _ in range(4):
        await budget.take()
    assert budget.deferred == 0


async def test_a_crowd_is_spread_over_turns_in_arrival_order() -> None:
    loop = asyncio.get_running_loop()
    budget = TurnBudget(loop, per_turn=8)
    turns = Turns(loop)
    handled: list[tuple[int, int, int]] = []  # (turn, taker, its event)

    async def taker(who: int) -> None:
        for event in range(3):
            await budget.take()
            handled.append((turns.count, who, event))

    await asyncio.gather(*(taker(i) for i in range(100)))
    turns.running = False
    per_turn: dict[int, int] = {}
    for turn, _, _ in handled:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert len(handled) == 300 and budget.deferred > 250
    assert max(per_turn.values()) <= 2 * 8  # granted ones, and newcomers to a turn with room
    assert len(per_turn) >= 300 // 16
    for who in range(100):  # each taker's events in its own order
        assert [e for _, w, e in handled if w == who] == [0, 1, 2]
    firsts = [w for _, w, e in handled if e == 0]
    assert firsts == sorted(firsts)  # the first events in the order the takers came


async def test_a_waiter_cancelled_takes_no_room() -> None:
    loop = asyncio.get_running_loop()
    budget = TurnBudget(loop, per_turn=1)
    first, gone, kept = (asyncio.ensure_future(budget.take()) for _ in range(3))
    await asyncio.sleep(0)  # all three asked in one turn: the first got the room
    assert first.done() and not gone.done() and not kept.done()
    gone.cancel()
    await asyncio.sleep(0)  # the next turn's room goes to the one still waiting
    await asyncio.sleep(0)
    assert gone.cancelled() and kept.done()


def test_a_budget_of_less_than_one_event_is_refused() -> None:
    with pytest.raises(ValueError, match="per_turn must be at least 1"):
        TurnBudget(asyncio.new_event_loop(), per_turn=0)


async def test_many_watchers_changing_at_once_share_the_turns_and_miss_nothing() -> None:
    loop = asyncio.get_running_loop()
    budget = turns_for(loop)
    sources = [MemoryJulep(execution_id=f"exec-{i}") for i in range(200)]
    handles = [watch(s.execution_id, client=s) for s in sources]  # type: ignore[arg-type]
    try:
        await until(lambda: all(h.watcher.strategy is not None for h in handles))
        before = budget.deferred
        turns = Turns(loop)
        began = turns.count
        for source in sources:  # every execution changes in the same turn
            source.commit("init")
            source.commit("step", {"n": 1}, label="fetch")
            source.commit("finish", {"n": 2})
        await until(lambda: all(h.state.is_terminal for h in handles))
        turns.running = False
        assert budget.deferred > before  # the crowd waited its turn...
        assert turns.count - began >= 600 // (2 * EVENTS_PER_TURN)  # ...over many turns
        for handle, source in zip(handles, sources, strict=True):  # and nothing was lost
            assert [e.id for e in handle.state.entries] == [t.id for t in source.transitions]
            assert handle.state.output == {"n": 2}
    finally:
        stop_all()
