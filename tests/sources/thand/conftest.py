"""A Thand-compatible server (written here, see server.py) on a real Temporal dev server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.sources.temporal.conftest import (  # noqa: F401 - the clean-exit hooks
    pytest_sessionfinish,
    pytest_unconfigure,
)

TOKEN = "thand-secret-token"


@pytest.fixture(scope="module")
def temporal() -> Iterator[Any]:
    from julep_nb.sources.temporal import start_dev_server

    with start_dev_server() as server:
        yield server


@pytest.fixture(scope="module")
def task_queue() -> str:
    return f"thand-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module", params=["code", "reference"])
def thand(request, temporal: Any, task_queue: str) -> Iterator[Any]:
    from tests.sources.thand.server import ThandServer, create_app

    app = create_app(temporal.target, token=TOKEN, task_queue=task_queue, shape=request.param)
    with ThandServer(app) as server:
        yield server


@pytest.fixture
async def worker(temporal: Any, task_queue: str) -> AsyncIterator[Any]:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from tests.sources.thand.workflows import AccessRequest

    client = await Client.connect(temporal.target)
    async with Worker(client, task_queue=task_queue, workflows=[AccessRequest]) as running:
        yield running
