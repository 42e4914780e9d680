"""The watcher and the real Client against the real local server.

Transitions are committed straight into the server's store (as its engine does), so
the tests decide exactly what happens when, and compare against what was committed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from julep_nb.live.registry import active_watchers, start_watcher
from julep_nb.live.state import ExecutionState
from julep_nb.live.watcher import Watcher
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import StreamError
from julep_nb.sources.julep.models import Transition, TransitionType
from julep_nb.sources.julep.source import STATUS_STREAM, TRANSITIONS_STREAM, JulepSource
from tests.local.conftest import seed_execution, seed_task, step

T = TransitionType


def commit_run(server: LocalServer, execution_id: str, steps: int, pause: float = 0.0) -> None:
    """init, ``steps`` steps, finish — from a thread, as the engine would."""
    for kind in [T.INIT] + [T.STEP] * steps + [T.FINISH]:
        step(server.store, execution_id, kind, {"kind": kind.value})
        if pause:
            time.sleep(pause)


def committed_ids(server: LocalServer, execution_id: str) -> list[str]:
    ids: list[str] = []
    while page := server.store.list_transitions(execution_id, limit=100, offset=len(ids)):
        ids += [t.id for t in page]
    return ids


async def test_every_committed_transition_reaches_the_state_once_and_in_order(local_server):
    execution = seed_execution(local_server.store)
    async with Client(base_url=local_server.base_url) as client:
        watcher = Watcher(JulepSource(client), execution.id)
        counts: list[int] = []
        watcher.subscribe(lambda s: counts.append(s.seen_count))
        watcher.start()
        async with asyncio.timeout(20):
            while watcher.strategy is None:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(commit_run, local_server, execution.id, 150, 0.0005)
            final = await watcher.wait()
    assert watcher.strategy == TRANSITIONS_STREAM
    assert [t.id for t in final.transitions] == committed_ids(local_server, execution.id)
    assert final.status.value == "succeeded" and final.output == {"kind": "finish"}
    assert counts == sorted(counts) and counts[-1] == 152  # never backwards, ends complete


class HostedLikeClient(Client):
    """The real client, but its transitions stream is unusable, as on hosted Julep."""

    async def _unusable(self) -> AsyncIterator[Transition]:
        raise StreamError("The transitions stream sent a Python repr, not JSON (test)")
        yield  # pragma: no cover - makes this an async generator

    def stream_transitions(self, execution_id: str, **kwargs: Any) -> Any:
        return self._unusable()


async def test_the_status_stream_and_pulls_build_the_whole_timeline(local_server):
    execution = seed_execution(local_server.store)
    async with HostedLikeClient(base_url=local_server.base_url) as client:
        watcher = Watcher(JulepSource(client), execution.id)
        watcher.start()
        async with asyncio.timeout(20):
            while watcher.strategy != STATUS_STREAM:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the status stream is open
            await asyncio.to_thread(commit_run, local_server, execution.id, 40, 0.001)
            final = await watcher.wait()
    # Status events come only on status changes; the steps between came from pulls.
    assert [t.id for t in final.transitions] == committed_ids(local_server, execution.id)
    assert final.status.value == "succeeded"


async def test_updates_end_when_the_final_state_went_out_before_the_watcher_stopped(
    local_server,
):
    execution = seed_execution(local_server.store)
    async with Client(base_url=local_server.base_url) as client:
        # Unlimited rate: the final state goes out on the leading edge, and the stream's
        # numbered ids make a final snapshot (a new state to deliver) unnecessary.
        watcher = Watcher(JulepSource(client), execution.id)
        watcher.start()
        statuses = []
        async with asyncio.timeout(10):
            commits = asyncio.create_task(
                asyncio.to_thread(commit_run, local_server, execution.id, 3, 0.05)
            )
            async for state in watcher.updates():
                statuses.append(state.status.value)
            await commits
    assert statuses[-1] == "succeeded" and watcher.done


async def test_attaching_midway_catches_up_without_duplicates(local_server):
    store = local_server.store
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    for _ in range(30):
        step(store, execution.id, T.STEP)
    async with Client(base_url=local_server.base_url) as client:
        watcher = Watcher(JulepSource(client), execution.id)
        watcher.start()
        async with asyncio.timeout(20):
            while watcher.state.seen_count < 31:
                await asyncio.sleep(0.01)
            assert watcher.state.status.value == "running"
            for _ in range(10):
                step(store, execution.id, T.STEP)
            step(store, execution.id, T.WAIT, {"info": {"question": "ok?"}})
            while watcher.state.status.value != "awaiting_input":
                await asyncio.sleep(0.01)
            assert watcher.state.waiting_info == {"question": "ok?"}
            step(store, execution.id, T.RESUME, {"answer": "yes"})
            step(store, execution.id, T.FINISH, {"done": True})
            final = await watcher.wait()
    assert [t.id for t in final.transitions] == committed_ids(local_server, execution.id)
    assert final.output == {"done": True}


async def test_an_execution_that_failed_before_attaching_is_complete_at_once(local_server):
    store = local_server.store
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    step(store, execution.id, T.ERROR, {"error": "division by zero"})
    async with Client(base_url=local_server.base_url) as client:
        watcher = Watcher(JulepSource(client), execution.id)
        async with asyncio.timeout(10):
            final = await watcher.wait()
    assert final.status.value == "failed" and final.error == "division by zero"
    assert watcher.strategy is None and final.seen_count == 2


async def test_100_executions_watched_at_once(local_server):
    store = local_server.store
    task_id = seed_task(store)
    ids = [store.create_execution(task_id, {"i": i})[0].id for i in range(100)]
    finals: dict[str, ExecutionState] = {}

    def on_state(state: ExecutionState, box: dict[str, Any] = finals) -> None:
        if state.is_terminal:
            box[state.execution_id] = state

    async with Client(base_url=local_server.base_url) as client:
        watchers = [start_watcher(JulepSource(client), i, key="test-100") for i in ids]
        for watcher in watchers:
            watcher.subscribe(on_state)

        def commit_all(kinds: tuple[TransitionType, ...]) -> None:
            for kind in kinds:
                for i in ids:
                    step(store, i, kind, {"kind": kind.value})

        async with asyncio.timeout(60):
            await asyncio.to_thread(commit_all, (T.INIT,))
            while not all(w.state.status.value == "starting" for w in watchers):
                await asyncio.sleep(0.01)
            await asyncio.to_thread(commit_all, (T.STEP, T.STEP, T.FINISH))
            await asyncio.gather(*(w.wait() for w in watchers))
    assert all(w.error is None for w in watchers)
    assert sorted(finals) == sorted(ids)
    assert all(s.seen_count == 4 and s.output == {"kind": "finish"} for s in finals.values())
    assert [w for w in active_watchers() if w in watchers] == []


async def test_attaching_to_a_waiting_execution_never_shows_a_status_without_its_timeline(
    local_server,
):
    execution = seed_execution(local_server.store)
    for kind in (T.INIT, T.STEP, T.WAIT):
        step(local_server.store, execution.id, kind, {"kind": kind.value})
    async with Client(base_url=local_server.base_url) as client:
        watcher = Watcher(JulepSource(client), execution.id)
        seen: list[ExecutionState] = []
        watcher.subscribe(seen.append)
        watcher.start()
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.01)
        watcher.cancel()
    first = seen[0]
    assert first.status.value == "awaiting_input"
    assert [t.type for t in first.transitions] == [T.INIT, T.STEP, T.WAIT]
