"""show(): one bundle with a display_id in a real kernel, final static HTML, fallbacks.

The kernel tests start a real ipykernel (jupyter_client) and read its iopub messages,
which is what a notebook frontend receives and what a saved notebook keeps.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from julep_nb.display.panel import WIDGET_MIME, show

ROOT = Path(__file__).resolve().parents[2]
SETUP = """
import asyncio
from tests.display.sources import MemoryJulep
from julep_nb.connect import watch
from julep_nb.display.panel import show
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT), startup_timeout=60)
    try:
        run(client, SETUP)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client: Any, code: str) -> list[dict[str, Any]]:
    """Execute ``code``; the iopub messages up to the kernel going idle again."""
    msg_id = client.execute(textwrap.dedent(code))
    messages = []
    while True:
        msg = client.get_iopub_msg(timeout=20)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages


def collect(client: Any, until: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """iopub messages that arrive while the kernel is idle, until ``until(msg)``."""
    deadline = time.monotonic() + timeout
    messages = []
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.01))
        except Exception:  # queue.Empty
            break
        messages.append(msg)
        if until(msg):
            return messages
    raise AssertionError(f"timed out; got {[m['msg_type'] for m in messages]}")


def displays(messages: list[dict[str, Any]], kind: str, display_id: str) -> list[dict[str, Any]]:
    return [
        m["content"]["data"]
        for m in messages
        if m["msg_type"] == kind and m["content"]["transient"].get("display_id") == display_id
    ]


def test_the_widget_panel_is_one_bundle_and_ends_with_static_html(kernel: Any) -> None:
    shown = run(
        kernel,
        """
        from julep_nb.sources.julep.client import Client
        from julep_nb.connect import run
        from julep_nb.local import start

        server = start(port=0, db=":memory:")
        client = Client(base_url=server.base_url)
        agent = await client.create_agent(name="nb")
        task = await client.create_task(agent.id, {"name": "nap", "main": [
            {"evaluate": {"facts": 3}, "label": "fetch"},
            {"sleep": {"seconds": 0.5}, "label": "nap"},
            {"return": {"answer": 42}},
        ]})
        h = await run(task.id, {}, client=client)
        panel = show(h, refresh_rate=20, display_id="jnb-widget")
        """,
    )
    [bundle] = displays(shown, "display_data", "jnb-widget")
    assert set(bundle) == {WIDGET_MIME, "text/html", "text/plain"}
    assert bundle[WIDGET_MIME]["model_id"] and "Julep execution" in bundle["text/html"]

    # The cell has returned: the panel finishes while the kernel is idle.
    later = collect(kernel, lambda m: m["msg_type"] == "update_display_data")
    [final] = displays(later, "update_display_data", "jnb-widget")
    assert final[WIDGET_MIME]["model_id"] == bundle[WIDGET_MIME]["model_id"]
    assert "succeeded" in final["text/html"] and "fetch" in final["text/html"]
    assert '"answer": 42' in final["text/html"] and "succeeded" in final["text/plain"]
    assert [m for m in later if m["msg_type"] == "comm_msg"], "widgets updated while idle"
    states = run(kernel, "print(panel.state.status.value); server.stop()")
    printed = "".join(m["content"].get("text", "") for m in states if m["msg_type"] == "stream")
    assert printed.split() == ["succeeded"]


def test_the_html_panel_is_re_rendered_without_widgets(kernel: Any) -> None:
    shown = run(
        kernel,
        """
        src2 = MemoryJulep("exec-2")
        h2 = watch(src2.execution_id, client=src2)
        show(h2, mode="html", refresh_rate=50, display_id="jnb-html")
        src2.commit("init")
        asyncio.get_running_loop().call_later(0.2, src2.commit, "finish", "done")
        """,
    )
    [bundle] = displays(shown, "display_data", "jnb-html")
    assert set(bundle) == {"text/html", "text/plain"}
    later = collect(
        kernel,
        lambda m: (
            m["msg_type"] == "update_display_data"
            and "succeeded" in m["content"]["data"]["text/plain"]
        ),
    )
    updates = displays(later, "update_display_data", "jnb-html")
    assert updates and all(WIDGET_MIME not in u for u in updates)
    assert "succeeded" in updates[-1]["text/html"]


def test_mode_none_shows_nothing_and_a_bad_mode_is_refused() -> None:
    class Handle:  # show() validates its mode before touching the handle
        id = "exec-1"

    assert show(Handle(), mode="none") is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="auto, widget, html, none; got 'fancy'"):
        show(Handle(), mode="fancy")  # type: ignore[arg-type]


def test_outside_ipython_show_prints_a_text_summary_once() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from tests.display.sources import MemoryJulep
        from julep_nb.connect import watch
        from julep_nb.display.panel import show

        async def main():
            src = MemoryJulep()
            src.commit("init")
            src.commit("finish", {"answer": 42})
            handle = watch(src.execution_id, client=src)
            await handle
            print("returned", type(show(handle)).__name__)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Julep execution exec-1 · task task-1 · succeeded")
    assert lines[1] == '  output: {"answer":42}' and lines[2] == "returned TextPanel"
    assert len(lines) == 3  # printed once


def test_outside_ipython_show_prints_the_start_then_the_final_state_once() -> None:
    """A script: a line when shown, and the final state when an ``await`` sees the end."""
    script = textwrap.dedent(
        """
        import asyncio
        from tests.display.sources import MemoryJulep
        from julep_nb.connect import watch
        from julep_nb.display.panel import show

        async def main():
            src = MemoryJulep()
            src.commit("init")
            handle = watch(src.execution_id, client=src)
            await asyncio.sleep(0.3)
            show(handle)
            print("shown")
            src.commit("step", {"x": 1})
            src.commit("finish", {"answer": 42})
            await handle
            print("awaited")

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Julep execution exec-1 · task task-1 · starting"), lines
    assert lines[1] == "shown"
    assert lines[2].startswith("Julep execution exec-1 · task task-1 · succeeded"), lines
    assert lines[3:] == ['  output: {"answer":42}', "awaited"]
