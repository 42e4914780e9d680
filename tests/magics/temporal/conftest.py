"""Temporal and Thand sources for the magics: a real dev server, workers in a thread.

The magics run their coroutines on IPython's loop, which runs only while a cell (or
``shell.until``) runs; the workers therefore run on a loop of their own, in a thread,
so that workflows progress between cells as they would beside a real kernel. The dev
server fixture and the clean-exit hooks come from ``tests/sources/temporal``, the
Thand-compatible server from ``tests/sources/thand``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from julep_nb.sources.temporal import DevServer  # noqa: E402
from tests.sources.temporal import workflows  # noqa: E402
from tests.sources.temporal.conftest import (  # noqa: E402,F401 - fixture and clean-exit hooks
    pytest_sessionfinish,
    pytest_unconfigure,
    temporal_server,
)
from tests.sources.thand.server import ThandServer, create_app  # noqa: E402
from tests.sources.thand.workflows import AccessRequest  # noqa: E402

T = TypeVar("T")
THAND_TOKEN = "thand-magics-token-7f3e"


class ThreadWorker:
    """A Temporal worker (and a client for the test) on a loop in a background thread."""

    def __init__(self, target: str, task_queue: str, workflow_types: list[Any]) -> None:
        self.target = target
        self.task_queue = task_queue
        self._types = workflow_types
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stop: asyncio.Event | None = None
        self._done: Any = None
        self.client: Client | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the worker's loop (with the worker's client) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> ThreadWorker:
        self._thread.start()
        ready = threading.Event()
        self._done = asyncio.run_coroutine_threadsafe(self._main(ready), self._loop)
        if not ready.wait(30):
            raise RuntimeError("the Temporal worker did not start in 30 s")
        return self

    async def _main(self, ready: threading.Event) -> None:
        self.client = await Client.connect(self.target)
        self._stop = asyncio.Event()
        async with Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=self._types,
            activities=workflows.ACTIVITIES,
        ):
            ready.set()
            await self._stop.wait()

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._done is not None:
            self._done.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def temporal_worker(temporal_server: DevServer) -> Iterator[ThreadWorker]:  # noqa: F811
    queue = f"magics-{uuid.uuid4().hex[:8]}"
    with ThreadWorker(temporal_server.target, queue, workflows.WORKFLOWS) as worker:
        yield worker


@pytest.fixture(scope="module")
def thand(temporal_server: DevServer) -> Iterator[ThandServer]:  # noqa: F811
    """A Thand-compatible server (its code's shapes) and a worker for its workflows."""
    queue = f"thand-magics-{uuid.uuid4().hex[:6]}"
    app = create_app(temporal_server.target, token=THAND_TOKEN, task_queue=queue, shape="code")
    with ThreadWorker(temporal_server.target, queue, [AccessRequest]), ThandServer(app) as server:
        yield server
