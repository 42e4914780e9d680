"""The ``--source`` examples of docs/magics.md, run as written against a real Temporal server.

Only the server's address differs: the docs say ``temporal://127.0.0.1:7233/default``,
the test server listens on a free port.
"""

from __future__ import annotations

from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.summaries import ExecutionSummaries
from tests.magics.conftest import Shell
from tests.magics.conftest import docs_block as block
from tests.magics.temporal.conftest import ThreadWorker
from tests.sources.temporal import workflows

S = ExecutionStatus
DOCS_URL = "temporal://127.0.0.1:7233/default"


def start(worker: ThreadWorker, workflow: object, arg: object, workflow_id: str) -> None:
    assert worker.client is not None
    worker.call(
        worker.client.start_workflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=worker.task_queue,  # type: ignore[arg-type]
        )
    )


def test_the_source_examples_run_as_written(shell: Shell, temporal_worker: ThreadWorker) -> None:
    url = f"temporal://{temporal_worker.target}/default"
    shell.run("%config JulepMagics.panel = 'none'")
    configure = block('%config JulepMagics.sources = {"dev"')
    assert DOCS_URL in configure
    listed = shell.run(configure.replace(DOCS_URL, url))
    assert isinstance(listed, ExecutionSummaries)

    start(temporal_worker, workflows.Approval.run, "leave", "approval-1")
    start(temporal_worker, workflows.Approval.run, "desk", "approval-2")
    start(temporal_worker, workflows.Sleeper.run, 60.0, "sleeper-1")
    shell.run(block("# a table with status badges"))
    handle = shell.ns["h"]
    shell.until(lambda: handle.status is S.SUCCEEDED, timeout=20)
    assert handle.output == {"request": "leave", "approved": True, "by": "ana"}
    for workflow_id, status in (("sleeper-1", S.CANCELLED), ("approval-2", S.TERMINATED)):
        watched = shell.run(f"%julep_exec watch {workflow_id} --source dev")
        shell.until(lambda w=watched, s=status: w.status is s, timeout=30)

    start(temporal_worker, workflows.Approval.run, "leave", "approval-1")  # the id again
    shell.run(block("%%julep_exec signal approval-1 approve --source dev"))
    again = shell.run("%julep_exec watch approval-1 --source dev")
    shell.until(lambda: again.status is S.SUCCEEDED, timeout=20)
    assert again.output == {"request": "leave", "approved": True, "by": "ana", "note": "looks fine"}
