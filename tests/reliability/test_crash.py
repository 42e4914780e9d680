"""SIGKILL the ``julep-nb serve`` process mid-run, restart it on the same database.

What a user must see (docs/local-server.md, "Restarts and durability"): every
transition a client had received is still there; the execution waiting for input
is still waiting and can be resumed; executions that were running are failed with
an error naming their step; watchers reconnect on their own and converge on that
final state, with no transition twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from julep_nb.live.registry import start_watcher
from julep_nb.live.state import ExecutionState
from julep_nb.live.watcher import Watcher
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.source import JulepSource
from tests.reliability.helpers import (
    SLOW_TASK,
    WAIT_TASK,
    assert_no_duplicates,
    fingerprint,
    gather_bounded,
    new_task,
)
from tests.reliability.serve import ServeProcess

RUNNING = 4


async def _until(watchers: list[Watcher], status: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while any(w.state.status.value != status for w in watchers):
            await asyncio.sleep(0.02)


def _received(watchers: list[Watcher]) -> dict[str, list[str]]:
    return {w.execution_id: [t.id for t in w.state.transitions] for w in watchers}


async def _fresh_state(client: Client, execution_id: str) -> ExecutionState:
    watcher = start_watcher(JulepSource(client), execution_id, key="crash-check")
    return await asyncio.wait_for(watcher.wait(), 20)


@pytest.mark.slow
async def test_sigkill_mid_run_then_restart_on_the_same_db(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "crash.db")
    server.start()
    try:
        async with Client(base_url=server.base_url, backoff=0.05, max_retries=6) as client:
            await _kill_and_recover(server, client)
    finally:
        server.stop()


async def _kill_and_recover(server: ServeProcess, client: Client) -> None:
    slow_task, wait_task = await new_task(client, SLOW_TASK), await new_task(client, WAIT_TASK)
    running = [await client.create_execution(slow_task, {"n": i}) for i in range(RUNNING)]
    waiting = await client.create_execution(wait_task, {"n": 7})
    runners = [start_watcher(JulepSource(client), e.id, key="crash") for e in running]
    waiter = start_watcher(JulepSource(client), waiting.id, key="crash")
    await _until(runners, "running")
    await _until([waiter], "awaiting_input")
    before = _received([*runners, waiter])

    server.kill()
    await asyncio.sleep(0.3)  # watchers notice the dead server and start retrying
    assert all(not w.done for w in [*runners, waiter]), "a watcher gave up on a short outage"
    server.start()

    finals = await gather_bounded(*(w.wait() for w in runners), timeout=60)
    for state in finals:
        assert state.status.value == "failed"
        # The documented rule: failed, naming where it was (the sleep step, main[1]).
        assert "stopped while this execution was running (at main[1])" in (state.error or "")
    assert waiter.state.status.value == "awaiting_input" and not waiter.done

    await client.resume(waiting.id, {"answer": 42})
    resumed = await asyncio.wait_for(waiter.wait(), 20)
    assert resumed.status.value == "succeeded" and resumed.output == {"answer": 42}

    watchers = [*runners, waiter]
    after = _received(watchers)
    for execution_id, ids in before.items():
        assert after[execution_id][: len(ids)] == ids  # nothing received was lost
        transitions = await client.list_transitions(execution_id)
        stored = [t.id for t in transitions]
        assert stored[: len(ids)] == ids
        terminal = [t for t in transitions if t.type.value in ("finish", "error", "cancelled")]
        assert len(terminal) == 1, [t.type.value for t in transitions]  # recovered once
    assert_no_duplicates(w.state for w in watchers)
    for watcher in watchers:
        assert watcher.error is None
        fresh = await _fresh_state(client, watcher.execution_id)
        assert fingerprint(watcher.state) == fingerprint(fresh)
