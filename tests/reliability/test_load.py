"""1,000 executions created at once through a proxy that resets connections.

A reset after the server committed but before the client read the answer is the
case Idempotency-Key exists for: the client re-sends, the server replays. None may
be lost, none duplicated, and ``/healthz`` keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.models import Execution
from tests.reliability.helpers import new_task
from tests.reliability.proxy import ChaosProxy
from tests.reliability.serve import ServeProcess

EXECUTIONS = 1_000
POOL_SIZE = 100  # httpx's default max_connections
TINY_TASK = {"name": "reliability-tiny", "main": [{"evaluate": {"n": "$ _.n"}}]}


def _probe_health(base_url: str, stop: threading.Event) -> list[float]:
    """``/healthz`` latencies until ``stop``; raises if it ever fails to answer 200.

    On its own thread with blocking calls, so it measures the server, not how busy
    the test's event loop (1,000 client requests and the proxy) is.
    """
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=5) as http:
        while not stop.wait(0.05):
            began = time.perf_counter()
            response = http.get("/healthz")
            assert response.status_code == 200, response.text
            latencies.append(time.perf_counter() - began)
    return latencies


@pytest.mark.slow
async def test_1000_concurrent_creations_through_resets_none_lost_none_duplicated(
    tmp_path: Path,
) -> None:
    with ServeProcess(tmp_path / "load.db") as server:
        await _create_through_resets(server)


async def _create_through_resets(server: ServeProcess) -> None:
    proxy = ChaosProxy(server.port, seed=8, reset=0.03, cut=0.02, max_faults=300)
    stop = threading.Event()
    async with (
        proxy,
        Client(base_url=server.base_url) as direct,
        Client(base_url=proxy.base_url, backoff=0.02, max_retries=8) as faulty,
    ):
        task_id = await new_task(direct, TINY_TASK)
        # As many in flight as httpx's pool has connections (100). Beyond that requests
        # wait inside httpcore's pool, whose bookkeeping is quadratic in the queue:
        # 1,000 queued at once cost 3-8x the CPU (see docs/reliability.md).
        in_flight = asyncio.Semaphore(POOL_SIZE)

        async def create(i: int) -> Execution:
            async with in_flight:
                return await faulty.create_execution(task_id, {"n": i}, idempotency_key=f"load-{i}")

        health = asyncio.create_task(asyncio.to_thread(_probe_health, server.base_url, stop))
        async with asyncio.timeout(120):
            created = await asyncio.gather(*(create(i) for i in range(EXECUTIONS)))
            stop.set()
            latencies = await health
            stored = await direct.list_executions(task_id)

    assert proxy.faults["reset"] + proxy.faults["cut"] >= 20, proxy.faults
    assert len({e.id for e in created}) == EXECUTIONS  # none lost, none merged
    assert len(stored) == EXECUTIONS  # no duplicate row from a re-sent POST
    assert sorted(e.input["n"] for e in stored) == list(range(EXECUTIONS))
    assert {e.id for e in stored} == {e.id for e in created}
    assert len(latencies) >= 5 and max(latencies) < 2.0, latencies
