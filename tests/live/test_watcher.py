"""Watcher behaviour a view relies on: coalescing, robustness, registry, cancel.

These use a small scripted :class:`ExecutionSource` (the protocol, not a mock of
the client) so event timing is exact; the real client and servers are exercised in
``test_watcher_faults.py`` and ``test_watcher_local.py``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings

import pytest

from julep_nb.live.registry import active_watchers, start_watcher, stop_all
from julep_nb.live.state import ExecutionState
from julep_nb.live.watcher import POLLING, Watcher
from julep_nb.sources.julep.errors import StreamError
from julep_nb.sources.julep.source import JulepSource
from tests.faults import EXECUTION_ID
from tests.live.servers import ScriptedSource


async def test_subscribers_get_every_change_in_order_and_the_final_state():
    """The watcher does not pace (views do): each new state goes out at once."""
    source = ScriptedSource(150, gap=0.002)
    watcher = Watcher(JulepSource(source), EXECUTION_ID)
    seen: list[ExecutionState] = []
    watcher.subscribe(seen.append)
    async with asyncio.timeout(5):
        final = await watcher.wait()
    assert final.seen_count == 150 and final.is_terminal
    assert source.gets == 2  # attach, and the final snapshot (no stream ids to trust)
    assert seen[-1] is final
    counts = [s.seen_count for s in seen]
    assert counts == sorted(counts) and counts[-1] == 150
    assert len(seen) >= 100  # not coalesced: one state per transition, nearly
    assert len({id(s) for s in seen}) == len(seen)  # never the same state twice


async def test_a_change_is_delivered_at_once():
    hold = asyncio.Event()
    source = ScriptedSource(4, hold=hold)
    watcher = Watcher(JulepSource(source), EXECUTION_ID)
    seen: list[int] = []
    watcher.subscribe(lambda s: seen.append(s.seen_count))
    started = time.monotonic()
    watcher.start()
    async with asyncio.timeout(5):
        while not seen or seen[-1] < 3:
            await asyncio.sleep(0.001)
        assert time.monotonic() - started < 0.5
        hold.set()
        await watcher.wait()
    assert seen[-1] == 4


async def test_a_raising_subscriber_is_logged_and_does_not_stop_the_watcher(caplog):
    source = ScriptedSource(30, gap=0.001)
    watcher = Watcher(JulepSource(source), EXECUTION_ID)
    good: list[ExecutionState] = []

    def broken(state: ExecutionState) -> None:
        raise RuntimeError("widget exploded")

    watcher.subscribe(broken)
    watcher.subscribe(good.append)
    with caplog.at_level(logging.DEBUG, logger="julep_nb.live.watcher"):
        async with asyncio.timeout(5):
            final = await watcher.wait()
    assert watcher.error is None and final.is_terminal and good[-1] is final
    warnings_logged = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings_logged) == 1 and "raised" in warnings_logged[0].getMessage()


async def test_a_slow_subscriber_is_warned_about_once_and_still_gets_the_end(caplog):
    watcher = Watcher(JulepSource(ScriptedSource(3, gap=0.01)), EXECUTION_ID)
    calls: list[ExecutionState] = []

    def slow(state: ExecutionState) -> None:
        calls.append(state)
        time.sleep(0.12)

    watcher.subscribe(slow)
    with caplog.at_level(logging.WARNING, logger="julep_nb.live.watcher"):
        async with asyncio.timeout(10):
            final = await watcher.wait()
    assert len(calls) >= 2 and calls[-1] is final
    assert len([r for r in caplog.records if "took" in r.getMessage()]) == 1


async def test_a_subscriber_added_after_the_end_receives_the_final_state():
    watcher = Watcher(JulepSource(ScriptedSource(3)), EXECUTION_ID)
    async with asyncio.timeout(5):
        final = await watcher.wait()
    late: list[ExecutionState] = []
    unsubscribe = watcher.subscribe(late.append)
    assert late == [final]
    unsubscribe()


async def test_unsubscribed_callbacks_are_not_called():
    source = ScriptedSource(20, gap=0.002)
    watcher = Watcher(JulepSource(source), EXECUTION_ID)
    calls: list[int] = []
    unsubscribe = watcher.subscribe(lambda s: calls.append(s.seen_count))
    watcher.start()
    async with asyncio.timeout(5):
        while not calls:
            await asyncio.sleep(0.001)
        unsubscribe()
        frozen = list(calls)
        await watcher.wait()
    assert calls == frozen


async def test_cancel_stops_cleanly_closing_the_stream():
    hold = asyncio.Event()  # never set: the execution does not end by itself
    source = ScriptedSource(5, hold=hold)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        watcher = start_watcher(JulepSource(source), EXECUTION_ID, key="cell-1")
        async with asyncio.timeout(5):
            while watcher.state.seen_count < 4:
                await asyncio.sleep(0.005)
            watcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watcher.wait()
            await source.stream_closed.wait()
        gc.collect()
    assert watcher.done and watcher.error is None
    assert watcher not in active_watchers()


async def test_the_same_key_replaces_the_previous_watcher():
    hold = asyncio.Event()
    first_source = ScriptedSource(4, hold=hold)
    first = start_watcher(JulepSource(first_source), EXECUTION_ID, key="display-1")
    other = start_watcher(JulepSource(ScriptedSource(4, hold=hold)), EXECUTION_ID, key="display-2")
    async with asyncio.timeout(5):
        while first.state.seen_count < 3:
            await asyncio.sleep(0.005)
        second = start_watcher(
            JulepSource(ScriptedSource(4, hold=hold)), EXECUTION_ID, key="display-1"
        )
        await first_source.stream_closed.wait()
        assert first.done and first.replaced_by is second
        assert second.state.seen_count >= 3  # took over from where the first one was
        assert set(active_watchers()) == {second, other}
        hold.set()
        # Waiting on the replaced watcher waits for its replacement.
        final = await first.wait()
    assert final is second.state and final.is_terminal
    await other.wait()
    assert active_watchers() == []


async def test_watchers_without_a_key_never_replace_each_other():
    hold = asyncio.Event()
    a = start_watcher(JulepSource(ScriptedSource(3, hold=hold)), EXECUTION_ID)
    b = start_watcher(JulepSource(ScriptedSource(3, hold=hold)), EXECUTION_ID)
    await asyncio.sleep(0.01)
    assert not a.done and not b.done
    stop_all()
    async with asyncio.timeout(5):
        await asyncio.wait({a.start(), b.start()})
    assert a.done and b.done and active_watchers() == []


async def test_polling_survives_a_few_unreachable_polls():
    class NoStreams(ScriptedSource):
        async def stream_transitions(self, execution_id, *, last_event_id=None):
            raise StreamError("no transitions stream")
            yield  # pragma: no cover

    source = NoStreams(3)
    watcher = Watcher(JulepSource(source), EXECUTION_ID)
    watcher.start()
    async with asyncio.timeout(8):
        while watcher.strategy != POLLING:
            await asyncio.sleep(0.005)
        source.fail_gets = 2
        source.committed = 3
        final = await watcher.wait()
    assert final.is_terminal and watcher.error is None and source.fail_gets == 0
