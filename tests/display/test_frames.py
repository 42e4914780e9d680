"""The frame budget: many live panels share the loop without holding it.

Real loop, real panels (widgets, watchers, handles on in-memory executions), real
render work; the frames of the test's loop are the ones the panels use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest

from julep_nb.connect import watch
from julep_nb.display.frames import BUDGET, SLOT_GUARD, Frames, FrameStats, frames_for
from julep_nb.display.panel import ExecutionPanel
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.registry import stop_all

from .conftest import Messages, busiest_window
from .sources import MemoryJulep

N = 200  # panels, as in the kernel benchmark


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def busy(seconds: float) -> None:
    """Real work of a known length (a render's stand-in where the render is not the point)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class Probe:
    """Counts loop turns: a callback that re-queues itself, noting what it saw each time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, look: Callable[[], Any]) -> None:
        self.loop, self.look = loop, look
        self.seen: list[Any] = []
        self.running = True
        loop.call_soon(self._turn)

    def _turn(self) -> None:
        self.seen.append(self.look())
        if self.running:
            self.loop.call_soon(self._turn)


@pytest.fixture
async def sources() -> AsyncIterator[list[MemoryJulep]]:
    yield [MemoryJulep(execution_id=f"exec-{i}") for i in range(N)]
    stop_all()


def panels_of(sources: list[MemoryJulep], **kw: Any) -> list[ExecutionPanel]:
    handles = [watch(s.execution_id, client=s) for s in sources]  # type: ignore[arg-type]
    return [ExecutionPanel(h, **kw) for h in handles]


def fresh_frames() -> Frames:
    frames = frames_for(asyncio.get_running_loop())
    frames.stats = FrameStats()
    return frames


# ---------------------------------------------------------------------- the queue


async def test_a_slice_begins_no_render_once_its_budget_is_spent() -> None:
    loop = asyncio.get_running_loop()
    frames = Frames(loop, budget=0.004)
    done: list[int] = []

    def render(i: int) -> None:
        busy(0.001)
        done.append(i)

    for i in range(60):
        frames.request(partial(render, i))
    probe = Probe(loop, lambda: len(done))
    await until(lambda: len(done) == 60)
    probe.running = False
    assert done == list(range(60))  # in the order asked
    assert frames.stats.latest_start < 0.004
    assert frames.stats.slices >= 60 * 0.001 / (0.004 + 0.001)
    # the loop turned between the slices: other callbacks saw every slice's progress
    assert len(set(probe.seen)) >= frames.stats.slices


async def test_renders_take_at_most_their_duty_of_the_loop_and_the_rest_is_free() -> None:
    loop = asyncio.get_running_loop()
    frames = Frames(loop, budget=0.004, duty=0.5)
    done: list[int] = []

    def render(i: int) -> None:
        busy(0.002)
        done.append(i)

    began = time.perf_counter()
    for i in range(100):  # 0.2 s of renders, asked for at once
        frames.request(partial(render, i))
    other = Probe(loop, lambda: len(done))
    await until(lambda: len(done) == 100)
    other.running = False
    took = time.perf_counter() - began
    assert done == list(range(100))
    assert took >= 0.2 / 0.5 * 0.9  # the renders had at most half of the time...
    assert len(set(other.seen)) >= frames.stats.slices  # ...the loop turned after each slice
    assert len(other.seen) > 10 * frames.stats.slices  # ...and turned freely between them


def test_a_duty_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="duty must be in"):
        Frames(asyncio.new_event_loop(), duty=0)


async def test_a_render_asked_for_twice_runs_once_and_an_urgent_one_goes_first() -> None:
    frames = Frames(asyncio.get_running_loop())
    order: list[str] = []
    a, b, c = (partial(order.append, name) for name in "abc")
    frames.request(a)
    frames.request(b)
    frames.request(a)
    frames.request(c, urgent=True)
    assert frames.pending(a) and frames.pending(c)
    frames.cancel(b)
    await asyncio.sleep(0.01)  # a slice runs last in its turn
    assert order == ["c", "a"] and not frames.pending(a)


async def test_a_render_that_raises_is_reported_and_the_others_still_run() -> None:
    loop = asyncio.get_running_loop()
    frames = Frames(loop)
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[int] = []
    try:
        frames.request(partial(int, "not a number"))
        frames.request(partial(ran.append, 1))
        await asyncio.sleep(0.01)  # a slice runs last in its turn
    finally:
        loop.set_exception_handler(None)
    assert ran == [1]
    assert isinstance(reported[0]["exception"], ValueError)


# ---------------------------------------------------------------------- ticks


@pytest.mark.parametrize("count", [2, 10, 200, 1000])
async def test_the_phases_of_many_views_are_spread_over_the_period(count: int) -> None:
    frames = Frames(asyncio.get_running_loop())
    phases = sorted(frames.phase() for _ in range(count))
    gaps = [b - a for a, b in zip([phases[-1] - 1, *phases], phases, strict=False)]
    assert max(gaps) <= 2.7 / count  # never bunched: the largest gap stays ~2.6x the mean
    bins = [0] * 10
    for phase in phases:
        bins[int(phase * 10)] += 1
    assert max(bins) <= count / 10 + 2


async def test_a_view_ticks_on_slots_of_its_own_phase() -> None:
    loop = asyncio.get_running_loop()
    frames = Frames(loop)
    phase = frames.phase()
    for period in (0.1, 1.0, 7.5):
        slot = frames.next_slot(period, phase)
        assert loop.time() < slot <= loop.time() + period + SLOT_GUARD
        periods = slot / period - phase  # a whole number of periods from the phase
        assert periods == pytest.approx(round(periods), abs=1e-6)


# ---------------------------------------------------------------------- real panels


async def test_many_panels_updated_at_once_render_in_budgeted_slices(
    sources: list[MemoryJulep], frontend: Messages
) -> None:
    panels = panels_of(sources, refresh_rate=10, tick=None)
    frames = fresh_frames()
    began = time.monotonic()
    for source in sources:  # every execution changes in the same loop turn
        source.commit("init")
        source.commit("step", {"n": 1}, label="fetch")
    probe = Probe(asyncio.get_running_loop(), lambda: sum(p.state.seen_count == 2 for p in panels))
    await until(lambda: all(p.state.seen_count == 2 for p in panels))
    probe.running = False
    # every panel shows it within two seconds, renders taking at most half of that
    assert time.monotonic() - began < 2.0
    assert all("fetch" in p.live.value for p in panels)
    assert frames.stats.latest_start < BUDGET  # no render began past a slice's budget
    assert frames.stats.slices > 1 and len(set(probe.seen)) > 2  # the loop turned between
    for panel in panels:  # and each panel still keeps its refresh rate
        sent = [t for (cid, kind, _), t in zip(frontend, frontend.times, strict=True)
                if cid == panel.live.model_id and kind == "comm_msg"]  # fmt: skip
        assert busiest_window([(t, 1) for t in sent]) <= 10


async def test_the_clocks_of_many_panels_tick_apart_even_after_the_loop_was_held(
    sources: list[MemoryJulep],
) -> None:
    period, loop = 0.25, asyncio.get_running_loop()
    ticking = sources[:60]
    for source in ticking:
        source.commit("init")
    panels = panels_of(ticking, refresh_rate=100, tick=period)
    await until(lambda: all(p.state.seen_count == 1 for p in panels))
    await asyncio.sleep(period)
    busy(1.5 * period)  # a long cell: every clock comes due during the same turn
    renders: list[float] = []
    for panel in panels:
        panel.on_update(lambda _state: renders.append(loop.time()))
    await asyncio.sleep(period)  # they come back to their own slots...
    renders.clear()
    await asyncio.sleep(3 * period)  # ...and stay there
    assert len(renders) >= 2 * len(panels)  # every clock moved, more than once
    bins = [0] * 10
    for at in renders:
        bins[int((at % period) / period * 10)] += 1
    assert max(bins) <= 2 * len(renders) / 10, bins  # spread over the period, not in bursts


async def test_a_final_state_goes_before_a_backlog_of_renders(sources: list[MemoryJulep]) -> None:
    for source in sources:
        source.commit("init")
    panels = panels_of(sources, refresh_rate=1000, tick=None)
    handles: list[ExecutionHandle] = [p.handle for p in panels]
    await until(lambda: all(h.watcher.strategy is not None for h in handles))
    last = sources[-1]
    for source in sources:
        source.commit("step", {"n": 1})
    last.commit("finish", {"answer": 42})
    await handles[-1]  # returns once its panel shows the final state
    assert "succeeded" in panels[-1].live.value
    assert sum(p.state.seen_count == 2 for p in panels[:-1]) < len(panels) - 1  # ahead of them


async def test_await_handle_returns_once_every_panel_shows_the_end(
    sources: list[MemoryJulep],
) -> None:
    for source in sources:
        source.commit("init")
    panels = panels_of(sources, refresh_rate=10)
    for source in sources:
        source.commit("finish", {"done": True})
    await asyncio.gather(*(p.handle for p in panels))
    assert all("succeeded" in p.live.value for p in panels)
