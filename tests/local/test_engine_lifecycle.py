"""Cancel, resume, waits in branches, restarts on the same database file, shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from julep_nb.local.errors import Conflict, InvalidRequest, NotFound
from julep_nb.sources.julep.models import ExecutionStatus, TransitionType
from tests.local.test_engine_kit import Kit, http_server

S = ExecutionStatus
ASK = {"wait_for_input": {"info": {"q": "$ _"}}}


async def test_cancel_during_sleep_ends_promptly_as_cancelled() -> None:
    async with Kit() as kit:
        execution_id = await kit.start(
            {"main": [{"evaluate": {"a": 1}}, {"sleep": {"seconds": 30}}]}
        )
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await kit.engine.cancel(execution_id, "changed my mind")
        execution = kit.store.get_execution(execution_id)
        assert time.monotonic() - started < 1.0
        assert execution.status is S.CANCELLED and execution.output == "changed my mind"
        last = kit.transitions(execution_id)[-1]
        assert last.type is TransitionType.CANCELLED and last.step_type == "sleep"
        with pytest.raises(Conflict, match="already cancelled"):
            await kit.engine.cancel(execution_id)


async def test_cancel_a_waiting_execution() -> None:
    async with Kit() as kit:
        waiting = await kit.run({"main": [ASK]}, {"x": 1})
        await kit.engine.cancel(waiting.id)
        assert kit.store.get_execution(waiting.id).status is S.CANCELLED
        assert [t.type.value for t in kit.transitions(waiting.id)][-2:] == ["wait", "cancelled"]


async def test_resume_refuses_executions_that_are_not_waiting_naming_the_status() -> None:
    async with Kit() as kit:
        done = await kit.run({"main": [{"evaluate": {"a": 1}}]})
        with pytest.raises(Conflict, match="is succeeded, not awaiting_input"):
            await kit.engine.resume(done.id, {"x": 1})
        with pytest.raises(NotFound):
            await kit.engine.resume("no-such-execution", {})


async def test_an_invalid_resume_is_refused_and_the_execution_keeps_waiting() -> None:
    async with Kit() as kit:
        waiting = await kit.run({"main": [ASK, {"evaluate": {"got": "$ _.a"}}]})
        for bad in (["not", "an", "object"], {"x": object()}):
            with pytest.raises(InvalidRequest):
                await kit.engine.resume(waiting.id, bad)  # type: ignore[arg-type]
        assert kit.store.get_execution(waiting.id).status is S.AWAITING_INPUT
        await kit.engine.resume(waiting.id, {"a": 5})
        assert (await kit.until(waiting.id)).output == {"got": 5}


async def test_resume_with_the_task_token_of_the_wait() -> None:
    async with Kit() as kit:
        waiting = await kit.run({"main": [ASK]})
        token = (kit.transitions(waiting.id)[-1].metadata or {})["task_token"]
        await kit.engine.resume_with_token(token, {"ok": True})
        assert (await kit.until(waiting.id)).output == {"ok": True}
        with pytest.raises(Conflict):
            await kit.engine.resume_with_token(token, {"ok": True})
        with pytest.raises(NotFound):
            await kit.engine.resume_with_token("unknown-token", {})


async def test_waits_in_parallel_branches_are_answered_one_at_a_time() -> None:
    async with Kit() as kit:
        spec = {"main": [{"over": "$ [1, 2]", "map": ASK, "parallelism": 2}]}
        execution_id = await kit.start(spec)
        for answer in ("first", "second"):
            waiting = await kit.until(execution_id)
            assert waiting.status is S.AWAITING_INPUT
            await kit.engine.resume(execution_id, {"a": answer})
        done = await kit.until(execution_id)
        assert done.status is S.SUCCEEDED
        assert sorted(o["a"] for o in done.output) == ["first", "second"]
        types = [t.type.value for t in kit.transitions(execution_id)]
        assert types.count("wait") == 2 and "wait,wait" not in ",".join(types)


async def test_function_tool_calls_inside_a_foreach_pause_per_item() -> None:
    async with Kit() as kit:
        spec = {
            "tools": [{"name": "double", "type": "function", "function": {}}],
            "main": [
                {"foreach": {"in": "$ _.xs", "do": {"tool": "double", "arguments": {"x": "$ _"}}}}
            ],
        }
        execution_id = await kit.start(spec, {"xs": [1, 2]})
        for _ in range(2):
            waiting = await kit.until(execution_id)
            call = waiting.output
            await kit.engine.resume(execution_id, {"y": call["function"]["arguments"]["x"] * 2})
        assert (await kit.until(execution_id)).output == [{"y": 2}, {"y": 4}]


RESTART_SPEC = {
    "main": [
        {"set": {"who": "$ _.who"}},
        {"workflow": "ask_all", "arguments": {"items": "$ [1, 2]"}},
        {"evaluate": {"answers": "$ _", "who": "$ state.who", "first": "$ steps[0].input.who"}},
    ],
    "ask_all": [
        {"foreach": {"in": "$ _.items", "do": [ASK, {"evaluate": {"got": "$ _.a"}}]}},
    ],
}


async def test_a_wait_inside_a_subworkflow_and_foreach_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "julep.db")
    async with Kit(db) as kit:
        execution_id = await kit.start(RESTART_SPEC, {"who": "ada"})
        assert (await kit.until(execution_id)).status is S.AWAITING_INPUT
        await kit.engine.resume(execution_id, {"a": "one"})
        waiting = await kit.until(execution_id, [S.AWAITING_INPUT], timeout=5)
        before = kit.kinds(execution_id)
    # New Store + Engine on the same file: the execution is still waiting, and resumable.
    async with Kit(db) as kit:
        await kit.engine.recover()
        assert kit.store.get_execution(execution_id).status is S.AWAITING_INPUT
        assert kit.store.get_execution(execution_id).output == waiting.output
        await kit.engine.resume(execution_id, {"a": "two"})
        done = await kit.until(execution_id)
        assert done.status is S.SUCCEEDED
        assert done.output == {
            "answers": [{"got": "one"}, {"got": "two"}],
            "who": "ada",
            "first": "ada",
        }
        after = kit.kinds(execution_id)
        assert after[: len(before)] == before
        assert after[len(before)] == "resume:ask_all[0].foreach[1][0]"


async def test_a_wait_in_a_parallel_branch_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "julep.db")
    spec = {"main": [{"parallel": [{"evaluate": {"fast": 1}}, ASK]}]}
    async with Kit(db) as kit:
        execution_id = await kit.start(spec, {"q": 1})
        assert (await kit.until(execution_id)).status is S.AWAITING_INPUT
    async with Kit(db) as kit:
        await kit.engine.recover()
        await kit.engine.resume(execution_id, {"slow": 2})
        assert (await kit.until(execution_id)).output == [{"fast": 1}, {"slow": 2}]


async def test_recover_fails_running_executions_and_starts_queued_ones(tmp_path: Path) -> None:
    db = str(tmp_path / "julep.db")
    async with Kit(db) as kit:
        task_id = kit.task({"main": [{"evaluate": {"a": 1}}, {"sleep": {"seconds": 30}}]})
        running = await kit.start(task_id)
        await asyncio.sleep(0.05)
        quick = kit.task({"main": [{"evaluate": {"done": True}}]})
        queued, _ = kit.store.create_execution(quick, {})
        # Simulate a crash: drop the engine's tasks without the shutdown bookkeeping.
        for run in list(kit.engine._runs.values()):
            run.closing = True
            assert run.task is not None
            run.task.cancel()
        await asyncio.sleep(0.05)
        assert kit.store.get_execution(running).status is S.RUNNING
    async with Kit(db) as kit:
        await kit.engine.recover()
        failed = kit.store.get_execution(running)
        assert failed.status is S.FAILED
        assert "server stopped while this execution was running (at main[1])" in (
            failed.error or ""
        )
        assert (await kit.until(queued.id)).output == {"done": True}


async def test_aclose_ends_running_executions_and_keeps_waiting_ones() -> None:
    kit = Kit()
    running = await kit.start({"main": [{"sleep": {"seconds": 30}}]})
    waiting = (await kit.run({"main": [ASK]})).id
    await asyncio.sleep(0.05)
    await kit.engine.aclose()
    assert kit.store.get_execution(running).status is S.FAILED
    assert kit.store.get_execution(waiting).status is S.AWAITING_INPUT
    assert kit.engine._runs == {}
    kit.store.close()


async def test_a_waiting_execution_without_checkpoint_cannot_be_resumed(tmp_path: Path) -> None:
    db = str(tmp_path / "julep.db")
    async with Kit(db) as kit:
        execution_id = (await kit.run({"main": [ASK]})).id
        kit.store.save_checkpoint(execution_id, {"version": 1, "token": "stale"})
    async with Kit(db) as kit:
        with pytest.raises(Conflict, match="no checkpoint for its current wait"):
            await kit.engine.resume(execution_id, {})
        await kit.engine.recover()
        execution = kit.store.get_execution(execution_id)
        assert execution.status is S.CANCELLED and "cannot be resumed" in str(execution.output)


async def test_concurrent_executions_run_independently() -> None:
    async with Kit() as kit:
        task_id = kit.task({"main": [{"sleep": {"seconds": 0.05}}, {"evaluate": {"n": "$ _.n"}}]})
        ids = [await kit.start(task_id, {"n": n}) for n in range(20)]
        results = [await kit.until(i) for i in ids]
        assert [r.output for r in results] == [{"n": n} for n in range(20)]


async def test_a_branch_failing_while_another_waits_ends_the_execution() -> None:
    def slow_failure(request: dict[str, Any]) -> tuple[int, Any]:
        time.sleep(0.2)  # the other branch reaches its wait meanwhile
        return 500, {"detail": "boom"}

    with http_server(slow_failure) as srv:
        async with Kit() as kit:
            tool = {
                "name": "api",
                "type": "api_call",
                "api_call": {"method": "GET", "url": srv.url},
            }
            spec = {"tools": [tool], "main": [{"parallel": [{"tool": "api"}, ASK]}]}
            execution = await kit.run(spec, until=[S.FAILED, S.CANCELLED], timeout=5)
            types = [t.type.value for t in kit.transitions(execution.id)]
    # `wait` → `error` is not a valid order, so the failure is recorded as a cancellation.
    assert types[-2:] == ["wait", "cancelled"]
    assert execution.status is S.CANCELLED
    assert "failed while waiting" in str(execution.output) and "answered 500" in str(
        execution.output
    )


async def test_a_restored_execution_keeps_the_task_definition_it_started_with(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "julep.db")
    async with Kit(db) as kit:
        task_id = kit.task({"main": [ASK, {"evaluate": {"version": 1}}]})
        execution_id = (await kit.run(task_id)).id
        kit.store.update_task(task_id, {"name": "t", "main": [{"evaluate": {"version": 2}}]})
    async with Kit(db) as kit:
        await kit.engine.recover()
        await kit.engine.resume(execution_id, {})
        assert (await kit.until(execution_id)).output == {"version": 1}
