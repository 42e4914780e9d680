"""The magics in a real ipykernel: the panel updates while the kernel is idle."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.magics.conftest import TASK_WAITER

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient

    from julep_nb.local.server import LocalServer

KEY = "sk-julep-KERNELKEY-0a1b2c3d4e5f"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

TASK_PAUSE = """\
name: pause
main:
  - sleep:
      seconds: 0.5
  - evaluate:
      done: $ True
"""

TASK_ECHO = """\
input_schema:
  type: object
  properties:
    word: {type: string, default: default}
main:
  - evaluate:
      said: $ steps[0].input.get("word", "default")
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernelClient]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


class Cell:
    """What one execute_request produced: its reply and its iopub messages."""

    def __init__(self, reply: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        self.reply = reply
        self.messages = messages

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    def text(self) -> str:
        """Printed text and text/plain results, joined."""
        parts = [m["content"]["text"] for m in self.of_type("stream")]
        parts += [
            m["content"]["data"].get("text/plain", "") for m in self.of_type("execute_result")
        ]
        return "".join(parts)


def execute(client: BlockingKernelClient, code: str, timeout: float = 30) -> Cell:
    msg_id = client.execute(code)
    messages: list[dict[str, Any]] = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        messages.append(msg)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    return Cell(reply["content"], messages)


def ok(client: BlockingKernelClient, code: str) -> Cell:
    cell = execute(client, code)
    assert cell.reply["status"] == "ok", cell.reply.get("evalue")
    return cell


def idle_messages(client: BlockingKernelClient, until: float) -> list[dict[str, Any]]:
    """iopub messages that arrive while no cell runs, for at most ``until`` seconds."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=0.2)
        except Exception:  # queue.Empty
            continue
        messages.append(msg)
        if msg["msg_type"] == "update_display_data" and "succeeded" in json.dumps(
            msg["content"], default=str
        ):
            break
    return messages


def test_live_panel_in_a_kernel(kernel: BlockingKernelClient, local_server: LocalServer) -> None:
    seen: list[dict[str, Any]] = []
    for code in (
        "%load_ext julep_nb",
        f"%config JulepMagics.base_url = {local_server.base_url!r}",
        f"%config JulepMagics.api_key = {KEY!r}",
        f"%%julep_task\n{TASK_PAUSE}",
    ):
        seen += ok(kernel, code).messages

    started = ok(kernel, "%%julep_exec pause -o h\n{}")
    seen += started.messages
    displays = started.of_type("display_data")
    assert len(displays) == 1, started.messages  # the panel, once; no execute_result
    assert not started.of_type("execute_result")
    bundle = displays[0]["content"]
    assert WIDGET_MIME in bundle["data"] and "text/html" in bundle["data"]
    display_id = bundle["transient"]["display_id"]

    # No cell runs now: the watcher and the panel go on by themselves.
    later = idle_messages(kernel, until=15)
    seen += later
    finals = [
        m
        for m in later
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert finals, [m["msg_type"] for m in later]
    assert "succeeded" in finals[-1]["content"]["data"]["text/html"]
    assert any(m["msg_type"] == "comm_msg" for m in later)  # the widgets were updated

    waited = ok(kernel, "%%julep_exec pause --wait --panel html -o h2\n{}\n")
    seen += waited.messages
    seen += ok(kernel, "print(h.status.value, h2.status.value)").messages
    assert "succeeded succeeded" in Cell({}, seen[-10:]).text()

    # execute_input echoes the user's own source (the %config line): not output.
    outputs = [m for m in seen if m["msg_type"] != "execute_input"]
    everything = json.dumps(outputs, default=str)
    assert KEY not in everything and KEY[:-4] not in everything  # widget state included


def test_resume_and_errors_in_a_kernel(
    kernel: BlockingKernelClient, local_server: LocalServer
) -> None:
    ok(kernel, "%load_ext julep_nb")  # loaded already: a no-op
    ok(kernel, f"%config JulepMagics.base_url = {local_server.base_url!r}")
    ok(kernel, "%config JulepMagics.panel = 'none'")
    ok(kernel, f"%%julep_task\n{TASK_WAITER}")
    execution_id = ok(kernel, "w = %julep_exec waiter\nprint(w.id)").text().strip()
    ok(
        kernel,
        "import asyncio\n"
        "async with asyncio.timeout(10):\n"
        "    while w.status.value != 'awaiting_input':\n"
        "        await asyncio.sleep(0.05)",
    )
    bad = execute(kernel, f"%%julep_exec resume {execution_id}\nanswer: [1,\n")
    assert bad.reply["status"] == "error"
    assert bad.reply["ename"] == "UsageError"
    assert "line 1, column" in bad.reply["evalue"]

    ok(kernel, f"%%julep_exec resume {execution_id} --wait\nanswer: 42")
    final = ok(kernel, "final = await w\nprint(final.status.value, final.output)").text()
    assert final.startswith("succeeded") and "42" in final

    again = execute(kernel, f"%%julep_exec resume {execution_id}\nanswer: 43")
    assert again.reply["ename"] == "UsageError"
    assert "is succeeded, not awaiting_input" in again.reply["evalue"]


def test_magic_lines_take_notebook_variables_in_a_kernel(
    kernel: BlockingKernelClient, local_server: LocalServer
) -> None:
    """``{task.id}``, ``$tid``, a Task variable and ``--input-var`` with a blank body."""
    ok(kernel, "%load_ext julep_nb")
    ok(kernel, f"%config JulepMagics.base_url = {local_server.base_url!r}")
    ok(kernel, "%config JulepMagics.panel = 'none'")
    ok(kernel, f"%%julep_task -o task --name echo\n{TASK_ECHO}")
    ok(kernel, "tid = task.id\nparams = {'word': 'from-a-variable'}")
    ok(kernel, "%%julep_exec {task.id} -o a\nword: braces")
    ok(kernel, '%%julep_exec $tid -o b --metadata {"via": "dollar"}\nword: dollar')
    ok(kernel, "%%julep_exec task -o c\n# the input is all defaults\n")
    ok(kernel, "%%julep_exec echo --input-var params -o d\n\n")
    ok(kernel, 'e = %julep_exec run {tid} --input {"word": "json-intact"}')
    text = ok(
        kernel,
        "finals = [await x for x in (a, b, c, d, e)]\n"
        "print([(f.task_id == tid, f.status.value, f.output.get('said') if f.status.value"
        " == 'succeeded' else f.error) for f in finals])",
    ).text()
    words = ["braces", "dollar", "default", "from-a-variable", "json-intact"]
    assert text.strip() == repr([(True, "succeeded", w) for w in words])

    listed = ok(kernel, "rows = %julep_exec list $tid\nprint(len(rows))").text()
    assert listed.strip() == "5"
    resumed = execute(kernel, "%%julep_exec resume {h_undefined.id}\nanswer: 1")
    assert resumed.reply["ename"] == "UsageError"
    assert "{h_undefined.id}" in resumed.reply["evalue"]
    assert "NameError" in resumed.reply["evalue"]
    wrong = execute(kernel, "number = 3\n%julep_exec list number")
    assert wrong.reply["ename"] == "UsageError" and "int" in wrong.reply["evalue"]
