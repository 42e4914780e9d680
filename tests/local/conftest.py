"""Fixtures of the local-server tests: real servers on loopback, real HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from julep_nb.local import start
from julep_nb.local.server import LocalServer
from julep_nb.local.store import Store
from julep_nb.sources.julep.models import Execution, TransitionTarget, TransitionType

API_KEY = "sk-test-0123456789abcdef"
MAIN0 = TransitionTarget(workflow="main", step=0)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local server with a short keep-alive interval, so pings show up in tests."""
    srv = start(port=0, db=":memory:", ping_interval=0.2)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def keyed_server() -> Iterator[LocalServer]:
    """A local server that requires :data:`API_KEY`."""
    srv = start(port=0, api_key=API_KEY)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def http(server: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        yield client


def seed_task(store: Store, **spec: Any) -> str:
    """A task stored directly (so no engine runs it); returns its id."""
    agent = store.create_agent({"name": "tester"})
    body = {"name": "t", "main": [{"evaluate": {"x": "$ 1"}}], **spec}
    return store.create_task(agent.id, body).id


def seed_execution(store: Store) -> Execution:
    """A queued execution that only the test advances (with :func:`step`)."""
    execution, _ = store.create_execution(seed_task(store), {"n": 1})
    return execution


def step(store: Store, execution_id: str, type: TransitionType, output: Any = None) -> int:
    """Append one transition the way the engine does; returns its sequence number."""
    final = type in (TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED)
    store.append_transition(
        execution_id, type=type, output=output, current=MAIN0, next=None if final else MAIN0
    )
    return store.get_execution(execution_id).transition_count or 0
