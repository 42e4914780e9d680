"""ThandSource against a Thand-compatible server (tests/sources/thand/server.py) on Temporal."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

import asyncio

import pytest

import julep_nb
from julep_nb.live.errors import (
    ActionRefused,
    SourceNotFound,
    SourceUnauthorized,
    SourceUnreachable,
)
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.source import ListableSource
from julep_nb.sources.temporal.devserver import free_port
from julep_nb.sources.thand import ThandSource
from tests.sources.thand.conftest import TOKEN

S = ExecutionStatus
pytestmark = pytest.mark.usefixtures("worker")


async def eventually(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("auth", ["bearer", "api-key"])
async def test_approval_by_signal_is_polled_to_the_end(thand, auth) -> None:
    async with ThandSource(thand.base_url, token=TOKEN, auth=auth) as source:
        handle = await source.start("request-access", {"role": "admin"})
        await eventually(lambda: handle.status is S.AWAITING_INPUT)
        assert handle.watcher.strategy == "polling"
        await handle.signal("approve", {"by": "ana"})
        state = await asyncio.wait_for(handle, 30)
    assert state.status is S.SUCCEEDED
    assert [row.label for row in state.timeline()][-3:] == ["validate", "approve", "grant"]
    if state.output is not None:  # the reference shape has no output
        assert state.output == {"role": "admin", "approved": True, "by": "ana"}


async def test_cancel_terminate_and_list(thand) -> None:
    async with ThandSource(thand.base_url, token=TOKEN) as source:
        assert source.capabilities == {Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL}
        first = await source.start("request-access", {"role": "a"})
        second = await source.start("request-access", {"role": "b"})
        await eventually(lambda: first.status is S.AWAITING_INPUT)
        await eventually(lambda: second.status is S.AWAITING_INPUT)
        await first.cancel()
        await second.terminate()
        done = await asyncio.wait_for(asyncio.gather(first, second), 30)
        listed = await source.list()
    assert [s.status for s in done] == [S.CANCELLED, S.TERMINATED]
    by_id = {s.id: s for s in listed}
    assert by_id[first.id].status is S.CANCELLED and by_id[second.id].status is S.TERMINATED
    assert "<table" in listed._repr_html_()
    assert isinstance(source, ListableSource) and not source.filterable
    with pytest.raises(ActionRefused, match="cannot filter.*'status = 1'"):
        await source.list("status = 1")  # Thand takes no query: said, not ignored


async def test_errors_map_and_hide_the_token(thand) -> None:
    async with ThandSource(thand.base_url, token="wrong-token") as source:
        with pytest.raises(SourceUnauthorized) as refused:
            await source.list()
        assert "wrong-token" not in str(refused.value) and "wrong-token" not in repr(source)
    async with ThandSource(thand.base_url, token=TOKEN) as source:
        with pytest.raises(SourceNotFound):
            await asyncio.wait_for(julep_nb.watch("no-such-execution", source=source), 10)
    async with ThandSource(f"http://127.0.0.1:{free_port()}/api/v1", token=TOKEN) as source:
        with pytest.raises(SourceUnreachable, match="127.0.0.1"):
            await source.list()
