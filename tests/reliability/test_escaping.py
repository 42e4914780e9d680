"""Markup from server data is escaped in every rendering path; huge outputs are cut.

Task names, step labels, outputs, waiting info and error messages carry HTML and
script. Every path that renders them (html.py, the panel's widgets and bundle, the
handle's reprs, the magics' results and tables) must show them as text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from julep_nb.connect import run, watch
from julep_nb.display import html
from julep_nb.display.panel import ExecutionPanel, bundle_for
from julep_nb.live.registry import stop_all
from julep_nb.live.state import ExecutionState
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from tests.faults import FaultServer, json_reply, routes, transition_dicts
from tests.magics.conftest import Shell

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"
EVIL_ID = "e<b>" + "0" * 8


def assert_escaped(markup: str, where: str, *, shown: bool = True) -> None:
    """No live tag from EVIL, and (when ``shown``) its escaped text is there."""
    assert "<script" not in markup.lower(), where
    assert "<img" not in markup.lower(), where
    if shown:
        assert "&lt;script&gt;" in markup, where


def _tasks() -> dict[str, dict[str, Any]]:
    return {
        "ok": {
            "name": EVIL,
            "main": [
                {"evaluate": {"said": EVIL}, "label": EVIL},
                {"return": {"said": "$ _.said"}, "label": EVIL + "2"},
            ],
        },
        "failing": {"name": EVIL, "main": [{"error": EVIL, "label": EVIL}]},
        "waiting": {
            "name": EVIL,
            "main": [{"wait_for_input": {"info": {"question": EVIL}}, "label": EVIL}],
        },
    }


def _renderings(state: ExecutionState) -> dict[str, str]:
    return {
        "execution": html.render_execution(state),
        "header": html.render_header(state),
        "result": html.render_result(state),
        "timeline": html.render_timeline(state),
        "gantt": html.render_gantt(state),
        "transitions": html.render_transitions(list(state.transitions)),
    }


async def _until(predicate: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_markup_in_names_labels_outputs_and_errors_is_escaped_everywhere(
    local_server: LocalServer,
) -> None:
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name=EVIL)
        seen: list[tuple[str, str]] = []
        try:
            for kind, spec in _tasks().items():
                task = await client.create_task(agent.id, spec)
                seen.append((f"{kind} task", html.render_task(task)))
                handle = await run(task.id, {}, client=client)
                panel = ExecutionPanel(handle, refresh_rate=100)
                want = "awaiting_input" if kind == "waiting" else None
                await _until(lambda h=handle, w=want: h.state.is_terminal or h.status.value == w)
                await _until(lambda p=panel, h=handle: p.state.status == h.state.status)
                executions = await client.list_executions(task.id)
                seen.append((f"{kind} list", html.render_executions(executions)))
                for name, markup in _renderings(handle.state).items():
                    if name != "gantt":  # the Gantt chart has labels only when steps ran
                        seen.append((f"{kind} {name}", markup))
                seen.append((f"{kind} handle", handle._repr_mimebundle_()["text/html"]))
                seen.append((f"{kind} bundle", bundle_for(panel, panel.state)["text/html"]))
                for widget in panel.widgets():
                    value = getattr(widget, "value", None)
                    if isinstance(value, str) and "script" in value:
                        seen.append((f"{kind} widget {type(widget).__name__}", value))
                if kind == "failing":
                    assert EVIL in (handle.error or "")  # the text is kept, only shown escaped
        finally:
            stop_all()
    for where, markup in seen:
        # Headers and execution tables show ids, statuses and times, not server text.
        assert_escaped(markup, where, shown=where.split()[1] not in ("header", "list"))
    assert {w.split()[0] for w, _ in seen if "widget" in w} == {"ok", "failing", "waiting"}


def test_magics_results_and_tables_escape_markup(julep: Shell) -> None:
    julep.run("%%julep_task -o t\n" + json.dumps(_tasks()["ok"]))
    handle = julep.run("%%julep_exec t.id --wait\n{}\n".replace("t.id", julep.ns["t"].id))
    results = {
        "task": julep.ns["t"],
        "status": julep.run(f"%julep_exec status {handle.id}"),
        "list": julep.run(f"%julep_exec list {julep.ns['t'].id}"),
        "transitions": julep.run(f"%julep_exec transitions {handle.id}"),
        "handle": handle,
    }
    for name, value in results.items():
        formatter = julep.ip.display_formatter
        assert formatter is not None
        data, _ = formatter.format(value)
        markup = data.get("text/html")
        if markup is None:  # a handle displays through its own mimebundle
            markup = value._repr_mimebundle_()["text/html"]
        assert_escaped(markup, name, shown=name != "list")


TEN_MB = "x" * 10_000_000


async def test_a_10_mb_output_is_cut_in_the_panel_and_whole_from_python() -> None:
    transitions = transition_dicts(2)
    transitions[-1]["output"] = {"big": TEN_MB}
    execution = {
        "id": transitions[0]["execution_id"],
        "task_id": "00000000-0000-4000-8000-0000000000ab",
        "status": "succeeded",
        "input": {},
        "output": {"big": TEN_MB},
        "transition_count": 2,
        "created_at": transitions[0]["created_at"],
        "updated_at": transitions[-1]["created_at"],
    }
    path = f"/executions/{execution['id']}"
    table = {
        ("GET", path): json_reply(200, execution),
        ("GET", f"{path}/transitions"): json_reply(200, {"items": transitions}),
    }
    async with FaultServer(routes(table)) as server:
        async with Client(base_url=server.base_url) as client:
            handle = watch(execution["id"], client=client)
            state = await asyncio.wait_for(handle, 20)
            panel = ExecutionPanel(handle)
    assert state.output == {"big": TEN_MB}  # the full value, from Python
    shown = [panel.live.value, bundle_for(panel, state)["text/html"]]
    for markup in shown:
        assert len(markup) < 200_000, len(markup)
    assert "Output truncated" in panel.live.value and "handle.output" in panel.live.value
    assert len(handle._repr_mimebundle_()["text/html"]) < 200_000
    assert len(repr(handle)) < 10_000 and len(html.render_text(state)) < 10_000


@pytest.fixture(autouse=True)
def _no_leftover_watchers() -> Any:
    yield
    stop_all()
