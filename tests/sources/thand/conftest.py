"""A Thand-compatible server (written here, see server.py) on a real Temporal dev server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from julep_nb.sources.temporal import DevServer, start_dev_server  # noqa: E402
from tests.sources.temporal.conftest import (  # noqa: E402,F401 - the clean-exit hooks
    pytest_sessionfinish,
    pytest_unconfigure,
)
from tests.sources.thand.server import ThandServer, create_app  # noqa: E402
from tests.sources.thand.workflows import AccessRequest  # noqa: E402

TOKEN = "thand-secret-token"


@pytest.fixture(scope="module")
def temporal() -> Iterator[DevServer]:
    with start_dev_server() as server:
        yield server


@pytest.fixture(scope="module")
def task_queue() -> str:
    return f"thand-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module", params=["code", "reference"])
def thand(request, temporal: DevServer, task_queue: str) -> Iterator[ThandServer]:
    app = create_app(temporal.target, token=TOKEN, task_queue=task_queue, shape=request.param)
    with ThandServer(app) as server:
        yield server


@pytest.fixture
async def worker(temporal: DevServer, task_queue: str) -> AsyncIterator[Worker]:
    client = await Client.connect(temporal.target)
    async with Worker(client, task_queue=task_queue, workflows=[AccessRequest]) as running:
        yield running
