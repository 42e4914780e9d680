"""Watchers behind a proxy that cuts, resets and dribbles connections still converge.

Each execution is watched twice at once: directly (the undisturbed run) and through
:class:`ChaosProxy`. Both must end on the same final state, transition for transition.
"""

from __future__ import annotations

import pytest

from julep_nb.api.client import Client
from julep_nb.live.watcher import start_watcher
from julep_nb.local.server import LocalServer
from tests.reliability.helpers import (
    STEPS_TASK,
    assert_no_duplicates,
    fingerprint,
    gather_bounded,
    new_task,
)
from tests.reliability.proxy import ChaosProxy

EXECUTIONS = 50


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
        task_id = await new_task(direct, STEPS_TASK)
        executions = await gather_bounded(
            *(direct.create_execution(task_id, {"n": i}) for i in range(EXECUTIONS)), timeout=30
        )
        # Both watch from the start, so the faults hit live streams, not only snapshots.
        calm = [start_watcher(direct, e.id, key=f"calm-{seed}") for e in executions]
        wild = [start_watcher(faulty, e.id, key=f"wild-{seed}") for e in executions]
        await gather_bounded(*(w.wait() for w in calm + wild), timeout=60)
        strategies = {w.strategy for w in wild}

    assert [w.error for w in wild] == [None] * EXECUTIONS
    assert strategies - {None}, "no watcher followed a stream: the faults hit nothing live"
    assert proxy.faults["cut"] > 0 and proxy.faults["reset"] > 0, proxy.faults
    for undisturbed, disturbed in zip(calm, wild, strict=True):
        assert undisturbed.state.status.value == "succeeded"
        assert fingerprint(disturbed.state) == fingerprint(undisturbed.state)
    assert_no_duplicates(w.state for w in calm + wild)
    outputs = sorted(w.state.output["b"] for w in wild)
    assert outputs == [2 * i + 1 for i in range(EXECUTIONS)]
