"""Reading one Temporal workflow: ids, cursors, descriptions and whole histories.

An execution id is a workflow id, or ``"<workflow id>@<run id>"`` to pin one run.
A workflow id alone follows the workflow's chain of runs (continue-as-new goes on
in the next run, reported as ``next_run``); a pinned run ends with
``continued_as_new``. The cursor is :class:`TemporalCursor`: the run being read and
the id of the last history event passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from julep_nb.live.events import Event, ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.sources.temporal.errors import rpc_errors
from julep_nb.sources.temporal.history import SOURCE, HistoryMapper

__all__ = [
    "STATUSES",
    "RunRef",
    "TemporalCursor",
    "cursor_of",
    "describe_report",
    "execution_id",
    "handle_for",
    "mapper_for",
    "parse_execution_id",
    "read_run",
    "running_entries",
]

S = ExecutionStatus
_RUN_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

STATUSES: dict[WorkflowExecutionStatus, ExecutionStatus] = {
    WorkflowExecutionStatus.RUNNING: S.RUNNING,
    WorkflowExecutionStatus.COMPLETED: S.SUCCEEDED,
    WorkflowExecutionStatus.FAILED: S.FAILED,
    WorkflowExecutionStatus.CANCELED: S.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: S.TERMINATED,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: S.CONTINUED_AS_NEW,
    WorkflowExecutionStatus.TIMED_OUT: S.TIMED_OUT,
}


@dataclass(frozen=True, slots=True)
class RunRef:
    """A workflow id and, when pinned, one run of it."""

    workflow_id: str
    run_id: str | None = None

    @property
    def follows_chain(self) -> bool:
        return self.run_id is None


@dataclass(frozen=True, slots=True)
class TemporalCursor:
    """Where watching stands: the run being read and the last history event passed on."""

    run_id: str | None = None
    event_id: int = 0


def execution_id(workflow_id: str, run_id: str | None = None) -> str:
    """The execution id of a workflow (its chain of runs), or of one run."""
    return f"{workflow_id}@{run_id}" if run_id else workflow_id


def parse_execution_id(value: str) -> RunRef:
    """``"wf"`` or ``"wf@<run uuid>"`` (a workflow id may itself contain ``@``)."""
    head, sep, tail = value.rpartition("@")
    if sep and head and _RUN_ID.fullmatch(tail):
        return RunRef(head, tail)
    return RunRef(value)


def cursor_of(value: Any) -> TemporalCursor:
    return value if isinstance(value, TemporalCursor) else TemporalCursor()


def describe_report(
    execution: str, description: Any, *, chain: bool, signals: tuple[str, ...] | None = None
) -> StatusReport:
    """A ``describe()`` as a report (no ``at``: it is the newest word on the status)."""
    status = STATUSES.get(description.status, S.RUNNING) if description.status else S.RUNNING
    if chain and status is S.CONTINUED_AS_NEW:
        status = S.RUNNING  # the chain goes on in the next run
    return StatusReport(
        execution_id=execution, status=status, source=SOURCE, name=description.workflow_type,
        created_at=description.start_time, entry_count=None, signals=signals,
        metadata={
            "workflow_id": description.id, "run_id": description.run_id,
            "task_queue": description.task_queue, "history_length": description.history_length,
        },
    )  # fmt: skip


def running_entries(mapper: HistoryMapper, pending: Any = ()) -> tuple[TimelineEntry, ...]:
    """What runs now: open activities (refined by ``PendingActivityInfo``s), timers, children."""
    running: dict[str, TimelineEntry] = {e.id: e for e in mapper.open_entries()}
    for info in pending:
        entry = mapper.running_activity(info)
        if entry is not None:
            running[entry.id] = entry
    return tuple(running.values())


def mapper_for(client: Client, execution: str, run_id: str, *, chain: bool) -> HistoryMapper:
    converter = client.data_converter.payload_converter
    return HistoryMapper(execution, run_id, decode=converter.from_payloads, follow_chain=chain)


def handle_for(client: Client, ref: RunRef, run_id: str | None) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(ref.workflow_id, run_id=run_id or ref.run_id)


async def read_run(
    client: Client, execution: str, ref: RunRef, cursor: TemporalCursor
) -> tuple[list[Event], TemporalCursor, HistoryMapper, Any]:
    """One run's events past the cursor (following continue-as-new for a chain)."""
    run_id, after = cursor.run_id, cursor.event_id
    events: list[Event] = []
    while True:
        handle = handle_for(client, ref, run_id)
        with rpc_errors(f"describe workflow {ref.workflow_id!r}"):
            description = await handle.describe()
        run_id = description.run_id
        mapper = mapper_for(client, execution, run_id, chain=ref.follows_chain)
        with rpc_errors(f"read the history of workflow {ref.workflow_id!r}"):
            async for event in client.get_workflow_handle(
                ref.workflow_id, run_id=run_id
            ).fetch_history_events():
                mapped = mapper.feed(event)
                if event.event_id > after:
                    events += mapped
        if ref.follows_chain and mapper.closed is S.CONTINUED_AS_NEW and mapper.next_run:
            run_id, after = mapper.next_run, 0
            continue
        return events, TemporalCursor(run_id, mapper.last_event_id), mapper, description
