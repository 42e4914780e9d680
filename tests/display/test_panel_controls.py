"""The panel's controls follow the source's capabilities: a non-Julep source, a real panel.

:class:`~tests.display.workflows.Workflows` is an in-memory workflow service that
offers cancel, terminate, signal and query (not resume); MemoryJulep is Julep
(cancel and resume). Real ipywidgets, real watcher and handle; a recording comm
stands in for the frontend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from julep_nb.connect import watch
from julep_nb.display.html import render_text
from julep_nb.display.panel import ExecutionPanel
from julep_nb.display.panel.controls import TerminateControl
from julep_nb.display.panel.forms import QueryControl, SignalControl
from julep_nb.live.errors import ActionRefused, ActionUnsupported
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.registry import stop_all

from .conftest import Messages, busiest_window, cancel_of
from .factories import Structure
from .sources import MemoryJulep
from .workflows import Workflows

S = ExecutionStatus
C = Capability


@pytest.fixture
async def flows() -> AsyncIterator[Workflows]:
    source = Workflows(answers={"progress": lambda *args: {"args": list(args), "html": "<b>"}})
    source.begin()
    yield source
    stop_all()


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def live(source: Workflows, **kw: Any) -> tuple[ExecutionHandle, ExecutionPanel]:
    handle = watch(source.execution_id, source=source)
    panel = ExecutionPanel(handle, **{"refresh_rate": 100, **kw})
    await until(lambda: panel.state.signals == ("approve", "reject") or source.accepts is None)
    await until(lambda: panel.state.seen_count >= 1)
    return handle, panel


def text(widget: Any) -> str:
    """What a user reads in an HTML widget."""
    return Structure(widget.value).visible


def buttons(panel: ExecutionPanel) -> list[str]:
    """The buttons beside the header, as a user reads them."""
    top = panel.widget.children[0]  # type: ignore[union-attr]
    column = top.children[1] if len(top.children) > 1 else None
    return [b.description for b in column.children] if column is not None else []


def drawer(panel: ExecutionPanel) -> tuple[Any, ...]:
    """What the drawer below the header holds: the bodies of the controls built so far."""
    assert panel.view is not None and panel.view.drawer is not None
    return tuple(panel.view.drawer.box.children)


def models_of(panel: ExecutionPanel) -> set[str]:
    """The widget models the panel shows: its widgets, with their layouts and styles."""
    found: set[str] = set()
    for widget in panel.widgets():
        found.add(widget.model_id)
        found |= {getattr(widget, p).model_id for p in ("layout", "style") if hasattr(widget, p)}
    return found


def opened(frontend: Messages) -> set[str]:
    """Every widget model the frontend was sent (one comm each)."""
    return {comm_id for comm_id, kind, _ in frontend if kind == "comm_open"}


def terminate_of(panel: ExecutionPanel) -> TerminateControl:
    control = panel.control(C.TERMINATE)
    assert isinstance(control, TerminateControl)
    return control


def signal_of(panel: ExecutionPanel) -> SignalControl:
    control = panel.control("signal")
    assert isinstance(control, SignalControl)
    return control


def query_of(panel: ExecutionPanel) -> QueryControl:
    control = panel.control("query")
    assert isinstance(control, QueryControl)
    return control


async def test_a_workflow_source_gets_its_controls_and_no_resume_form(flows: Workflows) -> None:
    handle, panel = await live(flows)
    assert buttons(panel) == ["Cancel", "Terminate", "Signal", "Query"]
    assert set(panel.controls) == {C.CANCEL, C.TERMINATE, C.SIGNAL, C.QUERY}
    assert panel.form is None and panel.form_box.children == ()
    shown = text(panel.live)
    assert "InMemory execution wf-1 running" in shown and "Type approval" in shown
    assert "validate" in shown and "charge attempt 2 running" in shown  # in progress
    with pytest.raises(KeyError, match="no resume control; it has: cancel, query"):
        panel.control(C.RESUME)


async def test_an_unopened_panel_holds_only_what_it_shows(
    flows: Workflows, frontend: Messages
) -> None:
    handle, panel = await live(flows)
    # the live HTML, the buttons and empty boxes: no confirmation, form or error line
    assert opened(frontend) == models_of(panel)
    assert {type(w).__name__ for w in panel.widgets()} == {"VBox", "HBox", "HTML", "Button"}
    assert drawer(panel) == () and len(opened(frontend)) <= 34  # 99 with every body built
    messages, before = panel.messages, len(frontend)
    await handle.cancel(reason="enough")
    await until(lambda: all(c.settled for c in panel.controls.values()))
    await asyncio.sleep(0.2)
    sent = [comm_id for comm_id, kind, _ in frontend[before:] if kind == "comm_msg"]
    # the end and the buttons at rest: what the pacing counted is what went out
    assert panel.messages - messages == len(sent) and set(sent) <= models_of(panel)
    assert opened(frontend) == models_of(panel) and drawer(panel) == ()
    assert all(c.button is not None and c.button.disabled for c in panel.controls.values())
    signal = signal_of(panel)
    signal.toggle()  # a form first opened after the end is at rest too
    assert drawer(panel) == (signal.body,) and signal.opened and signal.send_button.disabled


async def test_opening_a_control_builds_its_body_in_the_buttons_order(flows: Workflows) -> None:
    handle, panel = await live(flows)
    query, terminate, signal = query_of(panel), terminate_of(panel), signal_of(panel)
    query.button.click()
    assert query.opened and drawer(panel) == (query.body,)
    assert {"query name", "arguments: YAML/JSON list, e.g. [1, x]"} <= {
        getattr(w, "placeholder", None) for w in panel.widgets()
    }
    terminate.button.click()
    assert terminate.asking and drawer(panel) == (terminate.body, query.body)
    signal.button.click()
    assert drawer(panel) == (terminate.body, signal.body, query.body)
    assert [label for label, _ in signal.name.options][1:] == ["approve", "reject"]
    signal.button.click()
    query.button.click()
    terminate.button.click()
    assert not (signal.opened or query.opened or terminate.asking)
    assert len(drawer(panel)) == 3  # closed, not thrown away
    assert not cancel_of(panel).built


async def test_an_error_on_a_control_never_opened_is_shown(flows: Workflows) -> None:
    handle, panel = await live(flows)
    cancel, terminate, signal = cancel_of(panel), terminate_of(panel), signal_of(panel)
    flows.fail = ActionRefused("workflow wf-1 is <i>closing</i>")
    cancel.button.click()
    assert cancel.task is not None
    await asyncio.wait_for(cancel.task, 2)
    assert drawer(panel) == (cancel.message,)
    assert "Cancel failed: ActionRefused: workflow wf-1 is <i>closing</i>" in text(cancel.message)
    signal.start()  # code sends before anyone opened the form: the form opens with why not
    assert signal.opened and flows.signals == []
    assert "Name the signal to send; nothing was sent." in text(signal.message)
    flows.fail = ActionRefused("workflow wf-1 is <b>busy</b>")
    terminate.start()
    assert terminate.task is not None
    await asyncio.wait_for(terminate.task, 2)
    assert drawer(panel) == (cancel.message, terminate.body, signal.body)
    assert "Terminate failed: ActionRefused" in text(terminate.message)
    assert terminate.asking  # one click to retry
    assert flows.terminations == [None] and not panel.state.is_terminal


async def test_terminate_asks_first_then_sends_once_with_the_reason(flows: Workflows) -> None:
    handle, panel = await live(flows)
    terminate = terminate_of(panel)
    terminate.button.click()
    assert terminate.asking and flows.terminations == []  # a confirmation, nothing sent
    terminate.button.click()
    assert not terminate.asking  # clicked again: closed
    terminate.button.click()
    terminate.reason.value = "stuck <b>card</b>"
    terminate.confirm_button.click()
    terminate.confirm_button.click()
    assert terminate.button.description == "Terminating…" and terminate.button.disabled
    await until(lambda: panel.state.is_terminal)
    assert flows.terminations == ["stuck <b>card</b>"] and terminate.requests == 1
    shown = text(panel.live)
    assert "wf-1 terminated" in shown and "Execution terminated" in shown
    assert "Reason: stuck <b>card</b>" in shown and "&lt;b&gt;card" in panel.live.value
    assert "reason: stuck <b>card</b>" in render_text(panel.state)
    assert "charge" not in shown  # what was running stopped with the execution
    # a moment later (paced, one control per step) every control is at rest
    await until(lambda: all(c.settled for c in panel.controls.values()))
    assert terminate.button.description == "Terminated"
    for control in panel.controls.values():
        assert control.button is not None and control.button.disabled
    assert cancel_of(panel).button.description == "Cancel"
    assert signal_of(panel).send_button.disabled and query_of(panel).send_button.disabled


async def test_a_refused_terminate_is_shown_next_to_it_and_can_be_retried(
    flows: Workflows,
) -> None:
    handle, panel = await live(flows)
    terminate = terminate_of(panel)
    flows.fail = ActionRefused("workflow wf-1 is <i>closing</i>")
    terminate.ask()
    terminate.confirm_button.click()
    assert terminate.task is not None
    await asyncio.wait_for(terminate.task, 2)
    assert "Terminate failed: ActionRefused: workflow wf-1 is <i>closing</i>" in text(
        terminate.message
    )
    assert "&lt;i&gt;" in terminate.message.value and "<i>" not in terminate.message.value
    assert terminate.asking and not terminate.button.disabled  # one click to retry
    assert not panel.state.is_terminal
    terminate.confirm_button.click()
    await until(lambda: panel.state.status is S.TERMINATED)
    assert flows.terminations == [None, None]


async def test_a_confirmation_from_another_thread_terminates_on_the_loop(
    flows: Workflows,
) -> None:
    handle, panel = await live(flows)
    terminate = terminate_of(panel)
    terminate.ask()
    thread = threading.Thread(target=lambda: [terminate.confirm_button.click() for _ in range(3)])
    thread.start()
    thread.join(2)
    await until(lambda: panel.state.is_terminal)
    assert flows.terminations == [None] and terminate.requests == 1


async def test_the_signal_form_sends_yaml_and_refuses_what_it_cannot_read(
    flows: Workflows,
) -> None:
    handle, panel = await live(flows)
    signal = signal_of(panel)
    assert not signal.opened
    signal.button.click()
    assert signal.opened
    # the names the source reports, nothing chosen for the user
    assert [label for label, _ in signal.name.options][1:] == ["approve", "reject"]
    assert signal.name.value == ""

    signal.payload.value = "note: ok"
    signal.send_button.click()
    assert "Name the signal to send; nothing was sent." in text(signal.message)

    signal.name.value = "approve"
    signal.payload.value = "note: [ok"
    signal.send_button.click()
    await asyncio.sleep(0.05)
    assert flows.signals == [] and "Invalid YAML at line" in text(signal.message)

    signal.payload.value = "note: ok"
    signal.send_button.click()
    await until(lambda: any(e.kind == "signal" for e in panel.state.entries))
    assert flows.signals == [("approve", {"note": "ok"})] and signal.requests == 1
    assert "Sent signal approve." in text(signal.message)
    assert "signal approve" in text(panel.live)
    assert not signal.send_button.disabled  # another signal may follow


async def test_a_refused_signal_is_shown_and_free_text_names_when_none_are_known() -> None:
    flows = Workflows("wf-2", signals=None)
    flows.begin()
    try:
        handle, panel = await live(flows)
        signal = signal_of(panel)
        assert signal.name.placeholder == "signal name"  # free text: the source names none
        signal.name.value = "approve"
        signal.payload.value = '{"n": 1}'
        signal.send_button.click()
        await until(lambda: signal.requests == 1 and not signal.busy)
        assert flows.signals == [("approve", {"n": 1})]
        flows.fail = ActionRefused("workflow wf-2 is <b>busy</b>")
        signal.send_button.click()
        await until(lambda: signal.error is not None)
        assert "Signal failed: ActionRefused: workflow wf-2 is <b>busy</b>" in signal.error
        assert "&lt;b&gt;" in signal.message.value and not signal.send_button.disabled
    finally:
        stop_all()


async def test_query_shows_the_answer_escaped(flows: Workflows) -> None:
    handle, panel = await live(flows)
    query = query_of(panel)
    query.toggle()
    query.name.value = "progress"
    query.arguments.value = "[2, x]"
    query.send_button.click()
    await until(lambda: query.answer.value != "")
    assert flows.queries == [("progress", (2, "x"))]
    assert '"html": "<b>"' in text(query.answer) and "progress answered" in text(query.answer)
    assert "&lt;b&gt;" in query.answer.value and "<b>" not in query.answer.value

    query.name.value = "<unknown>"
    query.arguments.value = ""
    query.send_button.click()
    await until(lambda: query.error is not None)
    assert flows.queries[-1] == ("<unknown>", ())
    assert "Query failed: ActionRefused" in (query.error or "")
    assert "&lt;unknown&gt;" in query.message.value
    assert panel.state.status is S.RUNNING  # a query changes nothing


async def test_the_query_form_offers_the_names_the_source_reports() -> None:
    answers = {"progress": lambda: 0.5, "owner": lambda: "ada"}
    flows = Workflows("wf-q", answers=answers, queries=("progress", "owner"))
    flows.begin()
    try:
        handle, panel = await live(flows)
        await until(lambda: panel.state.queries == ("progress", "owner"))
        query = query_of(panel)
        query.toggle()
        assert [label for label, _ in query.name.options][1:] == ["progress", "owner"]
        query.send_button.click()  # nothing chosen for the user
        assert "Name the query to ask; nothing was sent." in text(query.message)
        query.name.value = "owner"
        query.send_button.click()
        await until(lambda: query.answer.value != "")
        assert flows.queries == [("owner", ())] and '"ada"' in text(query.answer)
        # Other names (a new run): a new field, keeping the choice while it is offered.
        flows.declares = ("owner", "eta")
        flows.emit(flows.report(S.RUNNING))
        await until(lambda: [v for _, v in query.name.options][1:] == ["owner", "eta"])
        assert query.name.value == "owner" and query.row.children[0] is query.name
    finally:
        stop_all()


async def test_the_controls_settle_within_the_message_budget(
    flows: Workflows, frontend: Messages
) -> None:
    handle, panel = await live(flows, refresh_rate=5)
    signal_of(panel).toggle()  # an open form, settled too
    before = len(frontend)
    for i in range(100):
        flows.emit(flows.report(S.RUNNING, entry_count=i + 2))
        await asyncio.sleep(0.005)
    await cancel_of(panel).handle.cancel(reason="enough")
    await until(lambda: panel.state.is_terminal)
    await until(lambda: cancel_of(panel).button.description == "Cancelled", timeout=5)
    await asyncio.sleep(0.3)
    sent = [i for i in range(before, len(frontend)) if frontend[i][1] == "comm_msg"]
    assert busiest_window([(frontend.times[i], 1) for i in sent]) <= 5
    assert "Reason: enough" in text(panel.live)


async def test_a_julep_panel_shows_cancel_and_the_resume_form_only() -> None:
    source = MemoryJulep()
    try:
        handle = watch(source.execution_id, client=source)  # type: ignore[arg-type]
        panel = ExecutionPanel(handle, refresh_rate=100)
        assert buttons(panel) == ["Cancel"]
        assert set(panel.controls) == {C.CANCEL, C.RESUME}
        source.commit("init")
        source.commit("wait", {"info": {"question": "Which otter?"}})
        await until(lambda: panel.form is not None)
        assert panel.form_box.children == (panel.form.widget,)  # type: ignore[union-attr]
        labels = {getattr(w, "description", "") for w in panel.widgets()}
        assert not labels & {"Terminate", "Signal", "Query"}
    finally:
        stop_all()


async def test_an_action_the_source_lacks_is_unsupported_naming_the_source(
    flows: Workflows,
) -> None:
    julep = watch("exec-1", client=MemoryJulep())  # type: ignore[arg-type]
    with pytest.raises(ActionUnsupported, match=r"Julep executions cannot terminate"):
        await julep.terminate(reason="enough")
    handle = watch(flows.execution_id, source=flows)
    with pytest.raises(ActionUnsupported, match=r"InMemory executions cannot resume"):
        await handle.resume({"answer": 42})
    with pytest.raises(ActionUnsupported, match=r"InMemory offers cancel, query, signal"):
        await flows.resume(flows.execution_id, {"answer": 42})


async def test_an_html_only_panel_of_a_workflow_has_no_controls_and_ends(flows: Workflows) -> None:
    handle = watch(flows.execution_id, source=flows)
    panel = ExecutionPanel(handle, widgets=False, refresh_rate=1000)
    await handle.terminate(reason="enough")
    await until(lambda: panel.state.is_terminal)
    assert panel.controls == {} and panel.widgets() == []
    assert "reason: enough" in render_text(panel.state)


def closed(frontend: Messages) -> set[str]:
    return {comm_id for comm_id, kind, _ in frontend if kind == "comm_close"}


async def test_a_replaced_name_field_closes_every_model_it_opened(
    flows: Workflows, frontend: Messages
) -> None:
    handle, panel = await live(flows)
    signal = signal_of(panel)
    signal.button.click()
    for names in (("approve", "reject", "escalate"), (), ("approve",)):
        old = signal.name
        signal.sync(dataclasses.replace(panel.state, signals=names))
        assert signal.name is not old and old.comm is None
    # every model still open is one the panel shows: nothing left behind by the old fields
    assert opened(frontend) - closed(frontend) == models_of(panel)
    assert [label for label, _ in signal.name.options][1:] == ["approve"]
