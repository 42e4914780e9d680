"""run_many against the embedded server creates its executions in bulk requests."""

from __future__ import annotations

import asyncio
from typing import Any

from julep_nb.batch import run_many
from julep_nb.live.events import ExecutionStatus
from julep_nb.local.server import LocalServer
from tests.batch.conftest import FLAKY_TASK, CountingClient, new_task

S = ExecutionStatus
SCHEMA_TASK: dict[str, Any] = {
    "name": "batch-schema",
    "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    "main": [{"return": {"n": "$ _.n"}}],
}


async def test_a_batch_creates_in_bulk_in_input_order(local_server: LocalServer) -> None:
    n = 600
    async with CountingClient(base_url=local_server.base_url) as client:
        task_id = await new_task(client, FLAKY_TASK)
        batch = await run_many(task_id, [{"n": i} for i in range(n)], client=client, concurrency=32)
        states = await asyncio.wait_for(batch, 120)
    assert client.single == 0
    assert sum(client.bulk) == n and max(client.bulk) <= 32
    assert len(client.bulk) < n / 2  # most requests carried several creations
    assert [s.input for s in states] == [{"n": i} for i in range(n)]
    assert [s.execution_id for s in states] == batch.execution_ids
    assert len(set(batch.execution_ids)) == n
    assert [s.status is S.FAILED for s in states] == [i % 7 == 0 for i in range(n)]
    rows = local_server.store._all(
        "SELECT id, metadata FROM executions WHERE task_id = ? ORDER BY created_at", (task_id,)
    )
    assert len(rows) == n  # one execution per input
    assert {r[0] for r in rows} == set(batch.execution_ids)


async def test_a_bad_input_fails_alone(local_server: LocalServer) -> None:
    inputs: list[dict[str, Any]] = [{"n": i} for i in range(40)]
    inputs[13] = {"n": "thirteen"}
    async with CountingClient(base_url=local_server.base_url) as client:
        task_id = await new_task(client, SCHEMA_TASK)
        batch = await run_many(task_id, inputs, client=client, concurrency=8)
        states = await asyncio.wait_for(batch, 60)
    bad = states[13]
    assert bad.status is S.FAILED and not bad.execution_id
    assert "input['n']" in (bad.error or "") and "thirteen" in (bad.error or "")
    assert batch.failures == [13]
    good = [s for i, s in enumerate(states) if i != 13]
    assert [s.output for s in good] == [{"n": i} for i in range(40) if i != 13]
    assert 1 <= client.single <= 8  # only the refused request's items went one by one
    count = local_server.store._one("SELECT count(*) FROM executions WHERE task_id = ?", (task_id,))
    assert count == (39,)
