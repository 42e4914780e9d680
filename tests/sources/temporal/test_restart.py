"""The Temporal server SIGKILLed and restarted on its file database while workflows are watched."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

import asyncio
import uuid
from collections import Counter

from temporalio.worker import Worker

from julep_nb.live.events import ExecutionStatus, TimelineEntry
from julep_nb.sources.temporal import TemporalSource, start_dev_server
from tests.sources.temporal import workflows

WATCHERS = 5
TICKS = 8  # activities with a 0.2 s timer between: ~2-3 s of history


async def _record(source: TemporalSource, workflow_id: str) -> list[str]:
    """Every timeline entry id one live stream passes on, reopened from its cursor."""
    ids: list[str] = []
    cursor = None
    while True:
        stream = source.follow(workflow_id, cursor=cursor)
        try:
            async for event in stream:
                if isinstance(event, TimelineEntry):
                    ids.append(event.id)
        finally:
            cursor = stream.cursor
            await stream.aclose()
        if stream.complete:
            return ids


async def test_watchers_converge_after_sigkill_and_restart(tmp_path) -> None:
    db = tmp_path / "temporal.db"
    server = start_dev_server(db=db)
    task_queue = f"restart-{uuid.uuid4().hex[:6]}"
    try:
        source = await TemporalSource.connect(server.target)
        async with Worker(
            source.client,
            task_queue=task_queue,
            workflows=workflows.WORKFLOWS,
            activities=workflows.ACTIVITIES,
        ):
            handles = [
                await source.start_workflow(
                    workflows.Ticker.run, TICKS, id=f"tick-{i}-{uuid.uuid4().hex[:6]}",
                    task_queue=task_queue,
                )
                for i in range(WATCHERS)
            ]  # fmt: skip
            recorder = asyncio.ensure_future(_record(source, handles[0].id))
            await asyncio.sleep(0.8)
            server.kill()
            await asyncio.sleep(0.5)
            server = start_dev_server(port=server.port, db=db)
            states = await asyncio.wait_for(asyncio.gather(*handles), 90)
            recorded = await asyncio.wait_for(recorder, 30)
            fresh = [await source.snapshot(h.id) for h in handles]
    finally:
        server.stop()
    for state, snapshot in zip(states, fresh, strict=True):
        assert state.status is ExecutionStatus.SUCCEEDED and state.output == TICKS
        expected = [e.id for e in snapshot.events if isinstance(e, TimelineEntry)]
        assert [e.id for e in state.entries] == sorted(expected, key=expected.index)
        assert sum(1 for e in state.entries if e.kind == "activity") == TICKS
    # One stream across the restart: every entry once, none missing, in history order.
    first = [e.id for e in fresh[0].events if isinstance(e, TimelineEntry)]
    assert Counter(recorded).most_common(1)[0][1] == 1
    assert recorded == first
