"""A batch of executions from a real kernel, beside the server's own rate and two client loops.

One kernel (``jupyter_client``) runs the embedded local server on a WAL file, as a
notebook does, and in the same run:

- the server's own rate: the 3-step task of ``bench_local_server`` created and
  followed to the end by its minimal HTTP client (16 at a time), in the kernel, just
  before and just after the batch (the mean: the load of a shared machine drifts);
  and the same with the executions created through julep_nb's bulk route
  (``raw_bulk_executions_per_second``: one request creates as many as just ended),
  the server's rate on the path the batch takes; and for each, the kernel process's
  CPU per execution (``time.process_time``: server and client together, which a
  loaded machine disturbs far less than wall-clock rates);
- ``run_many`` over N inputs (10,000; 500 with ``--quick``) with its live batch
  panel displayed, through a client built as the default embedded one is (requests
  in-process, event streams over loopback; ``local/inprocess.py``): executions/s
  from the call to the end of ``await batch``, the kernel's RSS growth, and the
  panel's widget ``comm_msg``s read on iopub (mean per second and the busiest
  one-second window, against ``refresh_rate``);
- ``run_many`` over 2,000 inputs (300 with ``--quick``) through a client given only
  the server's URL, so that every request goes over loopback TCP;
- ``asyncio.gather`` of ``julep_nb.run`` calls (each a watched handle, 16 at a time);
- the official ``julep`` SDK's create-then-poll loop (``executions.create``, then
  ``executions.get`` every second until terminal, the pattern of Julep's guide),
  16 at a time.

The anchors run fewer executions than the batch (their rate does not depend on the
count): 1,000 / 150 for the server and ``gather``, 160 / 32 for the SDK loop.

Run: ``python -m benchmarks.bench_batch [--quick]``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from benchmarks._util import row

REFRESH_RATE = 10.0
CONCURRENCY = 16

SETUP = """
import asyncio, gc, json, os, tempfile, time
from pathlib import Path
import psutil
import julep_nb
from julep_nb.batch import run_many
from julep_nb.display.batch_panel import show_batch
from julep_nb.local import start
from benchmarks.bench_local_server import (
    TASK, raw_bulk_executions_per_second, raw_executions_per_second,
)

_tmp = tempfile.mkdtemp()
_server = start(db=Path(_tmp) / "batch.db")
from julep_nb.sources.julep.connection import POOL_LIMITS
# As the default embedded client: requests in-process, event streams over loopback.
_client = julep_nb.Client(
    base_url=_server.base_url, api_key=_server.api_key,
    transport=_server.transport(limits=POOL_LIMITS),
)
# A client given only the URL: everything over loopback TCP.
_tcp_client = julep_nb.Client(base_url=_server.base_url, api_key=_server.api_key)

async def _tcp_batch(n, k):
    began = time.perf_counter()
    batch = await run_many(_task, [{"x": i} for i in range(n)], client=_tcp_client, concurrency=k)
    states = await batch
    assert all(s.status.value == "succeeded" for s in states)
    return n / (time.perf_counter() - began)
_agent = await _client.create_agent(name="bench")
_task = await _client.create_task(_agent.id, TASK)
_proc = psutil.Process()

async def _with_cpu(n, coro):  # [rate, this process's CPU ms per execution] of n executions
    cpu = time.process_time()
    rate = await coro
    return [rate, (time.process_time() - cpu) * 1000 / n]

async def _gather_runs(n, k):
    gate = asyncio.Semaphore(k)
    async def one(i):
        async with gate:
            handle = await julep_nb.run(_task.id, {"x": i}, client=_client)
            return await handle
    began = time.perf_counter()
    states = await asyncio.gather(*(one(i) for i in range(n)))
    assert all(s.status.value == "succeeded" for s in states)
    return n / (time.perf_counter() - began)

async def _sdk_loop(n, k):
    from julep import AsyncJulep
    sdk = AsyncJulep(api_key=_server.api_key or "unused-locally", base_url=_server.base_url)
    gate = asyncio.Semaphore(k)
    async def one(i):
        async with gate:
            execution = await sdk.executions.create(task_id=_task.id, input={"x": i})
            while execution.status not in ("succeeded", "failed", "cancelled"):
                await asyncio.sleep(1)
                execution = await sdk.executions.get(execution.id)
            return execution.status
    began = time.perf_counter()
    statuses = await asyncio.gather(*(one(i) for i in range(n)))
    assert set(statuses) == {"succeeded"}, statuses
    return n / (time.perf_counter() - began)
"""

BATCH = """
gc.collect()
_rss0 = _proc.memory_info().rss
_cpu0 = time.process_time()
_began = time.perf_counter()
_batch = await run_many(_task, [{"x": i} for i in range(N)], client=_client, concurrency=K)
_panel = show_batch(_batch, refresh_rate=RATE)
_states = await _batch
_elapsed = time.perf_counter() - _began
_cpu = (time.process_time() - _cpu0) * 1000 / N
assert _batch.status_counts == {julep_nb.ExecutionStatus.SUCCEEDED: N}, _batch.status_counts
gc.collect()
print(json.dumps({
    "rate": N / _elapsed, "elapsed": _elapsed, "cpu": _cpu,
    "rss": (_proc.memory_info().rss - _rss0) / 2**20,
    "polls": _batch._follower.polls, "ids": [w.model_id for w in (_panel.live, _panel.waiting_box,
    _panel.cancel_button)], "messages": _panel.messages,
}))
"""


class _Kernel:
    """A kernel and a blocking client; ``run`` returns stdout and the comm_msg times seen."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", startup_timeout=60)

    def run(self, code: str, timeout: float = 900) -> tuple[str, list[tuple[float, str]]]:
        msg_id = self.client.execute(code)
        out: list[str] = []
        comms: list[tuple[float, str]] = []
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            kind, content = msg["msg_type"], msg["content"]
            if kind == "comm_msg":
                comms.append((time.monotonic(), content.get("comm_id", "")))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise RuntimeError(f"kernel error: {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return "".join(out).strip(), comms

    def value(self, code: str) -> Any:
        return json.loads(self.run(f"print(json.dumps({code}))")[0])

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def busiest_second(times: list[float]) -> int:
    """The most messages in any window of one second."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _mean(a: list[float], b: list[float]) -> tuple[float, float]:
    """The mean of two ``[rate, cpu]`` measurements, by field."""
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Measure and return the rows (see the module docstring)."""
    n, n_anchor, n_sdk = (500, 150, 32) if quick else (10_000, 1_000, 160)
    n_tcp = 300 if quick else 2_000
    kernel = _Kernel()
    try:
        kernel.run(SETUP)
        server_rate = f"await _with_cpu({n_anchor}, raw_executions_per_second(_server, {n_anchor}))"
        bulk_rate = (
            f"await _with_cpu({n_anchor}, raw_bulk_executions_per_second(_server, {n_anchor}))"
        )
        before = kernel.value(server_rate)
        bulk_before = kernel.value(bulk_rate)
        code = BATCH.replace("RATE", repr(REFRESH_RATE)).replace("N", str(n))
        out, comms = kernel.run(code.replace("K", str(CONCURRENCY)))
        batch = json.loads(out.splitlines()[-1])
        # the mean of before and after: the machine's load drifts
        bulk, bulk_cpu = _mean(bulk_before, kernel.value(bulk_rate))
        server, server_cpu = _mean(before, kernel.value(server_rate))
        over_tcp = kernel.value(f"await _tcp_batch({n_tcp}, {CONCURRENCY})")
        gathered = kernel.value(f"await _gather_runs({n_anchor}, {CONCURRENCY})")
        sdk = kernel.value(f"await _sdk_loop({n_sdk}, {CONCURRENCY})")
    finally:
        kernel.close()
    panel = sorted(at for at, comm in comms if comm in set(batch["ids"]))
    busiest = busiest_second(panel)
    label = f"batch: run_many of {n:,} (3-step task, in a kernel, panel shown)"
    limit = f"≤ {REFRESH_RATE:g} (refresh_rate)"
    return [
        row(label, batch["rate"], "exec/s", anchor="the server's own rate (raw HTTP client)",
            anchor_value=server, target="≥ 1× the server"),
        row(label, batch["rate"], "exec/s",
            anchor="the server's own rate, bulk route (raw HTTP client)", anchor_value=bulk,
            target="≥ 1× the server"),
        row("local: executions/s, bulk route (raw HTTP client)", bulk, "exec/s",
            anchor="the server's own rate (raw HTTP client)", anchor_value=server),
        row(f"batch: run_many of {n_tcp:,} over loopback TCP (a client given only the URL)",
            over_tcp, "exec/s", anchor="the server's own rate (raw HTTP client)",
            anchor_value=server),
        row(label, batch["rate"], "exec/s", anchor="asyncio.gather of julep_nb.run",
            anchor_value=gathered),
        row(label, batch["rate"], "exec/s", anchor="julep SDK create-then-poll (1 s)",
            anchor_value=sdk),
        row(f"batch: kernel CPU per execution, {n:,} executions", batch["cpu"], "ms",
            anchor="the server's own (raw HTTP client, per-row creates)",
            anchor_value=server_cpu, higher_is_better=False),
        row(f"batch: kernel CPU per execution, {n:,} executions", batch["cpu"], "ms",
            anchor="the server's own (raw HTTP client, bulk route)", anchor_value=bulk_cpu,
            higher_is_better=False),
        row(f"batch: kernel RSS growth, {n:,} executions", batch["rss"], "MiB",
            target="≤ 150 MB", higher_is_better=False),
        row(f"batch: panel widget comm_msgs/s, {n:,} executions (mean)",
            len(panel) / batch["elapsed"], "msgs/s", target=limit, higher_is_better=False),
        row(f"batch: panel widget comm_msgs in the busiest second, {n:,} executions",
            busiest, "msgs", target=limit, higher_is_better=False),
        row(f"batch: listing requests per execution, {n:,} executions",
            batch["polls"] / n, "requests", anchor="one watcher (≥ 2 requests + 1 stream)",
            anchor_value=3.0, higher_is_better=False),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main(quick="--quick" in sys.argv))
