"""``--source`` in a real ipykernel: a Temporal workflow's panel, answered by a signal cell."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.magics.temporal.conftest import ThreadWorker
from tests.magics.temporal.test_sources_magics import start
from tests.magics.test_kernel import WIDGET_MIME, execute, idle_messages, kernel, ok  # noqa: F401
from tests.sources.temporal import workflows

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient


def test_a_temporal_panel_answered_from_a_signal_cell(
    kernel: BlockingKernelClient,  # noqa: F811
    temporal_worker: ThreadWorker,
) -> None:
    url = f"temporal://{temporal_worker.target}/default"
    workflow_id = start(temporal_worker, workflows.Approval.run, "laptop", "kernel")
    ok(kernel, "%load_ext julep_nb")
    ok(kernel, f"%config JulepMagics.sources = {{'dev': {url!r}}}")

    watched = ok(kernel, f"%julep_exec watch {workflow_id} --source dev -o h")
    displays = watched.of_type("display_data")
    assert len(displays) == 1 and not watched.of_type("execute_result"), watched.messages
    bundle = displays[0]["content"]
    assert WIDGET_MIME in bundle["data"] and workflow_id in bundle["data"]["text/html"]
    display_id = bundle["transient"]["display_id"]

    bad = execute(kernel, f"%%julep_exec signal {workflow_id} approve --source dev\nby: [\n")
    assert bad.reply["ename"] == "UsageError" and "Nothing was sent" in bad.reply["evalue"]
    ok(kernel, f"%%julep_exec signal {workflow_id} approve --source dev\nby: kernel\n")

    later = idle_messages(kernel, until=20)  # no cell runs: the panel follows by itself
    finals = [
        m
        for m in later
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert finals and "succeeded" in finals[-1]["content"]["data"]["text/html"]
    text = ok(kernel, "print(h.status.value, h.output)").text()
    assert text.startswith("succeeded") and "'by': 'kernel'" in text
    answer = ok(kernel, f"%julep_exec query {workflow_id} status --source dev").text()
    assert "decided" in answer
