"""The workflow bench_temporal runs (a module: Temporal's sandbox re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class Gated:
    """Waits for a ``go`` signal, then runs ``n`` activities with a short timer between."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.go)
        for i in range(n):
            await workflow.execute_activity(
                greet, str(i), start_to_close_timeout=timedelta(seconds=10)
            )
            await workflow.sleep(0.1)
        return n

    @workflow.signal(name="go")
    def start(self) -> None:
        self.go = True


@workflow.defn
class Pulse:
    """``n`` short activities, ``interval`` seconds apart (a steadily changing panel)."""

    @workflow.run
    async def run(self, n: int, interval: float) -> int:
        for i in range(n):
            await workflow.execute_activity(
                greet, str(i), start_to_close_timeout=timedelta(seconds=30)
            )
            await workflow.sleep(interval)
        return n
