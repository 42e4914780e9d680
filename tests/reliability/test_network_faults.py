"""Watchers behind a proxy that cuts, resets and dribbles connections still converge.

Each execution is watched twice at once: directly (the undisturbed run) and through
:class:`ChaosProxy`. Both must end on the same final state, transition for transition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from julep_nb.live.registry import start_watcher
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.source import STATUS_STREAM, TRANSITIONS_STREAM, JulepSource
from tests.reliability.helpers import (
    GATED_STEPS_TASK,
    assert_no_duplicates,
    fingerprint,
    gather_bounded,
    new_task,
)
from tests.reliability.proxy import ChaosProxy

EXECUTIONS = 50
LIVE = (TRANSITIONS_STREAM, STATUS_STREAM)


async def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("seed", [1, 2])
async def test_50_watchers_through_a_faulty_proxy_converge_like_undisturbed_ones(
    local_server: LocalServer, seed: int
) -> None:
    proxy = ChaosProxy(
        local_server.port, seed=seed, cut=0.05, reset=0.03, delay=0.1, max_faults=200
    )
    async with (
        proxy,
        Client(base_url=local_server.base_url) as direct,
        Client(base_url=proxy.base_url, backoff=0.02, max_retries=5) as faulty,
    ):
        task_id = await new_task(direct, GATED_STEPS_TASK)
        executions = await gather_bounded(
            *(direct.create_execution(task_id, {"n": i}) for i in range(EXECUTIONS)), timeout=30
        )
        calm = [start_watcher(JulepSource(direct), e.id, key=f"calm-{seed}") for e in executions]
        wild = [start_watcher(JulepSource(faulty), e.id, key=f"wild-{seed}") for e in executions]
        # The executions wait at their gate until every watcher follows a stream, so
        # the steps after it reach the watchers live, through the faults, whatever
        # the machine's load.
        await _until(lambda: all(w.state.status.value == "awaiting_input" for w in calm + wild))
        await _until(lambda: all(w.strategy in LIVE for w in calm + wild))
        faults_before = dict(proxy.faults)
        proxy.max_faults = proxy.spent + 200  # a fresh budget for the live part
        await gather_bounded(*(direct.resume(e.id, {"go": True}) for e in executions), timeout=30)
        await gather_bounded(*(w.wait() for w in calm + wild), timeout=60)

    assert [w.error for w in wild] == [None] * EXECUTIONS
    live_faults = {kind: proxy.faults[kind] - faults_before.get(kind, 0) for kind in proxy.faults}
    assert live_faults["cut"] > 0 and live_faults["reset"] > 0, live_faults
    for undisturbed, disturbed in zip(calm, wild, strict=True):
        assert undisturbed.state.status.value == "succeeded"
        assert fingerprint(disturbed.state) == fingerprint(undisturbed.state)
    assert_no_duplicates(w.state for w in calm + wild)
    outputs = sorted(w.state.output["b"] for w in wild)
    assert outputs == [2 * i + 1 for i in range(EXECUTIONS)]
