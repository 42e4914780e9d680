"""The official ``julep`` SDK, unchanged, against a running local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from julep import AsyncJulep, Julep

from julep_nb.local.server import LocalServer

from .conftest import API_KEY

TASK = {
    "name": "ask then add",
    "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
    "main": [
        {"evaluate": {"y": "$ _['x'] + 1"}},
        {"wait_for_input": {"info": {"question": "what to add?"}}},
        {"evaluate": {"total": "$ steps[0].output['y'] + _['add']"}},
    ],
}
QUICK = {"name": "quick", "main": [{"evaluate": {"double": "$ _['x'] * 2"}}]}


@pytest.fixture
async def sdk(keyed_server: LocalServer) -> AsyncIterator[AsyncJulep]:
    client = AsyncJulep(api_key=API_KEY, base_url=keyed_server.base_url, max_retries=0)
    async with client:
        yield client


@pytest.fixture
def sync_sdk(keyed_server: LocalServer) -> Iterator[Julep]:
    with Julep(api_key=API_KEY, base_url=keyed_server.base_url, max_retries=0) as client:
        yield client


async def _until(sdk: AsyncJulep, execution_id: str, status: str) -> None:
    async with asyncio.timeout(10):
        while (await sdk.executions.get(execution_id)).status != status:
            await asyncio.sleep(0.01)


async def test_create_run_list_and_resume(sdk: AsyncJulep) -> None:
    agent = await sdk.agents.create(name="sdk agent", about="conformance")
    task = await sdk.tasks.create(agent.id, **TASK)  # type: ignore[arg-type]
    assert (await sdk.tasks.get(task.id)).name == "ask then add"
    execution = await sdk.executions.create(task.id, input={"x": 1})
    assert execution.status == "queued" and execution.input == {"x": 1}
    await _until(sdk, execution.id, "awaiting_input")
    waiting = await sdk.executions.get(execution.id)
    # Julep's wait output is the evaluated `info`; accept it bare or under "info".
    info = waiting.output.get("info", waiting.output)  # type: ignore[union-attr]
    assert info == {"question": "what to add?"}

    await sdk.executions.change_status(execution.id, status="running", input={"add": 40})
    await _until(sdk, execution.id, "succeeded")
    done = await sdk.executions.get(execution.id)
    assert done.output == {"total": 42}
    assert done.transition_count and done.transition_count >= 5

    listed = [e.id async for e in sdk.executions.list(task.id)]
    assert listed == [execution.id]
    kinds = [t.type async for t in sdk.executions.transitions.list(execution.id)]
    assert kinds[0] == "finish" and kinds[-1] == "init"  # newest first, as Julep
    assert {"wait", "resume"} <= set(kinds)


async def test_cancel_a_waiting_execution(sdk: AsyncJulep) -> None:
    agent = await sdk.agents.create(name="a")
    task = await sdk.tasks.create(agent.id, **TASK)  # type: ignore[arg-type]
    execution = await sdk.executions.create(task.id, input={"x": 1})
    await _until(sdk, execution.id, "awaiting_input")
    answer = await sdk.executions.change_status(execution.id, status="cancelled", reason="no time")
    assert answer is None  # Julep answers 200 null
    assert (await sdk.executions.get(execution.id)).status == "cancelled"


async def test_status_stream_until_done(sdk: AsyncJulep) -> None:
    agent = await sdk.agents.create(name="a")
    task = await sdk.tasks.create(agent.id, **QUICK)  # type: ignore[arg-type]
    execution = await sdk.executions.create(task.id, input={"x": 21})
    statuses = []
    async with asyncio.timeout(10):
        stream = await sdk.executions.status.stream(execution.id)
        async for event in stream:
            statuses.append(event.status)
    assert statuses[-1] == "succeeded"
    assert len(statuses) == len(set(statuses))  # one event per status change
    assert (await sdk.executions.get(execution.id)).output == {"double": 42}


def test_sync_client_and_error_mapping(sync_sdk: Julep) -> None:
    import julep

    agent = sync_sdk.agents.create(name="sync")
    task = sync_sdk.tasks.create(agent.id, **QUICK)  # type: ignore[arg-type]
    updated = sync_sdk.tasks.create_or_update(
        task.id, agent_id=agent.id, name="renamed", main=QUICK["main"]
    )
    assert (updated.id, updated.name) == (task.id, "renamed")
    with pytest.raises(julep.NotFoundError):
        sync_sdk.executions.get("no-such-execution")
    typed = sync_sdk.tasks.create(agent.id, **TASK)  # type: ignore[arg-type]
    with pytest.raises(julep.BadRequestError, match="input"):
        sync_sdk.executions.create(typed.id, input={"x": "one"})
    with Julep(api_key="wrong", base_url=sync_sdk.base_url, max_retries=0) as stranger:
        with pytest.raises(julep.PermissionDeniedError):
            stranger.agents.create(name="nope")
