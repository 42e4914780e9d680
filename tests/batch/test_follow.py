"""The batch's follower: it lists the task's executions and reads only the ones it follows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from julep_nb.batch import run_many
from julep_nb.batch.follow import _updated_at
from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.models import Execution
from tests.batch.conftest import FLAKY_TASK, new_task


@pytest.mark.parametrize(
    "when",
    [
        "2026-12-01T20:51:05.123456Z",
        "2026-12-01T20:51:05Z",
        "2026-12-01T22:51:05.5+02:00",
        1_764_622_265,  # not ISO text: read by the model
        "2026-12-01 20:51:05Z",
    ],
)
def test_a_listed_time_is_read_as_the_execution_model_reads_it(when: Any) -> None:
    item = {"id": "e", "task_id": "t", "status": "running", "created_at": when, "updated_at": when}
    assert _updated_at(item) == Execution.model_validate(item).updated_at


async def test_a_batch_ends_whatever_else_the_listing_holds(client: Client) -> None:
    # Executions of the same task started by someone else fill the listing's pages
    # while the batch runs; the batch follows exactly its own.
    task_id = await new_task(client, FLAKY_TASK)
    others = [await client.create_execution(task_id, {"n": 1000 + i}) for i in range(150)]
    batch = await run_many(task_id, [{"n": i} for i in range(1, 300)], client=client)
    more = [await client.create_execution(task_id, {"n": 2000 + i}) for i in range(50)]
    states = await asyncio.wait_for(batch, 120)
    assert [s.input for s in states] == [{"n": i} for i in range(1, 300)]
    ours = {s.execution_id for s in states}
    assert not ours & {e.id for e in others + more}
    for i, state in enumerate(states, start=1):
        failed = ExecutionStatus.FAILED if i % 7 == 0 else ExecutionStatus.SUCCEEDED
        assert state.status is failed, (i, state.error)
        if i % 7:
            assert state.output == {"double": 2 * i, "label": f"row-{i}"}
