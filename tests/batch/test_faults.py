"""A batch against a hosted-Julep-shaped server that rate-limits, and one that crashes."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from julep_nb.batch import run_many
from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.julep.client import Client
from tests.batch.conftest import CountingClient
from tests.faults import FaultServer, Request, Responder
from tests.reliability.serve import ServeProcess

S = ExecutionStatus
TASK_ID = "11111111-2222-3333-4444-555555555555"
LIMITED = {"error": {"message": "Too many requests", "code": "rate_limited", "type": "http_error"}}


class RateLimitedJulep:
    """Executions succeed at once; two requests in three get a 429 with ``Retry-After: 0``."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}  # by idempotency key
        self.calls = 0
        self.limited = 0
        self.clock = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def _now(self) -> str:
        self.clock += timedelta(milliseconds=1)
        return self.clock.isoformat()

    async def __call__(self, request: Request, reply: Responder) -> None:
        self.calls += 1
        if self.calls % 3:
            self.limited += 1
            await reply.send_json(429, LIMITED, {"Retry-After": "0"})
            return
        if request.method == "POST" and request.path == f"/tasks/{TASK_ID}/executions":
            key = request.headers["idempotency-key"]
            if key not in self.executions:
                now = self._now()
                self.executions[key] = {
                    "id": str(uuid.uuid4()), "task_id": TASK_ID, "status": "succeeded",
                    "input": request.json()["input"], "output": {"ok": request.json()["input"]},
                    "created_at": now, "updated_at": now, "transition_count": 3,
                }  # fmt: skip
            await reply.send_json(201, {**self.executions[key], "status": "queued"})
        elif request.method == "GET" and request.path == f"/tasks/{TASK_ID}/executions":
            offset, limit = int(request.query["offset"]), int(request.query["limit"])
            items = sorted(self.executions.values(), key=lambda e: e["updated_at"], reverse=True)
            await reply.send_json(200, {"items": items[offset : offset + limit]})
        else:
            await reply.send_json(404, {"error": {"message": "Not Found"}})


async def test_rate_limited_server_backs_off_and_finishes() -> None:
    julep = RateLimitedJulep()
    async with FaultServer(julep) as server:
        client = Client(base_url=server.base_url, api_key="k", backoff=0.01, max_retries=1)
        async with client:
            batch = await run_many(TASK_ID, [{"n": i} for i in range(60)], client=client)
            states = await asyncio.wait_for(batch, 60)
    assert [s.status for s in states] == [S.SUCCEEDED] * 60
    assert [s.output for s in states] == [{"ok": {"n": i}} for i in range(60)]
    assert len(julep.executions) == 60  # one per input, however often a POST was re-sent
    assert julep.limited > 60  # it was rate-limited all along


SLEEPY_TASK: dict[str, Any] = {
    "name": "batch-sleepy",
    "main": [{"evaluate": {"n": "$ _.n"}}, {"sleep": {"seconds": 0.5}}, {"return": {"n": "$ _.n"}}],
}


@pytest.mark.slow
@pytest.mark.parametrize("extensions", [None, False], ids=["bulk", "per-row"])
async def test_server_killed_and_restarted_mid_batch(
    tmp_path: Path, extensions: bool | None
) -> None:
    db = tmp_path / "batch.db"
    server = ServeProcess(db)
    server.start()
    n = 200
    try:
        client = CountingClient(
            base_url=server.base_url, backoff=0.05, max_retries=2, extensions=extensions
        )
        async with client:
            agent = await client.create_agent(name="crash")
            task_id = (await client.create_task(agent.id, SLEEPY_TASK)).id
            batch = await run_many(task_id, [{"n": i} for i in range(n)], client=client)
            async with asyncio.timeout(60):  # a quarter done, and many mid-sleep
                while batch.finished < n // 4 or batch.status_counts.get(S.RUNNING, 0) < 8:
                    await asyncio.sleep(0.01)
            server.kill()
            await asyncio.sleep(0.3)
            server.start()
            states = await asyncio.wait_for(batch, 120)
    finally:
        server.stop()
    assert bool(client.bulk) is (extensions is None)  # the embedded server creates in bulk
    ids = [s.execution_id for s in states]
    assert all(ids) and len(set(ids)) == n  # every input ran, each once
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT id FROM executions WHERE task_id = ?", (task_id,)).fetchall()
    assert sorted(r[0] for r in stored) == sorted(ids)  # nothing lost, nothing twice
    statuses = {s.status for s in states}
    assert statuses <= {S.SUCCEEDED, S.FAILED}
    interrupted = [s for s in states if s.status is S.FAILED]
    assert interrupted, "some executions were running at the kill"
    odd = {s.error for s in interrupted if "local server stopped" not in (s.error or "")}
    assert not odd, odd
    assert [s.output for s in states if s.status is S.SUCCEEDED] == [
        {"n": i} for i, s in enumerate(states) if s.status is S.SUCCEEDED
    ]
