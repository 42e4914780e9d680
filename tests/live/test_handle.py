"""ExecutionHandle: await, wait (with and without a running loop), updates, reprs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import julep_nb.connect as connect_module
from julep_nb.connect import default_client, run, watch
from julep_nb.live.errors import ActionRefused
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.errors import TransportError
from tests.faults import EXECUTION_ID
from tests.live.servers import ScriptedSource

ROOT = Path(__file__).resolve().parents[2]


async def test_await_returns_the_final_state_and_the_handle_follows_it():
    source = ScriptedSource(6, gap=0.001)
    handle = watch(EXECUTION_ID, client=source)
    assert handle.watcher is not None  # a loop runs: watching started at once
    async with asyncio.timeout(5):
        state = await handle
    assert state.is_terminal and handle.status.value == "succeeded"
    assert handle.output == source.all[-1].output
    assert [t.id for t in handle.transitions] == [t.id for t in source.all]
    assert handle.state is state and handle.error is None


def test_wait_without_a_running_loop_runs_a_private_loop():
    source = ScriptedSource(5, gap=0.001)
    handle = watch(EXECUTION_ID, client=source)
    assert handle.watcher is None  # nothing runs yet: it starts on wait()
    state = handle.wait(timeout=5)
    assert state.is_terminal and state.seen_count == 5
    assert handle.watcher is not None and handle.watcher.loop.is_closed()
    assert handle.wait() is state  # already over: no new watcher, same answer


def test_wait_with_a_timeout_raises_and_a_later_wait_picks_up_from_there():
    source = ScriptedSource(12, gap=0.03)
    handle = watch(EXECUTION_ID, client=source)
    with pytest.raises(TimeoutError, match=f"Execution {EXECUTION_ID} is still"):
        handle.wait(timeout=0.1)
    partial = handle.state.seen_count
    assert 0 < partial < 12
    state = handle.wait(timeout=5)
    assert state.is_terminal
    assert [t.id for t in state.transitions] == [t.id for t in source.all]


def test_wait_inside_a_running_loop_does_not_deadlock_the_watcher():
    # nest_asyncio2 patches asyncio for the whole process, so this runs in its own.
    script = textwrap.dedent(
        """
        import asyncio
        from julep_nb.connect import watch
        from tests.live.servers import ScriptedSource

        async def main():
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.005)

            other = asyncio.create_task(ticker())
            handle = watch("e1", client=ScriptedSource(20, gap=0.005))
            state = handle.wait(timeout=10)   # synchronous, inside the running loop
            other.cancel()
            print(state.status.value, state.seen_count, ticks > 5)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["succeeded", "20", "True"]


async def test_updates_yield_the_current_state_then_changes_until_the_end():
    source = ScriptedSource(40, gap=0.002)
    handle = watch(EXECUTION_ID, client=source)
    states: list[ExecutionState] = []
    async with asyncio.timeout(5):
        async for state in handle.updates():
            states.append(state)
    assert states[0].seen_count == 0 and states[-1].is_terminal
    counts = [s.seen_count for s in states]
    assert counts == sorted(counts) and len(states) >= 3


async def test_a_failed_watch_is_reraised_and_the_next_await_tries_again():
    source = ScriptedSource(4)
    source.fail_gets = 1
    handle = watch(EXECUTION_ID, client=source)
    seen: list[ExecutionState] = []
    handle.subscribe(seen.append)
    async with asyncio.timeout(5):
        with pytest.raises(TransportError, match="Could not reach"):
            await handle
        state = await handle
    assert state.is_terminal and seen[-1] is state  # the subscription followed the retry


async def test_resume_of_an_execution_that_is_not_waiting_names_its_status():
    source = ScriptedSource(3)
    handle = watch(EXECUTION_ID, client=source)
    async with asyncio.timeout(5):
        await handle
        with pytest.raises(ActionRefused, match="is succeeded, not awaiting_input"):
            await handle.resume({"answer": 42})
        with pytest.raises(TypeError, match="must be a dict"):
            await handle.resume([1, 2])  # type: ignore[arg-type]
    assert source.resumed == []


async def test_run_starts_an_execution_and_watches_it():
    source = ScriptedSource(4)
    async with asyncio.timeout(5):
        handle = await run("task-1", {"x": 1}, client=source)
        assert source.created == [("task-1", {"x": 1})]
        assert handle.watcher is not None and not handle.watcher.done
        await handle
        await handle.cancel(reason="enough")
    assert handle.status.value == "succeeded" and source.cancelled == ["enough"]


async def test_repr_and_mimebundle_show_the_state_escaped():
    source = ScriptedSource(3)
    source.all[-1].output = {"html": "<script>alert(1)</script>"}
    handle = watch(EXECUTION_ID, client=source)
    async with asyncio.timeout(5):
        await handle
    text = repr(handle)
    assert EXECUTION_ID in text and "task='t'" in text
    assert "status='succeeded'" in text and "entries=3" in text
    bundle = handle._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert EXECUTION_ID in bundle["text/html"] and "<script>" not in bundle["text/html"]
    assert set(handle._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}


def test_without_a_client_the_process_wide_default_client_is_used(monkeypatch):
    monkeypatch.delenv("JULEP_BASE_URL", raising=False)
    monkeypatch.delenv("JULEP_API_KEY", raising=False)
    monkeypatch.setattr(connect_module, "_default", None)
    handle = watch("e-1")
    assert isinstance(handle, ExecutionHandle)
    assert handle.source.client is default_client() is default_client()
    assert handle.source.client.settings.use_local  # nothing configured: the embedded server
