"""A Temporal panel against a real dev server: its controls are built when first opened."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

import asyncio
from typing import Any

from julep_nb.display.panel import ExecutionPanel
from julep_nb.display.panel.controls import TerminateControl
from julep_nb.display.panel.forms import QueryControl, SignalControl
from julep_nb.live.events import Capability, ExecutionStatus
from tests.display.factories import Structure
from tests.sources.temporal import workflows
from tests.sources.temporal.conftest import new_id

S = ExecutionStatus
pytestmark = pytest.mark.usefixtures("worker")


def drawer(panel: ExecutionPanel) -> tuple[Any, ...]:
    """The bodies of the controls built so far, in the drawer below the header."""
    assert panel.view is not None and panel.view.drawer is not None
    return tuple(panel.view.drawer.box.children)


def text(widget: Any) -> str:
    """What a user reads in an HTML widget."""
    return Structure(widget.value).visible


async def eventually(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_signal_and_query_forms_are_built_when_opened_and_work(
    source: Any, task_queue: str
) -> None:
    handle = await source.start_workflow(
        workflows.Approval.run, "deploy", id=new_id("panel"), task_queue=task_queue
    )
    panel = ExecutionPanel(handle, refresh_rate=50)
    try:
        await eventually(lambda: panel.state.signals == ("approve", "reject"))
        assert set(panel.controls) == set(Capability) - {Capability.RESUME}
        assert drawer(panel) == () and not any(c.built for c in panel.controls.values())
        query, signal = panel.control("query"), panel.control("signal")
        assert isinstance(query, QueryControl) and isinstance(signal, SignalControl)

        query.button.click()
        assert query.opened and drawer(panel) == (query.body,)
        assert [label for label, _ in query.name.options][1:] == ["status"]
        query.name.value = "status"
        query.send_button.click()
        await eventually(lambda: query.answer.value != "")
        assert '"waiting"' in text(query.answer)

        signal.button.click()
        assert signal.opened and drawer(panel) == (signal.body, query.body)
        assert [label for label, _ in signal.name.options][1:] == ["approve", "reject"]
        signal.name.value = "approve"
        signal.payload.value = "by: panel"
        signal.send_button.click()
        state = await asyncio.wait_for(handle, 30)
        assert state.status is S.SUCCEEDED
        assert state.output == {"request": "deploy", "approved": True, "by": "panel"}
        await eventually(lambda: all(c.settled for c in panel.controls.values()))
        assert signal.send_button.disabled and query.send_button.disabled
        assert "Sent signal approve." in text(signal.message)
        assert not panel.control("terminate").built and not panel.control("cancel").built
    finally:
        panel.close()


async def test_terminate_asks_then_stops_the_workflow(source: Any, task_queue: str) -> None:
    handle = await source.start_workflow(
        workflows.Sleeper.run, 30, id=new_id("panel-terminate"), task_queue=task_queue
    )
    panel = ExecutionPanel(handle, refresh_rate=50)
    try:
        await eventually(lambda: bool(panel.state.running))
        terminate = panel.control("terminate")
        assert isinstance(terminate, TerminateControl) and not terminate.built
        terminate.button.click()
        assert terminate.asking and drawer(panel) == (terminate.body,)
        terminate.reason.value = "enough <b>today</b>"
        terminate.confirm_button.click()
        state = await asyncio.wait_for(handle, 30)
        assert state.status is S.TERMINATED and state.error == "enough <b>today</b>"
        await eventually(lambda: terminate.button.description == "Terminated")
        assert not terminate.asking and terminate.requests == 1
        assert "Reason: enough <b>today</b>" in text(panel.live)
    finally:
        panel.close()
