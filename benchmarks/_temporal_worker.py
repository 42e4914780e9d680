"""A Temporal worker for ``bench_temporal``'s panels, in a process of its own.

In the user's world the workers and the Temporal cluster run elsewhere; here they
share two cores with the kernel being measured. Run in the benchmark's own process,
the worker's thread held the GIL that the process timing the kernel's replies needs,
and its tail showed in both the measurement and its anchor. Run here, at a lower
priority (``nice``), it stands in for a fleet on other machines.

    python -m benchmarks._temporal_worker TARGET TASK_QUEUE  # "ready"; runs until stdin closes
"""

from __future__ import annotations

import asyncio
import sys

NICENESS = 10


async def _serve(target: str, queue: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from benchmarks import _temporal_workflows as workflows

    client = await Client.connect(target)
    async with Worker(
        client, task_queue=queue, workflows=[workflows.Pulse], activities=[workflows.greet],
        max_concurrent_workflow_tasks=200,
    ):  # fmt: skip
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes it


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], sys.argv[2]))
