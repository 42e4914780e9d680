"""A Thand-like workflow: tasks one after the other, one waiting for an approval signal.

Thand signals a workflow with a CloudEvent under one Temporal signal name; the event's
``type`` says what it means (here ``approve`` or ``deny``). The ``thand_task`` query
answers what Thand's execution endpoint shows: status phase, current task, history.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

EVENT_SIGNAL = "thand_event"
TASK_QUERY = "thand_task"


@workflow.defn
class AccessRequest:
    def __init__(self) -> None:
        self.status = "PENDING"
        self.task = "validate"
        self.history: list[str] = []
        self.decision: dict[str, Any] | None = None

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        self.status = "RUNNING"
        await workflow.sleep(0.05)
        self.history.append("validate")
        self.task, self.status = "approve", "WAITING"
        await workflow.wait_condition(lambda: self.decision is not None)
        assert self.decision is not None
        self.history.append("approve")
        self.status, self.task = "RUNNING", "grant"
        await workflow.sleep(0.05)
        self.history.append("grant")
        self.status = "COMPLETED"
        return {"role": request.get("role"), **self.decision}

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: dict[str, Any]) -> None:
        self.decision = {"approved": event.get("type") == "approve", **(event.get("data") or {})}

    @workflow.query(name=TASK_QUERY)
    def task_info(self) -> dict[str, Any]:
        return {"status": self.status, "task": self.task, "history": list(self.history)}
