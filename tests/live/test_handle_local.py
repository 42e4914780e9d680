"""ExecutionHandle with the real Client against the real local server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from julep_nb.connect import run, watch
from julep_nb.live.errors import ActionRefused
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.models import TransitionType
from tests.local.conftest import seed_execution, step

T = TransitionType
ROOT = Path(__file__).resolve().parents[2]


def commit_later(server: LocalServer, execution_id: str, steps: int, pause: float) -> None:
    def run() -> None:
        for kind in [T.INIT] + [T.STEP] * steps + [T.FINISH]:
            time.sleep(pause)
            step(server.store, execution_id, kind, {"kind": kind.value})

    threading.Thread(target=run, daemon=True).start()


def test_wait_times_out_then_a_later_wait_on_a_new_loop_finishes(local_server):
    execution = seed_execution(local_server.store)
    handle = watch(execution.id, client=Client(base_url=local_server.base_url))
    commit_later(local_server, execution.id, 10, 0.04)
    with pytest.raises(TimeoutError, match="is still"):
        handle.wait(timeout=0.15)
    # The first private loop is closed; the client and watcher start over on a new one.
    state = handle.wait(timeout=15)
    assert state.status.value == "succeeded" and state.seen_count == 12
    assert len({t.id for t in state.transitions}) == 12


def test_wait_inside_a_running_loop_with_the_real_client_and_server():
    # nest_asyncio2 patches asyncio process-wide: run in a child process.
    script = textwrap.dedent(
        """
        import asyncio, threading, time
        from julep_nb.sources.julep.client import Client
        from julep_nb.sources.julep.models import TransitionType as T
        from julep_nb.connect import watch
        from julep_nb.local import start
        from tests.local.conftest import seed_execution, step

        server = start(port=0, db=":memory:")
        execution = seed_execution(server.store)

        def commit(handle):
            # Only once the watcher streams, so that the stream is what is tested.
            deadline = time.monotonic() + 20
            while handle.watcher.strategy is None and time.monotonic() < deadline:
                time.sleep(0.005)
            for kind in [T.INIT] + [T.STEP] * 20 + [T.FINISH]:
                time.sleep(0.005)
                step(server.store, execution.id, kind, {"kind": kind.value})

        async def main():
            handle = watch(execution.id, client=Client(base_url=server.base_url))
            threading.Thread(target=commit, args=(handle,)).start()
            state = handle.wait(timeout=20)   # synchronous, inside the running loop
            print(state.status.value, state.seen_count, handle.watcher.strategy)

        asyncio.run(main())
        server.stop()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["succeeded", "22", "transitions-stream"]


async def test_updates_follow_a_live_execution(local_server):
    execution = seed_execution(local_server.store)
    async with Client(base_url=local_server.base_url) as client:
        handle = watch(execution.id, client=client)
        commit_later(local_server, execution.id, 8, 0.05)  # slow enough to see each state
        statuses = []
        async with asyncio.timeout(15):
            async for state in handle.updates():
                statuses.append(state.status.value)
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert "running" in statuses


# ---------------------------------------------------------------------- real tasks

ASK_TASK = {
    "name": "greet",
    "main": [
        {"evaluate": {"who": "$ _.who"}},
        {"wait_for_input": {"info": {"question": "$ 'name of ' + _.who"}}, "label": "ask"},
        {"evaluate": {"hello": "$ 'hi ' + _.name"}},
    ],
}
SLOW_TASK = {"name": "slow", "main": [{"evaluate": {"a": 1}}, {"sleep": {"seconds": 30}}]}


async def test_run_wait_for_input_resume_and_get_the_result(local_server):
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name="live-tests")
        task = await client.create_task(agent.id, ASK_TASK)
        async with asyncio.timeout(20):
            handle = await run(task.id, {"who": "you"}, client=client)
            async for state in handle.updates():
                if state.status.value == "awaiting_input":
                    break
            assert handle.state.waiting_info == {"question": "name of you"}
            await handle.resume({"name": "ada"})
            state = await handle
            with pytest.raises(ActionRefused, match="is succeeded, not awaiting_input"):
                await handle.resume({"name": "again"})
    assert state.status.value == "succeeded" and handle.output == {"hello": "hi ada"}
    assert [t.type.value for t in handle.transitions] == [
        "init",
        "step",
        "wait",
        "resume",
        "finish",
    ]
    assert handle.task_id == task.id and "succeeded" in repr(handle)


async def test_cancel_from_the_handle_ends_the_execution_as_cancelled(local_server):
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name="live-tests")
        task = await client.create_task(agent.id, SLOW_TASK)
        async with asyncio.timeout(20):
            handle = await run(task.id, client=client)
            async for state in handle.updates():
                if state.status.value == "running":
                    break
            await handle.cancel(reason="not needed")
            state = await handle
    assert state.status.value == "cancelled"
    assert handle.transitions[-1].type.value == "cancelled"


async def test_watching_a_finished_execution_needs_no_stream(local_server):
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name="live-tests")
        task = await client.create_task(agent.id, ASK_TASK)
        async with asyncio.timeout(20):
            first = await run(task.id, {"who": "me"}, client=client)
            async for state in first.updates():
                if state.status.value == "awaiting_input":
                    break
            await first.resume({"name": "bo"})
            await first
            later = watch(first.id, client=client)
            final = await later
    assert final.output == {"hello": "hi bo"} and later.watcher.strategy is None
    assert [t.id for t in later.transitions] == [t.id for t in first.transitions]
