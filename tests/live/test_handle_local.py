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

from julep_nb.api.client import Client
from julep_nb.api.models import TransitionType
from julep_nb.live.handle import watch
from julep_nb.local.server import LocalServer
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
        from julep_nb.api.client import Client
        from julep_nb.api.models import TransitionType as T
        from julep_nb.live.handle import watch
        from julep_nb.local import start
        from tests.local.conftest import seed_execution, step

        server = start(port=0, db=":memory:")
        execution = seed_execution(server.store)

        def commit():
            for kind in [T.INIT] + [T.STEP] * 20 + [T.FINISH]:
                time.sleep(0.005)
                step(server.store, execution.id, kind, {"kind": kind.value})

        async def main():
            handle = watch(execution.id, client=Client(base_url=server.base_url))
            threading.Thread(target=commit).start()
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
        handle = watch(execution.id, client=client, max_rate=100)
        commit_later(local_server, execution.id, 8, 0.01)
        statuses = []
        async with asyncio.timeout(15):
            async for state in handle.updates():
                statuses.append(state.status.value)
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert "running" in statuses
