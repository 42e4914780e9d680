"""``--source``: Temporal and Thand workflows from the magics, against real servers.

A real Temporal dev server with a worker (tests/sources/temporal/workflows.py) and a
Thand-compatible server on it (tests/sources/thand/); the magics run in a real
``InteractiveShell`` with the extension loaded.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.summaries import ExecutionSummaries
from julep_nb.sources.temporal.devserver import free_port
from tests.magics.conftest import Shell
from tests.magics.temporal.conftest import THAND_TOKEN, ThreadWorker
from tests.sources.temporal import workflows
from tests.sources.thand.server import ThandServer

S = ExecutionStatus
SECRET = "supersecretvalue99"


@pytest.fixture
def url(shell: Shell, temporal_worker: ThreadWorker) -> str:
    shell.run("%config JulepMagics.panel = 'none'")
    return f"temporal://{temporal_worker.target}/default"


def start(worker: ThreadWorker, workflow: Any, arg: Any, prefix: str) -> str:
    """Start a workflow on the worker's task queue; its id."""
    workflow_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    assert worker.client is not None
    worker.call(
        worker.client.start_workflow(workflow, arg, id=workflow_id, task_queue=worker.task_queue)
    )
    return workflow_id


def history_names(worker: ThreadWorker, workflow_id: str) -> list[str]:
    """The event types of a workflow's history, as Temporal recorded them."""
    assert worker.client is not None

    async def read() -> list[str]:
        assert worker.client is not None
        history = await worker.client.get_workflow_handle(workflow_id).fetch_history()
        return [event.WhichOneof("attributes") or "" for event in history.events]

    return worker.call(read())


def listed(shell: Shell, line: str, ids: set[str]) -> ExecutionSummaries:
    """``line``'s summaries once every id in ``ids`` is listed (visibility lags a little)."""
    found: ExecutionSummaries = shell.run(line)
    for _ in range(50):
        if ids <= {item.id for item in found}:
            return found
        time.sleep(0.1)
        found = shell.run(line)
    raise AssertionError(f"{ids} not listed by {line!r}: {[i.id for i in found]}")


def test_list_renders_a_table_with_status_badges(
    shell: Shell, url: str, temporal_worker: ThreadWorker
) -> None:
    done = start(temporal_worker, workflows.Hello.run, "Ada", "hello")
    waiting = start(temporal_worker, workflows.Approval.run, "leave", "approval")
    assert temporal_worker.client is not None
    temporal_worker.call(temporal_worker.client.get_workflow_handle(done).result())

    query = f"WorkflowId = '{done}' OR WorkflowId = '{waiting}'"
    found = listed(shell, f'%julep_exec list --source {url} --query "{query}"', {done, waiting})

    assert {item.id: item.status for item in found} == {done: S.SUCCEEDED, waiting: S.RUNNING}
    html = shell.ip.display_formatter.format(found)[0]["text/html"]
    assert "julep-nb-badge julep-nb-succeeded" in html and "julep-nb-running" in html
    assert done in html and waiting in html
    assert len(shell.magics._sources) == 1  # connected once, then reused
    temporal_worker.call(
        temporal_worker.client.get_workflow_handle(waiting).terminate(reason="test over")
    )


def test_watch_query_and_signal_from_a_cell_body(
    shell: Shell, url: str, temporal_worker: ThreadWorker
) -> None:
    workflow_id = start(temporal_worker, workflows.Approval.run, "leave", "approval")
    handle = shell.run(f"%julep_exec watch {workflow_id} --source {url} -o h")
    assert shell.ns["h"] is handle and handle.id == workflow_id
    shell.until(lambda: handle.state.entry_count > 0)
    assert handle.status is S.RUNNING
    assert shell.run(f"%julep_exec query {workflow_id} status --source {url}") == "waiting"

    # A payload that does not parse sends nothing.
    message = shell.fails(f"%%julep_exec signal {workflow_id} approve --source {url}\nby: [ana\n")
    assert "line 1, column" in message and "Nothing was sent" in message
    assert "workflow_execution_signaled_event_attributes" not in history_names(
        temporal_worker, workflow_id
    )

    shell.run(f"%%julep_exec signal {workflow_id} approve --source {url}\nby: ana\nnote: ok\n")
    shell.until(lambda: handle.status is S.SUCCEEDED, timeout=20)
    assert handle.output == {"request": "leave", "approved": True, "by": "ana", "note": "ok"}
    assert shell.run(f"%julep_exec query {workflow_id} status --source {url}") == "decided"

    state = shell.run(f"%julep_exec status {workflow_id} --source {url}")
    assert state.status is S.SUCCEEDED and state.output == handle.output
    assert any("approve" in row.label for row in state.timeline())  # the signal's row

    again = shell.fails(f"%julep_exec signal {workflow_id} approve --payload {{}} --source {url}")
    assert "already ended (succeeded)" in again


def test_signal_line_form_with_payload(
    shell: Shell, url: str, temporal_worker: ThreadWorker
) -> None:
    workflow_id = start(temporal_worker, workflows.Approval.run, "car", "approval")
    shell.run(f'%julep_exec signal {workflow_id} reject --payload {{"by": "bo"}} --source {url}')
    handle = shell.run(f"%julep_exec watch {workflow_id} --source {url}")
    shell.until(lambda: handle.status is S.SUCCEEDED, timeout=20)
    assert handle.output == {"request": "car", "approved": False, "by": "bo"}


def test_cancel_and_terminate_end_the_workflows(
    shell: Shell, url: str, temporal_worker: ThreadWorker
) -> None:
    sleeper = start(temporal_worker, workflows.Sleeper.run, 60.0, "sleeper")
    approval = start(temporal_worker, workflows.Approval.run, "x", "approval")
    cancelled = shell.run(f"%julep_exec watch {sleeper} --source {url}")
    terminated = shell.run(f"%julep_exec watch {approval} --source {url}")

    shell.run(f"%julep_exec cancel {sleeper} --source {url}")
    shell.run(f'%julep_exec terminate {approval} --reason "no longer needed" --source {url}')
    shell.until(
        lambda: cancelled.status is S.CANCELLED and terminated.status is S.TERMINATED,
        timeout=30,
    )
    assert terminated.error is not None and "no longer needed" in terminated.error
    status = shell.run(f"%julep_exec status {approval} --source {url}")
    assert status.status is S.TERMINATED and "no longer needed" in (status.error or "")
    message = shell.fails(f"%julep_exec terminate {approval} --source {url}")
    assert f"Workflow {approval} already ended (terminated)" in message


def test_a_configured_name_and_bad_sources_send_nothing(
    shell: Shell, url: str, temporal_worker: ThreadWorker
) -> None:
    shell.run(f"%config JulepMagics.sources = {{'dev': {url!r}}}")
    found = shell.run("%julep_exec list --source dev --limit 3")
    assert isinstance(found, ExecutionSummaries) and len(found) <= 3

    unknown = shell.fails("%julep_exec list --source nope")
    assert "--source nope" in unknown and "names: dev" in unknown
    assert "--source http://127.0.0.1:1" in shell.fails(
        "%julep_exec list --source http://127.0.0.1:1"
    )
    port = free_port()
    unreachable = shell.fails(f"%julep_exec list --source temporal://127.0.0.1:{port}/default")
    assert f"127.0.0.1:{port}" in unreachable and "Could not connect" in unreachable
    wrong = shell.fails(f"%julep_exec list --source {url.rsplit('/', 1)[0]}/no-such-namespace")
    assert "no namespace 'no-such-namespace'" in wrong
    secret = shell.fails(f"%julep_exec list --source temporal://:{SECRET}@127.0.0.1:{port}/default")
    assert SECRET not in secret and "…ue99" in secret

    terminate = shell.fails("%julep_exec terminate some-id --reason x")
    assert "needs --source" in terminate and "%julep_exec cancel some-id" in terminate
    both = shell.fails("%%julep_exec signal wf approve --payload {} --source dev\nby: me\n")
    assert "given twice" in both
    assert "TASK_ID" in shell.fails("%julep_exec list")
    missing = shell.fails("%julep_exec watch no-such-workflow --source dev")
    assert "Unknown workflow 'no-such-workflow'" in missing
    assert len(shell.magics._sources) == 1  # only the one that connected

    magics = shell.magics
    shell.run("%unload_ext julep_nb")
    assert len(magics._sources) == 0  # %unload_ext closes the session's sources


def create_thand_execution(server: ThandServer, role: str) -> str:
    answer = httpx.post(
        f"{server.base_url}/execution",
        json={"workflow": "request-access", "input": {"role": role}},
        headers={"Authorization": f"Bearer {THAND_TOKEN}"},
        timeout=10,
    )
    answer.raise_for_status()
    workflow_id: str = answer.json()["workflow_id"]
    return workflow_id


def test_thand_list_watch_and_signal_by_a_configured_name(shell: Shell, thand: ThandServer) -> None:
    shell.run("%config JulepMagics.panel = 'none'")
    secret_url = thand.base_url.replace("http://", f"thand+http://:{THAND_TOKEN}@")
    shell.run(f"%config JulepMagics.sources = {{'thand': {secret_url!r}}}")
    assert THAND_TOKEN not in repr(shell.magics.sources)
    settings = shell.run("%julep_exec config")
    assert THAND_TOKEN not in repr(settings) and "…7f3e" in settings["sources"]
    workflow_id = create_thand_execution(thand, "admin")

    found = listed(shell, "%julep_exec list --source thand", {workflow_id})
    assert "julep-nb-badge" in found._repr_html_()
    refused = shell.fails("%julep_exec list --source thand --query \"WorkflowType = 'A'\"")
    assert "cannot filter its list" in refused and THAND_TOKEN not in refused

    handle = shell.run(f"%julep_exec watch {workflow_id} --source thand -o access")
    shell.until(lambda: handle.status is S.AWAITING_INPUT, timeout=20)
    refused = shell.fails(f"%julep_exec query {workflow_id} anything --source thand")
    assert "cannot query" in refused and THAND_TOKEN not in refused
    shell.run(f'%julep_exec signal {workflow_id} approve --payload {{"by": "ana"}} --source thand')
    shell.until(lambda: handle.status is S.SUCCEEDED, timeout=30)
    # Thand reports COMPLETED from the workflow's own query, which can answer just
    # before the result is recorded: the panel may end without the output.
    expected = {"role": "admin", "approved": True, "by": "ana"}
    assert handle.output in (None, expected)
    state = shell.run(f"%julep_exec status {workflow_id} --source thand")
    assert state.status is S.SUCCEEDED and state.output == expected
