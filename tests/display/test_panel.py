"""The live panel, in-process without a frontend: real watcher and handle, widgets, comms.

A recording comm stands in for the frontend (the seam ipykernel itself fills), so
tests see the widget messages a browser would receive.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from julep_nb.connect import watch
from julep_nb.display.panel import WIDGET_MIME, ExecutionPanel, bundle_for
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.registry import stop_all
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import TransportError
from julep_nb.sources.julep.models import ExecutionStatus
from tests.faults import FaultServer
from tests.live.servers import FakeJulep, unauthorized

from .conftest import Messages, busiest_window, cancel_of
from .factories import Structure
from .sources import MemoryJulep

S = ExecutionStatus
KEY = "sk-julep-PANEL-SECRET-0123456789"


@pytest.fixture
async def source() -> AsyncIterator[MemoryJulep]:
    yield MemoryJulep()
    stop_all()


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def live(source: MemoryJulep, **kw: Any) -> tuple[ExecutionHandle, ExecutionPanel]:
    handle = watch(source.execution_id, client=source)  # type: ignore[arg-type]
    return handle, ExecutionPanel(handle, **kw)


def text(widget: Any) -> str:
    """What a user reads in an HTML widget."""
    return Structure(widget.value).visible


def updates_of(log: Messages, widget: Any) -> list[dict[str, Any]]:
    return [data for cid, kind, data in log if cid == widget.model_id and kind == "comm_msg"]


async def test_the_panel_follows_an_execution_to_its_result(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=100)
    assert "queued" in text(panel.live) and "No transitions yet." in text(panel.live)
    source.commit("init", {"topic": "otters"})
    source.commit("step", {"facts": 3}, label="fetch")
    await until(lambda: panel.state.seen_count == 2)
    assert "running" in text(panel.live) and "Step main[2]" in text(panel.live)
    assert "fetch" in text(panel.live) and "Step durations" in text(panel.live)
    assert not cancel_of(panel).button.disabled and panel.form is None
    source.commit("finish", {"answer": 42})
    await until(lambda: panel.state.is_terminal)
    assert "succeeded" in text(panel.live) and '"answer": 42' in text(panel.live)
    await until(lambda: cancel_of(panel).button.disabled)  # one refresh period after the state


async def test_a_burst_is_coalesced_to_the_refresh_rate(
    source: MemoryJulep, frontend: Messages
) -> None:
    handle, panel = live(source, refresh_rate=5)
    shown: list[str] = []
    panel.live.observe(lambda change: shown.append(change["new"]), "value")
    before = len(frontend)
    source.commit("init")
    for i in range(300):  # ~1.5 s of transitions, 200 a second
        source.commit("step", {"i": i}, label=f"s{i % 4}")
        await asyncio.sleep(0.005)
    source.commit("finish", {"done": True})
    await until(lambda: panel.state.is_terminal)
    assert panel.state.seen_count == 302 and "succeeded" in shown[-1]
    assert "302 ● finish main[301]" in text(panel.live)
    await until(lambda: cancel_of(panel).button.disabled)
    # every widget of the panel counted: at most refresh_rate messages in any second,
    # the final state and the Cancel button disabling after it included
    sent = [i for i in range(before, len(frontend)) if frontend[i][1] == "comm_msg"]
    assert busiest_window([(frontend.times[i], 1) for i in sent]) <= 5
    assert [frontend[i][0] for i in sent].count(panel.live.model_id) == len(shown)
    rules = [frontend[i][0] for i in sent].count(panel.styles.model_id)
    assert 1 <= rules <= 4  # only when a style shows up first: a status, the output block
    assert len(sent) == len(shown) + rules + 1  # the live HTML, new rules, then the button
    # what the pacing counted: these, and the first render (its HTML and its rules)
    assert panel.messages == len(sent) + 2


async def test_an_update_while_running_is_one_widget_message(
    source: MemoryJulep, frontend: Messages
) -> None:
    handle, panel = live(source, refresh_rate=1000)
    source.commit("init")
    await until(lambda: panel.state.seen_count == 1)
    for i in range(4):
        before = len(frontend)
        source.commit("step", {"i": i})
        await until(lambda n=i + 2: panel.state.seen_count == n)
        sent = [cid for cid, kind, _ in frontend[before:] if kind == "comm_msg"]
        if i == 0:  # the first output row brings styles not seen before: their rules go first
            assert sent == [panel.styles.model_id, panel.live.model_id]
        else:
            assert sent == [panel.live.model_id]
        assert f"main[{i + 1}]" in text(panel.live)


async def test_each_update_renders_the_header_once(
    source: MemoryJulep, frontend: Messages, monkeypatch: pytest.MonkeyPatch
) -> None:
    import julep_nb.display.panel.view as view

    rendered: list[str] = []
    real = view.render_header
    monkeypatch.setattr(view, "render_header", lambda s: rendered.append(s.status.value) or real(s))
    handle, panel = live(source, refresh_rate=100, tick=10)
    source.commit("init")
    await until(lambda: panel.state.seen_count == 1)
    await asyncio.sleep(0.05)
    before = len(rendered)
    source.commit("step")  # one update: counted, then shown, from one rendering
    await until(lambda: panel.state.seen_count == 2)
    await asyncio.sleep(0.05)
    assert len(rendered) - before == 1, rendered


async def test_the_elapsed_time_moves_while_nothing_else_does(
    source: MemoryJulep, frontend: Messages
) -> None:
    handle, panel = live(source, refresh_rate=100, tick=0.1)
    source.commit("init")
    await until(lambda: panel.state.seen_count == 1)
    elapsed = re.compile(r"Elapsed (\S+ \S+)")
    shown: list[str] = []
    panel.live.observe(lambda change: shown.extend(elapsed.findall(change["new"])), "value")
    await asyncio.sleep(0.55)  # a long step: no transition, no status change
    assert panel.state.seen_count == 1 and len(set(shown)) >= 3, shown
    source.commit("finish", {"done": True})
    await until(lambda: cancel_of(panel).button.disabled)
    final, sent = text(panel.live), len(frontend)
    await asyncio.sleep(0.3)
    assert len(frontend) == sent and text(panel.live) == final  # a finished panel is still


async def test_cancel_sends_one_request_however_many_clicks(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=100)
    source.commit("init")
    await until(lambda: panel.state.status is S.STARTING)
    source.gate = asyncio.Event()
    cancel_of(panel).button.click()
    cancel_of(panel).button.click()
    assert cancel_of(panel).button.disabled and cancel_of(panel).button.description == "Cancelling…"
    await asyncio.sleep(0.02)
    cancel_of(panel).button.click()
    assert cancel_of(panel).requests == 1
    source.gate.set()
    await until(lambda: panel.state.is_terminal)
    assert source.cancels == [None] and panel.state.status is S.CANCELLED
    assert "Execution cancelled" in text(panel.live)
    await until(lambda: cancel_of(panel).button.description == "Cancelled")
    assert cancel_of(panel).button.disabled


async def test_a_failed_cancel_is_shown_and_can_be_retried(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=100)
    source.commit("init")
    await until(lambda: panel.state.status is S.STARTING)
    source.fail = TransportError("Could not reach the Julep server at http://x <b>")
    cancel_of(panel).button.click()
    assert cancel_of(panel).task is not None
    await asyncio.wait_for(cancel_of(panel).task, 2)
    assert "Cancel failed: TransportError: Could not reach" in cancel_of(panel).message.value
    assert "&lt;b&gt;" in cancel_of(panel).message.value
    assert not cancel_of(panel).button.disabled and cancel_of(panel).button.description == "Cancel"
    cancel_of(panel).button.click()
    await until(lambda: panel.state.is_terminal)
    assert source.cancels == [None, None]


async def test_a_click_from_another_thread_cancels_on_the_loop(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=100)
    source.commit("init")
    await until(lambda: panel.state.status is S.STARTING)
    thread = threading.Thread(target=lambda: [cancel_of(panel).button.click() for _ in range(3)])
    thread.start()
    thread.join(2)
    await until(lambda: panel.state.is_terminal)
    assert source.cancels == [None] and cancel_of(panel).requests == 1


QUESTION = {"question": "How many?", "fields": [{"name": "n", "type": "integer", "required": True}]}


async def test_the_resume_form_appears_only_while_waiting(
    source: MemoryJulep, frontend: Messages
) -> None:
    handle, panel = live(source, refresh_rate=100)
    source.commit("init")
    source.commit("wait", {"info": QUESTION}, label="ask")
    await until(lambda: panel.form is not None)
    form = panel.form
    assert form is not None and panel.form_box.children == (form.widget,)
    assert "Waiting for input" in text(panel.live) and "How many?" in text(panel.live)

    form.submit.click()  # invalid: n is required
    await asyncio.sleep(0.05)
    assert source.resumes == [] and handle.status is S.AWAITING_INPUT
    assert form.error is not None and "n is required." in form.error

    form.inputs["n"].value = "3"
    form.submit.click()
    form.submit.click()
    await until(lambda: handle.status is S.RUNNING)
    assert source.resumes == [{"n": 3}]
    await until(lambda: panel.form is None)
    assert panel.form_box.children == ()

    source.commit("wait", {"info": {"question": "And now?"}})
    await until(lambda: panel.form is not None)
    assert panel.form is not form and panel.form.textarea is not None
    source.commit("finish", 1)
    await until(lambda: panel.state.is_terminal)
    assert panel.form is None
    # the two forms closed every model they opened: what stays open is what the panel shows
    shown = {w.model_id for w in panel.widgets()}
    shown |= {getattr(w, p).model_id for w in panel.widgets() for p in ("layout", "style")
              if hasattr(w, p)}  # fmt: skip
    opened = {cid for cid, kind, _ in frontend if kind == "comm_open"}
    assert opened - {cid for cid, kind, _ in frontend if kind == "comm_close"} == shown


async def test_a_new_wait_with_the_same_question_gets_a_fresh_form(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=1000)
    source.commit("init")
    source.commit("wait", {"info": QUESTION})
    await until(lambda: panel.form is not None)
    first = panel.form
    assert first is not None
    first.inputs["n"].value = "1"
    first.submit.click()
    await until(lambda: first.done)
    source.commit("step")
    source.commit("wait", {"info": QUESTION})  # a loop asks again
    await until(lambda: panel.form is not None and panel.form is not first)
    assert panel.form is not None and not panel.form.done


async def test_a_finished_execution_shows_its_final_state_at_once(source: MemoryJulep) -> None:
    source.commit("init")
    source.commit("error", {"error": "boom"})
    handle = watch(source.execution_id, client=source)  # type: ignore[arg-type]
    await handle
    panel = ExecutionPanel(handle)
    assert "failed" in text(panel.live) and "Execution failed" in text(panel.live)
    assert cancel_of(panel).button.disabled
    bundle = bundle_for(panel, panel.state)
    assert bundle[WIDGET_MIME]["model_id"] == panel.widget.model_id  # type: ignore[union-attr]
    assert "boom" in bundle["text/html"] and "failed" in bundle["text/plain"]


async def test_html_only_panel_has_no_widgets_and_still_updates(source: MemoryJulep) -> None:
    handle = watch(source.execution_id, client=source)  # type: ignore[arg-type]
    panel = ExecutionPanel(handle, widgets=False, refresh_rate=1000)
    seen: list[S] = []
    panel.on_update(lambda state: seen.append(state.status))
    source.commit("init")
    source.commit("finish", 2)
    await until(lambda: panel.state.is_terminal)
    assert panel.widget is None and panel.widgets() == [] and seen[-1] is S.SUCCEEDED
    assert WIDGET_MIME not in bundle_for(panel, panel.state)


def _no_key_anywhere(panel: ExecutionPanel, log: Messages) -> None:
    widgets = panel.widgets()
    assert len(widgets) >= 7
    for widget in widgets:
        assert KEY not in json.dumps(widget.get_state(), default=str)
    assert KEY not in json.dumps(log, default=str)
    assert KEY not in json.dumps(bundle_for(panel, panel.state), default=str)
    assert KEY[-12:] not in json.dumps(log, default=str)


async def test_the_api_key_never_reaches_widget_state(frontend: Messages) -> None:
    fake = FakeJulep(6)
    fake.transitions_stream = fake.committing_transitions()
    async with FaultServer(fake.handler) as server:
        async with Client(base_url=server.base_url, api_key=KEY) as client:
            handle = watch(fake.execution_id, client=client)
            panel = ExecutionPanel(handle, refresh_rate=1000)
            await asyncio.wait_for(handle, 5)
            await until(lambda: panel.state.is_terminal)
    assert server.requests and all(
        r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests
    )
    _no_key_anywhere(panel, frontend)


async def test_a_rejected_key_is_shown_without_the_key(frontend: Messages) -> None:
    async with FaultServer(unauthorized()) as server:
        async with Client(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            handle = watch("exec-x", client=client)
            panel = ExecutionPanel(handle, refresh_rate=1000)
            await until(lambda: "Stopped watching" in panel.message.value)
    assert "AuthError" in panel.message.value
    _no_key_anywhere(panel, frontend)
