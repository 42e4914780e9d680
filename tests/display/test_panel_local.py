"""The panel against the real local server, with a real Client that carries an API key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from julep_nb.connect import run
from julep_nb.display.panel import ExecutionPanel, bundle_for
from julep_nb.live.registry import stop_all
from julep_nb.local import start
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.models import ExecutionStatus

from .conftest import cancel_of

S = ExecutionStatus
KEY = "sk-julep-LOCAL-PANEL-0123456789abcdef"

ASK = {
    "name": "ask",
    "main": [
        {"evaluate": {"double": "$ _.x * 2"}, "label": "double"},
        {
            "wait_for_input": {
                "info": {
                    "question": "How many?",
                    "fields": [{"name": "n", "type": "integer", "required": True}],
                }
            },
            "label": "ask",
        },
        {"return": {"answer": "$ _.n + outputs[0].double"}},
    ],
}
SLOW = {"name": "slow", "main": [{"sleep": {"seconds": 30}, "label": "nap"}]}


@pytest.fixture
def keyed_server() -> Iterator[LocalServer]:
    server = start(port=0, db=":memory:", api_key=KEY)
    try:
        yield server
    finally:
        server.stop()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_wait_resume_and_result_through_the_panel(
    keyed_server: LocalServer, frontend: list[Any]
) -> None:
    async with Client(base_url=keyed_server.base_url, api_key=KEY) as client:
        agent = await client.create_agent(name="nb")
        task = await client.create_task(agent.id, ASK)
        handle = await run(task.id, {"x": 5}, client=client)
        panel = ExecutionPanel(handle, refresh_rate=50)
        try:
            await until(lambda: panel.form is not None and panel.state.seen_count == 3)
            form = panel.form
            assert form is not None and list(form.inputs) == ["n"]
            # the question, then the form, then the timeline
            assert "How many?" in panel.live.value and "double" not in panel.live.value
            assert "double" in panel.timeline_below.value
            assert panel.timeline_below.layout.display is None
            children = panel.widget.children
            assert children.index(panel.form_box) < children.index(panel.timeline_below)

            form.submit.click()  # n is required: nothing is sent, the execution waits
            await asyncio.sleep(0.2)
            assert (await client.get_execution(handle.id)).status is S.AWAITING_INPUT
            assert form.error is not None and "n is required." in form.error

            form.inputs["n"].value = "7"
            form.submit.click()
            form.submit.click()
            state = await asyncio.wait_for(handle, 10)
            await until(lambda: panel.state.is_terminal and cancel_of(panel).button.disabled)
        finally:
            stop_all()
    assert state.status is S.SUCCEEDED and state.output == {"answer": 17}
    resumes = [t for t in state.transitions if t.type.value == "resume"]
    assert len(resumes) == 1 and resumes[0].output == {"n": 7}
    assert panel.form is None and cancel_of(panel).button.disabled
    assert "succeeded" in panel.live.value and "17" in panel.live.value
    assert "double" in panel.live.value and panel.timeline_below.layout.display == "none"
    for widget in panel.widgets():
        assert KEY not in json.dumps(widget.get_state(), default=str)
    assert KEY not in json.dumps(frontend, default=str)
    assert KEY not in json.dumps(bundle_for(panel, panel.state))


async def test_cancel_from_the_panel_cancels_the_execution(keyed_server: LocalServer) -> None:
    async with Client(base_url=keyed_server.base_url, api_key=KEY) as client:
        agent = await client.create_agent(name="nb")
        task = await client.create_task(agent.id, SLOW)
        handle = await run(task.id, {}, client=client)
        panel = ExecutionPanel(handle, refresh_rate=50)
        try:
            await until(lambda: panel.state.seen_count == 1)  # init; the sleep has begun
            cancel_of(panel).button.click()
            cancel_of(panel).button.click()
            state = await asyncio.wait_for(handle, 10)
            await until(lambda: cancel_of(panel).button.description == "Cancelled")
        finally:
            stop_all()
    assert state.status is S.CANCELLED and cancel_of(panel).requests == 1
    assert "Execution cancelled" in panel.live.value
    assert cancel_of(panel).button.description == "Cancelled"
