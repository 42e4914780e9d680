"""The workflows and activities of notebook 06 (a module: Temporal's sandbox re-imports it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn
async def notify(message: str) -> str:
    return f"sent: {message}"


@activity.defn
async def flaky_lookup(fail_times: int) -> str:
    attempt = activity.info().attempt
    if attempt <= fail_times:
        raise ApplicationError(f"lookup failed on attempt {attempt}")
    return f"found on attempt {attempt}"


@activity.defn
async def long_job(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@workflow.defn
class ApprovalWorkflow:
    """Asks for approval and waits for an ``approve`` or ``reject`` signal."""

    def __init__(self) -> None:
        self.decision: dict[str, Any] | None = None

    @workflow.run
    async def run(self, request: str) -> dict[str, Any]:
        await workflow.execute_activity(
            notify, f"please approve {request}", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.decision is not None)
        assert self.decision is not None
        return {"request": request, **self.decision}

    @workflow.signal
    def approve(self, payload: dict[str, Any]) -> None:
        self.decision = {"approved": True, **payload}

    @workflow.signal
    def reject(self, payload: dict[str, Any]) -> None:
        self.decision = {"approved": False, **payload}

    @workflow.query
    def waiting(self) -> bool:
        return self.decision is None


@workflow.defn
class LookupWorkflow:
    """A flaky activity retried (``fail_times`` failures first) up to 3 attempts."""

    @workflow.run
    async def run(self, fail_times: int) -> str:
        return await workflow.execute_activity(
            flaky_lookup,
            fail_times,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                backoff_coefficient=1.0,
                maximum_attempts=3,
            ),
        )


@workflow.defn
class LongJobWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            long_job, seconds, start_to_close_timeout=timedelta(seconds=seconds + 30)
        )


WORKFLOWS = [ApprovalWorkflow, LookupWorkflow, LongJobWorkflow]
ACTIVITIES = [notify, flaky_lookup, long_job]
