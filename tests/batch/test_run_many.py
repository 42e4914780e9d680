"""run_many against the embedded server: order, counts, tables, retries, waits, cancel."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from julep_nb.batch import run_many
from julep_nb.live.batch.handle import BatchHandle
from julep_nb.live.batch.tables import timeline_dataframe
from julep_nb.live.events import ExecutionStatus
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from tests.batch.conftest import FLAKY_TASK, SLOW_TASK, WAIT_TASK, new_task

S = ExecutionStatus
N = 2000


async def test_two_thousand_inputs_with_failures(client: Client, local_server: LocalServer) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    inputs = [{"n": i, "tag": f"t{i}"} for i in range(N)]
    batch = await run_many(task_id, inputs, client=client, concurrency=32)
    assert isinstance(batch, BatchHandle) and len(batch) == N
    states = await asyncio.wait_for(batch, 300)
    failing = {i for i in range(N) if i % 7 == 0}
    assert batch.done
    assert [s.input for s in states] == inputs  # input order, each its own execution
    assert len({s.execution_id for s in states}) == N
    for i, state in enumerate(states):
        if i in failing:
            assert state.status is S.FAILED and "division" in (state.error or "").lower()
        else:
            assert state.status is S.SUCCEEDED
            assert state.output == {"double": 2 * i, "label": f"row-{i}"}
    assert batch.status_counts == {S.FAILED: len(failing), S.SUCCEEDED: N - len(failing)}
    assert sorted(batch.failures) == sorted(failing)
    # the server holds exactly one execution per input
    stored = local_server.store.list_executions(task_id, limit=100)
    assert len(stored) == 100
    count = local_server.store._one("SELECT count(*) FROM executions WHERE task_id = ?", (task_id,))
    assert count == (N,)

    frame = batch.to_dataframe()
    assert list(frame.columns) == [
        "n", "tag", "status", "double", "label", "error", "duration_s", "execution_id",
    ]  # fmt: skip
    assert frame.loc[3, "double"] == 6 and frame.loc[3, "label"] == "row-3"
    assert frame.loc[7, "status"] == "failed" and pd.isna(frame.loc[7, "double"])
    assert "division" in frame.loc[7, "error"].lower()
    assert frame["duration_s"].ge(0).all()
    assert list(frame["execution_id"]) == [s.execution_id for s in states]

    again = await batch.retry_failed()
    assert again.inputs == [inputs[i] for i in sorted(failing)]
    assert again.source_rows == sorted(failing)
    retried = await asyncio.wait_for(again, 120)
    assert {s.status for s in retried} == {S.FAILED}  # the same inputs fail the same way
    assert {s.execution_id for s in retried}.isdisjoint({s.execution_id for s in states})


async def test_dataframe_in_and_handles_out(client: Client) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    frame = pd.DataFrame({"n": [1, 2, 3]})
    batch = await run_many(task_id, frame, client=client)
    states = await asyncio.wait_for(batch, 60)
    assert [s.input for s in states] == [{"n": 1}, {"n": 2}, {"n": 3}]
    handle = batch[1]
    assert handle.id == states[1].execution_id
    full = await asyncio.wait_for(handle, 20)  # a handle with the whole timeline
    timeline = timeline_dataframe(full)
    assert list(timeline["kind"])[0] == "init" and list(timeline["kind"])[-1] == "finish"
    assert timeline["duration_s"].ge(0).all()


async def test_executions_that_pause_for_input(either_client: Client) -> None:
    task_id = await new_task(either_client, WAIT_TASK)
    # concurrency 2: waiting executions free their slots, so all five get to wait
    batch = await run_many(
        task_id, [{"n": i} for i in range(5)], client=either_client, concurrency=2
    )
    async with asyncio.timeout(30):
        while len(batch.waiting) < 5:
            await asyncio.sleep(0.05)
    assert batch.status_counts == {S.AWAITING_INPUT: 5}
    assert not batch.done
    for i in batch.waiting:
        handle = batch[i]
        assert handle.state.waiting_info == {"question": f"ok {i}?"}
        await handle.resume({"answer": i * 10})
    states = await asyncio.wait_for(batch, 30)
    assert [s.output for s in states] == [{"answer": i * 10} for i in range(5)]
    assert batch.waiting == []


async def test_cancel_mid_batch_leaves_nothing_running(
    either_client: Client, local_server: LocalServer
) -> None:
    task_id = await new_task(either_client, SLOW_TASK)
    batch = await run_many(
        task_id, [{"n": i} for i in range(40)], client=either_client, concurrency=8
    )
    async with asyncio.timeout(30):
        while batch.status_counts.get(S.RUNNING, 0) < 8:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(batch.cancel(reason="enough"), 30)
    states = await asyncio.wait_for(batch, 10)
    assert {s.status for s in states} == {S.CANCELLED}
    started = [s.execution_id for s in states if s.execution_id]
    assert len(started) >= 8
    store = local_server.store
    running = store.executions_with_status([S.QUEUED, S.STARTING, S.RUNNING, S.AWAITING_INPUT])
    assert [e.id for e in running if e.task_id == task_id] == []
    assert all(store.get_execution(i).status.value == "cancelled" for i in started)
    again = await batch.retry_failed()  # cancelled inputs are retried too
    assert len(again) == 40
    await again.cancel()


async def test_stop_starts_nothing_more_and_cancels_nothing(
    client: Client, local_server: LocalServer
) -> None:
    second = {"name": "batch-second", "main": [{"sleep": {"seconds": 1}}, {"return": {"n": 1}}]}
    task_id = await new_task(client, second)
    batch = await run_many(task_id, [{"n": i} for i in range(40)], client=client, concurrency=4)
    async with asyncio.timeout(30):
        while sum(1 for e in batch.execution_ids if e) < 4:
            await asyncio.sleep(0.05)
    assert batch.watching
    batch.stop(reason="the cell was run again")
    started = [i for i, e in enumerate(batch.execution_ids) if e]
    assert 4 <= len(started) < 40
    states = await asyncio.wait_for(batch, 30)  # the started ones are followed to their end
    assert not batch.watching
    for i, state in enumerate(states):
        if i in started:
            assert state.status is S.SUCCEEDED, (i, state.error)
            assert local_server.store.get_execution(state.execution_id).status is S.SUCCEEDED
        else:  # never created: cancelled, without an execution, saying why
            assert state.status is S.CANCELLED and not state.execution_id
            assert batch.problem(i) == "not started: the cell was run again"
    made = local_server.store.list_executions(task_id, limit=100)
    assert sorted(e.id for e in made) == sorted(states[i].execution_id for i in started)


async def test_bad_inputs_are_named(client: Client) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    with pytest.raises(TypeError, match="input 1 is a int"):
        await run_many(task_id, [{"n": 1}, 5], client=client)
    with pytest.raises(TypeError, match="not a single dict"):
        await run_many(task_id, {"n": 1}, client=client)
    with pytest.raises(ValueError, match="concurrency"):
        await run_many(task_id, [{"n": 1}], client=client, concurrency=0)


async def test_task_by_name_and_an_unknown_one(client: Client) -> None:
    agent = await client.create_agent(name="named")
    task = await client.create_task(agent.id, FLAKY_TASK)
    batch = await run_many("batch-flaky", [{"n": 1}], client=client, agent=agent.id)
    states = await asyncio.wait_for(batch, 30)
    assert states[0].task_id == task.id
    with pytest.raises(ValueError, match="no task named 'nope'"):
        await run_many("nope", [{"n": 1}], client=client, agent=agent)


async def test_empty_batch_is_done_at_once(client: Client) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    batch = await run_many(task_id, [], client=client)
    assert batch.done and await batch == []
