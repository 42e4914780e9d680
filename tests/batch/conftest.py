"""Fixtures of the batch tests: a real local server and a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client

# Fails for every input whose n is a multiple of 7 (a division by zero).
FLAKY_TASK: dict[str, Any] = {
    "name": "batch-flaky",
    "main": [
        {"evaluate": {"n": "$ _.n", "inv": "$ 1 / (_.n % 7)"}},
        {"return": {"double": "$ _.n * 2", "label": "$ 'row-' + str(_.n)"}},
    ],
}

WAIT_TASK: dict[str, Any] = {
    "name": "batch-wait",
    "main": [
        {"evaluate": {"n": "$ _.n"}},
        {"wait_for_input": {"info": {"question": "$ 'ok ' + str(_.n) + '?'"}}},
        {"return": {"answer": "$ _.answer"}},
    ],
}

SLOW_TASK: dict[str, Any] = {
    "name": "batch-slow",
    "main": [{"evaluate": {"n": "$ _.n"}}, {"sleep": {"seconds": 30}}, {"return": {"n": 1}}],
}


@pytest.fixture
async def client(local_server: LocalServer) -> AsyncIterator[Client]:
    async with Client(base_url=local_server.base_url) as c:
        yield c


async def new_task(client: Client, spec: dict[str, Any]) -> str:
    agent = await client.create_agent(name="batch")
    return (await client.create_task(agent.id, spec)).id


class CountingClient(Client):
    """The real client, counting how it creates executions (one request each, or in bulk)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.single = 0
        self.bulk: list[int] = []  # items per bulk request

    async def create_execution(self, *args: Any, **kwargs: Any) -> Any:
        self.single += 1
        return await super().create_execution(*args, **kwargs)

    async def create_executions(self, *args: Any, **kwargs: Any) -> Any:
        self.bulk.append(len(args[1]))
        return await super().create_executions(*args, **kwargs)


@pytest.fixture(params=["bulk", "per-row"])
async def either_client(
    request: pytest.FixtureRequest, local_server: LocalServer
) -> AsyncIterator[CountingClient]:
    """A client that creates in bulk (the default against this server), or one request each."""
    extensions = None if request.param == "bulk" else False
    async with CountingClient(base_url=local_server.base_url, extensions=extensions) as c:
        yield c
    if request.param == "bulk":
        assert c.single == 0 and c.bulk, "the batch did not create in bulk"
    else:
        assert not c.bulk, "the batch created in bulk"
