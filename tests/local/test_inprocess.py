"""The in-process transport: the embedded server's answers without sockets, streams over TCP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import julep_nb
from julep_nb.local import start
from julep_nb.local.inprocess import InProcessTransport
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.errors import AuthError, NotFoundError, TransportError

from .conftest import API_KEY

TASK = {
    "name": "ask",
    "main": [
        {"evaluate": {"a": "$ _['x'] + 1"}},
        {"wait_for_input": {"info": {"question": "go?"}}},
        {"evaluate": {"b": "$ steps[0].output.a * 2"}},
    ],
}


def http_requests(server: LocalServer) -> int:
    """Requests the server has read from sockets so far."""
    assert server._server is not None
    return int(server._server.server_state.total_requests)


async def test_requests_reach_the_app_without_sockets_and_streams_use_tcp(
    server: LocalServer,
) -> None:
    async with julep_nb.Client(base_url=server.base_url, transport=server.transport()) as client:
        before = http_requests(server)
        agent = await client.create_agent(name="in-process")
        task = await client.create_task(agent.id, TASK)
        execution = await client.create_execution(task.id, input={"x": 1})
        handle = julep_nb.watch(execution.id, client=client)
        async with asyncio.timeout(10):
            async for state in handle.updates():
                if state.status.value == "awaiting_input":
                    break
        assert http_requests(server) == before  # none of those went over a socket
        await client.resume(execution.id, {"ok": True})
        state = await asyncio.wait_for(handle, 10)
        assert state.status.value == "succeeded" and state.output == {"b": 4}
        assert http_requests(server) > before  # the live stream did
        again = await client.get_execution(execution.id)
        assert again.status.value == "succeeded" and again.transition_count == 5
        with pytest.raises(NotFoundError, match="no-such-execution"):
            await client.get_execution("no-such-execution")


async def test_the_same_key_rules_apply_in_process() -> None:
    with start(port=0, api_key=API_KEY) as server:
        transport = server.transport()
        async with julep_nb.Client(
            base_url=server.base_url, api_key=API_KEY, transport=transport
        ) as ok:
            assert (await ok.create_agent(name="keyed")).name == "keyed"
        wrong = "sk-wrong-0123456789abcdef"
        async with julep_nb.Client(
            base_url=server.base_url, api_key=wrong, transport=transport
        ) as bad:
            with pytest.raises(AuthError) as refused:
                await bad.create_agent(name="nope")
        assert wrong not in str(refused.value) and API_KEY not in str(refused.value)


async def test_a_stopped_server_is_unreachable_not_a_hang() -> None:
    server = start(port=0)
    transport = server.transport()
    server.stop()
    client = julep_nb.Client(base_url=server.base_url, transport=transport, max_retries=0)
    with pytest.raises(TransportError):
        await asyncio.wait_for(client.create_agent(name="late"), 10)
    await client.aclose()


async def test_a_server_that_is_not_running_has_no_transport() -> None:
    server = start(port=0)
    server.stop()
    with pytest.raises(Exception, match="not running"):
        server.transport()


async def test_the_embedded_default_client_goes_in_process(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This server stands in for the process-wide one, which the test must not leave behind.
    monkeypatch.setattr(julep_nb.connect, "_local_server", server)
    client = julep_nb.Client()
    await client.ensure_base_url()
    assert isinstance(client._transport, InProcessTransport)
    before = http_requests(server)
    agent = await client.create_agent(name="default")
    assert agent.id and http_requests(server) == before
    await client.aclose()


async def test_a_bare_httpx_client_can_use_it(server: LocalServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, transport=server.transport()) as http:
        answer = await http.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
