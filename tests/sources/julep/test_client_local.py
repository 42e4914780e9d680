"""Every Client method against the real embedded local server, over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from julep_nb import connect
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from julep_nb.sources.julep.models import Execution, ExecutionStatus, TransitionType

DOUBLE = """
name: double
description: doubles x
input_schema:
  type: object
  properties: {x: {type: integer}}
  required: [x]
main:
  - evaluate:
      doubled: $ _['x'] * 2
  - return:
      result: $ _['doubled']
"""

ASK = """
name: ask
main:
  - wait_for_input:
      info: {question: "what is the answer?"}
  - return:
      answer: $ _['answer']
"""

UNKNOWN_ID = "00000000-0000-4000-8000-0000000000ff"


@pytest.fixture
async def client(julep_base_url: str) -> AsyncIterator[Client]:
    async with Client(julep_base_url, backoff=0.01) as client:
        yield client


async def finished(client: Client, execution: Execution) -> ExecutionStatus:
    """Follow the status stream to the terminal status."""
    status = execution.status
    async with asyncio.timeout(10):
        async for event in client.stream_status(execution.id):
            status = event.status
    return status


async def reach(client: Client, execution_id: str, wanted: ExecutionStatus) -> None:
    async with asyncio.timeout(10):
        async for event in client.stream_status(execution_id):
            if event.status is wanted:
                return
    raise AssertionError(f"execution ended without reaching {wanted}")


async def setup_task(client: Client, yaml_text: str = DOUBLE) -> tuple[str, str]:
    agent = await client.create_agent(name="nb", about="tests")
    task = await client.create_task(agent.id, yaml_text)
    return agent.id, task.id


async def test_agents_and_tasks(client: Client):
    agent = await client.create_agent(name="nb", about="tests")
    assert agent.name == "nb" and agent.id
    task = await client.create_task(agent.id, DOUBLE)
    assert task.name == "double" and task.main
    assert (await client.get_task(task.id)).id == task.id
    other = await client.create_task(agent.id, {"name": "other", "main": [{"return": {"a": 1}}]})
    listed = await client.list_tasks(agent.id)
    assert {t.id for t in listed} == {task.id, other.id}
    assert len(await client.list_tasks(agent.id, limit=1)) == 1
    updated = await client.update_task(
        agent.id, task.id, DOUBLE.replace("doubles x", "now documented")
    )
    assert updated.id == task.id and updated.description == "now documented"
    assert (await client.get_task(task.id)).description == "now documented"


async def test_execution_lifecycle_and_transitions(client: Client):
    _, task_id = await setup_task(client)
    execution = await client.create_execution(task_id, {"x": 21}, metadata={"from": "test"})
    assert execution.task_id == task_id and execution.input == {"x": 21}
    assert await finished(client, execution) is ExecutionStatus.SUCCEEDED

    done = await client.get_execution(execution.id)
    assert done.status is ExecutionStatus.SUCCEEDED and done.output == {"result": 42}
    transitions = await client.list_transitions(execution.id)
    assert transitions[0].type is TransitionType.INIT
    assert transitions[-1].type is TransitionType.FINISH
    newest_first = await client.list_transitions(execution.id, direction="desc", limit=1)
    assert newest_first[0].id == transitions[-1].id
    one = await client.get_transition(execution.id, transitions[1].id)
    assert one == transitions[1]
    assert [e.id for e in await client.list_executions(task_id)] == [execution.id]


async def test_stream_transitions_delivers_each_once_and_resumes(client: Client):
    _, task_id = await setup_task(client)
    execution = await client.create_execution(task_id, {"x": 1})
    stream = client.stream_transitions(execution.id)
    async with asyncio.timeout(10):
        streamed = [t async for t in stream]
    listed = await client.list_transitions(execution.id)
    assert [t.id for t in streamed] == [t.id for t in listed]
    assert streamed[-1].type is TransitionType.FINISH
    assert stream.last_event_id is not None

    # Resuming after the first event replays only the rest.
    first_id = "1"
    async with asyncio.timeout(10):
        rest = [t async for t in client.stream_transitions(execution.id, last_event_id=first_id)]
    assert [t.id for t in rest] == [t.id for t in listed[1:]]


async def test_same_idempotency_key_returns_the_first_execution(client: Client):
    _, task_id = await setup_task(client)
    first = await client.create_execution(task_id, {"x": 1}, idempotency_key="once")
    again = await client.create_execution(task_id, {"x": 1}, idempotency_key="once")
    assert again.id == first.id
    assert len(await client.list_executions(task_id)) == 1


async def test_resume_a_waiting_execution(client: Client):
    _, task_id = await setup_task(client, ASK)
    execution = await client.create_execution(task_id, {})
    await reach(client, execution.id, ExecutionStatus.AWAITING_INPUT)
    waiting = await client.get_execution(execution.id)
    assert "what is the answer?" in str(waiting.output)
    await client.resume(execution.id, {"answer": 42})
    assert await finished(client, execution) is ExecutionStatus.SUCCEEDED
    assert (await client.get_execution(execution.id)).output == {"answer": 42}
    with pytest.raises(ConflictError):
        await client.resume(execution.id, {"answer": 43})


async def test_cancel_a_waiting_execution(client: Client):
    _, task_id = await setup_task(client, ASK)
    execution = await client.create_execution(task_id, {})
    await reach(client, execution.id, ExecutionStatus.AWAITING_INPUT)
    await client.cancel(execution.id, reason="not needed")
    assert await finished(client, execution) is ExecutionStatus.CANCELLED
    with pytest.raises(ConflictError):
        await client.cancel(execution.id)


async def test_resume_with_token_when_the_server_has_one(client: Client):
    _, task_id = await setup_task(client, ASK)
    execution = await client.create_execution(task_id, {})
    await reach(client, execution.id, ExecutionStatus.AWAITING_INPUT)
    transitions = await client.list_transitions(execution.id)
    token = (transitions[-1].metadata or {}).get("task_token")
    assert token, "the local server records a task token on wait transitions"
    await client.resume_with_token(token, {"answer": "by token"})
    assert await finished(client, execution) is ExecutionStatus.SUCCEEDED


async def test_server_errors_arrive_as_the_error_tree(client: Client):
    _, task_id = await setup_task(client)
    with pytest.raises(ValidationError, match="x"):
        await client.create_execution(task_id, {"x": "not a number"})
    with pytest.raises(NotFoundError):
        await client.get_execution(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await client.create_execution(UNKNOWN_ID, {})


async def test_paging_lists_more_than_one_page(client: Client):
    _, task_id = await setup_task(client, "name: t\nmain:\n  - return: {a: 1}\n")
    created = await asyncio.gather(*(client.create_execution(task_id, {}) for _ in range(105)))
    listed = await client.list_executions(task_id)
    assert {e.id for e in listed} == {e.id for e in created}
    assert len(await client.list_executions(task_id, limit=101)) == 101


async def test_api_key_is_required_and_never_shown():
    from julep_nb.local import start

    key = "sk-local-RECOGNISABLE-424242"
    server = start(port=0, db=":memory:", api_key=key)
    try:
        async with Client(server.base_url, api_key="wrong-key-123456789") as wrong:
            with pytest.raises(AuthError) as caught:
                await wrong.create_agent(name="nb")
            assert "wrong-key-123456789" not in str(caught.value)
            with pytest.raises(AuthError):
                async for _ in wrong.stream_status(UNKNOWN_ID):
                    pass
        async with Client(server.base_url, api_key=key) as right:
            assert (await right.create_agent(name="nb")).name == "nb"
            assert key not in repr(right)
    finally:
        server.stop()


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("JULEP_BASE_URL", raising=False)
    monkeypatch.delenv("JULEP_API_KEY", raising=False)
    yield
    server, connect._local_server = connect._local_server, None
    if server is not None:
        server.stop()


async def test_the_http_client_alone_never_starts_a_server(no_settings):
    before = connect._local_server
    with pytest.raises(ConfigError, match="No Julep server is configured"):
        await Client().create_agent(name="nowhere")
    assert connect._local_server is before  # no server was started for it


async def test_with_nothing_configured_the_embedded_server_starts_on_first_request(no_settings):
    client = connect.Client()
    assert client.settings.use_local and client.base_url is None
    agent = await client.create_agent(name="embedded")
    assert client.base_url is not None and client.base_url.startswith("http://127.0.0.1:")
    async with connect.Client() as second:  # the same process-wide server
        await second.ensure_base_url()
        assert second.base_url == client.base_url
        assert (await second.list_tasks(agent.id)) == []
    await client.aclose()


def test_one_client_works_across_successive_event_loops(julep_base_url: str):
    client = Client(julep_base_url)

    async def make_agent() -> str:
        return (await client.create_agent(name="loop")).id

    ids = [asyncio.run(make_agent()) for _ in range(3)]
    assert len(set(ids)) == 3
    assert len(client._pools) == 1  # pools of finished loops are dropped, not hoarded


async def test_more_than_a_hundred_open_streams_are_all_live(local_server):
    """Each watcher holds a streaming connection; the pool must not cap them at 100."""
    from tests.local.conftest import seed_execution

    executions = [seed_execution(local_server.store) for _ in range(110)]
    async with Client(base_url=local_server.base_url) as client:
        streams = [client.stream_status(e.id) for e in executions]

        async def first(stream):
            return await stream.__anext__()

        try:
            async with asyncio.timeout(20):
                events = await asyncio.gather(*(first(s) for s in streams))
        finally:
            await asyncio.gather(*(s.aclose() for s in streams))
    assert sorted(e.execution_id for e in events) == sorted(e.id for e in executions)
