"""Workflows and activities the Temporal tests run (importable: the SDK's sandbox re-imports it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0)


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def flaky(succeed_on: int) -> str:
    """Fails until attempt ``succeed_on`` (0: always)."""
    attempt = activity.info().attempt
    if succeed_on and attempt >= succeed_on:
        return f"ok on attempt {attempt}"
    raise ApplicationError(f"attempt {attempt} failed")


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@workflow.defn
class Hello:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class Retrying:
    @workflow.run
    async def run(self, succeed_on: int) -> str:
        return await workflow.execute_activity(
            flaky,
            succeed_on,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(  # slower than the 0.5 s describe: attempts are seen
                initial_interval=timedelta(milliseconds=600),
                backoff_coefficient=1.0,
                maximum_attempts=3,
            ),
        )


@workflow.defn
class Approval:
    """Waits for an ``approve`` or ``reject`` signal; ``decision`` is a query."""

    def __init__(self) -> None:
        self.decision: dict[str, Any] | None = None

    @workflow.run
    async def run(self, request: str) -> dict[str, Any]:
        await workflow.sleep(0.05)
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
    def status(self) -> str:
        return "decided" if self.decision is not None else "waiting"


@workflow.defn
class Sleeper:
    """Runs a slow activity; cleans up when cancelled."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        try:
            return await workflow.execute_activity(
                slow, seconds, start_to_close_timeout=timedelta(seconds=seconds + 30)
            )
        except asyncio.CancelledError:
            await workflow.execute_activity(
                greet, "cleanup", start_to_close_timeout=timedelta(seconds=10)
            )
            raise


@workflow.defn
class Counter:
    """Continues as new until ``n`` reaches ``until``."""

    @workflow.run
    async def run(self, n: int, until: int) -> int:
        await workflow.execute_activity(
            greet, f"run {n}", start_to_close_timeout=timedelta(seconds=10)
        )
        if n < until:
            workflow.continue_as_new(args=[n + 1, until])
        return n


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, name: str) -> str:
        child: str = await workflow.execute_child_workflow(
            Hello.run, name, id=f"{workflow.info().workflow_id}-child"
        )
        return f"parent got {child}"


@workflow.defn
class Ticker:
    """Runs ``n`` short activities one after the other, with a timer between."""

    @workflow.run
    async def run(self, n: int) -> int:
        for i in range(n):
            await workflow.execute_activity(
                greet, str(i), start_to_close_timeout=timedelta(seconds=10)
            )
            await workflow.sleep(0.2)
        return n


WORKFLOWS = [Hello, Retrying, Approval, Sleeper, Counter, Parent, Ticker]
ACTIVITIES = [greet, flaky, slow]
