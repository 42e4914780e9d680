"""Live view: how soon a commit shows up, and what 500 watchers cost one process.

1. Latency from a transition's commit on the local server to the updated state in
   the client (p50/p99 over loopback), beside a 1 s and a 5 s polling loop measured
   on the same commits (hosted Julep's status stream polls once a second; Julep's
   guide polls every 5 s).
2. Latency from a status-changing commit (init, first step, finish) to the new status
   in the client, beside the official ``julep`` SDK on the same executions: its
   ``executions.status.stream`` (against the same pushed stream) and its README's
   polling pattern (``executions.get`` until terminal, sleeping 1 s between calls).
3. 1,000 ``get_execution`` calls started at once (``asyncio.gather``), requests/s,
   beside the same through a bare ``httpx.AsyncClient`` and through the SDK's
   ``AsyncJulep``.
4. 500 executions watched at once in one process: event-loop lag p99 while they
   change, beside 500 one-second polling loops; memory per watcher (RSS).

The server runs in a child process (this module with ``--serve``), so the
measuring process holds only clients. The child commits transitions straight into
its store and reports when; both processes read the same monotonic clock.

    python -m benchmarks --only live [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks._util import percentile, row

ROOT = Path(__file__).resolve().parents[1]
LAG_TICK = 0.01  # seconds the loop-lag probe sleeps; lag is how much longer it took


# ---------------------------------------------------------------------- server child


def serve() -> None:
    """Child process: a local server plus a line protocol on stdin to commit transitions."""
    from julep_nb.local import start
    from julep_nb.sources.julep.models import TransitionTarget, TransitionType

    server = start(port=0, db=":memory:")
    store = server.store
    agent = store.create_agent({"name": "bench"})
    task = store.create_task(agent.id, {"name": "bench", "main": [{"evaluate": {"x": "$ 1"}}]})
    here = TransitionTarget(workflow="main", step=0)
    ids: list[str] = []

    def commit(execution_id: str, kind: str) -> float:
        final = kind in ("finish", "error", "cancelled")
        started = time.monotonic()
        store.append_transition(
            execution_id,
            type=TransitionType(kind),
            output={"at": started},
            current=here,
            next=None if final else here,
        )
        return started

    def reply(data: Any) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    reply({"base_url": server.base_url})
    try:
        for line in sys.stdin:
            command, *args = line.split()
            if command == "seed":  # seed N -> N new queued executions
                new = [store.create_execution(task.id, {})[0].id for _ in range(int(args[0]))]
                ids[:] = new
                reply(new)
            elif command == "run":  # run STEPS LO HI -> init, steps, finish; commit times
                steps, lo, hi = int(args[0]), float(args[1]), float(args[2])
                kinds = ["init"] + ["step"] * steps + ["finish"]
                times = []
                for kind in kinds:
                    time.sleep(random.uniform(lo, hi))
                    times.append(commit(ids[0], kind))
                reply(times)
            elif command == "flows":  # flows LO HI -> init, step, step, finish per execution
                lo, hi = float(args[0]), float(args[1])
                flows = {}
                for execution_id in ids:
                    flows[execution_id] = []
                    for kind in ("init", "step", "step", "finish"):
                        time.sleep(random.uniform(lo, hi))
                        flows[execution_id].append(commit(execution_id, kind))
                reply(flows)
            elif command == "round":  # round KIND SPREAD -> one KIND per execution
                kind, spread = args[0], float(args[1])
                for execution_id in ids:
                    commit(execution_id, kind)
                    time.sleep(spread / len(ids))
                reply("ok")
            elif command == "quit":
                break
    finally:
        server.stop()


class Child:
    """The server child process, driven line by line."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    @classmethod
    async def start(cls) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bench_live",
            "--serve",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        child = cls(process, "")
        child.base_url = (await child.read())["base_url"]
        return child

    async def read(self) -> Any:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 600)
        if not line:
            raise RuntimeError("the benchmark server child exited")
        return json.loads(line)

    async def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.read()

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
            await asyncio.wait_for(self.process.wait(), 30)


# ---------------------------------------------------------------------- measuring side


def _client(base_url: str) -> Any:
    from julep_nb.sources.julep.client import Client

    # Every open stream holds a connection: lift httpx's default pool of 100 (idle
    # connections kept stay at its default of 20: httpcore scans them per request).
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    return Client(base_url=base_url, transport=httpx.AsyncHTTPTransport(limits=limits))


class Seen:
    """When each transition (by sequence number) was first seen by one observer."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.count = 0

    def saw(self, count: int) -> None:
        now = time.monotonic()
        for seq in range(self.count + 1, count + 1):
            self.at[seq] = now
        self.count = max(self.count, count)

    def latencies_ms(self, committed: list[float]) -> list[float]:
        return [(self.at[i + 1] - t) * 1000 for i, t in enumerate(committed) if i + 1 in self.at]


async def _poll(client: Any, execution_id: str, interval: float, seen: Seen, total: int) -> None:
    while seen.count < total:
        await asyncio.sleep(interval)
        execution = await client.get_execution(execution_id)
        seen.saw(execution.transition_count or 0)


async def latency(child: Child, quick: bool) -> list[dict[str, Any]]:
    """Commit → client state, for the watcher and for 1 s / 5 s polling loops."""
    from julep_nb.live.watcher import Watcher
    from julep_nb.sources.julep.source import JulepSource

    steps = 40 if quick else 300
    (execution_id,) = await child.ask("seed 1")
    client = _client(child.base_url)
    watcher = Watcher(JulepSource(client), execution_id)  # no coalescing: see every change
    live = Seen()
    watcher.subscribe(lambda state: live.saw(state.seen_count))
    watcher.start()
    total = steps + 2
    pollers = {s: Seen() for s in (1.0, 5.0)}
    polls = [
        asyncio.create_task(_poll(client, execution_id, s, pollers[s], total)) for s in pollers
    ]
    await asyncio.sleep(0.5)  # connected before the first commit
    committed = await child.ask(f"run {steps} 0.02 0.15")
    await asyncio.wait_for(watcher.wait(), 30)
    await asyncio.wait_for(asyncio.gather(*polls), 30)
    await client.aclose()

    ours = live.latencies_ms(committed)
    rows = []
    for q in (50, 99):
        value = percentile(ours, q)
        for interval, seen in pollers.items():
            anchor = percentile(seen.latencies_ms(committed), q)
            rows.append(
                row(
                    f"live: commit→state latency p{q} (vs {interval:g} s polling)",
                    value,
                    "ms",
                    anchor=f"polling every {interval:g} s",
                    anchor_value=anchor,
                    target="p99 ≤ 10 ms" if q == 99 else "",
                    higher_is_better=False,
                )
            )
    return rows


FLOW_STATUSES = {0: "starting", 1: "running", 3: "succeeded"}  # commit index -> new status


async def _sdk_stream(sdk: Any, execution_id: str, seen: dict[str, float]) -> None:
    stream = await sdk.executions.status.stream(execution_id)
    async for execution in stream:
        seen.setdefault(execution.status, time.monotonic())


async def _sdk_poll(sdk: Any, execution_id: str, seen: dict[str, float]) -> None:
    while True:  # the SDK README's loop, awaited
        execution = await sdk.executions.get(execution_id)
        seen.setdefault(execution.status, time.monotonic())
        if execution.status in ("succeeded", "failed", "cancelled"):
            return
        await asyncio.sleep(1.0)


async def status_changes(child: Child, quick: bool) -> list[dict[str, Any]]:
    """Commit → new status seen: the watcher, the SDK's status stream, the SDK polling."""
    from julep import AsyncJulep

    from julep_nb.live.watcher import Watcher
    from julep_nb.sources.julep.source import JulepSource

    n = 4 if quick else 40
    ids = await child.ask(f"seed {n}")
    client = _client(child.base_url)
    # The local server without a key takes loopback requests; the SDK insists on one.
    sdk = AsyncJulep(api_key="unused-locally", base_url=child.base_url, max_retries=0)
    observers: dict[str, dict[str, dict[str, float]]] = {
        name: {i: {} for i in ids} for name in ("julep_nb", "sdk_stream", "sdk_poll")
    }
    watchers = []
    for execution_id in ids:
        watcher = Watcher(JulepSource(client), execution_id)
        seen = observers["julep_nb"][execution_id]
        watcher.subscribe(
            lambda state, seen=seen: seen.setdefault(state.status.value, time.monotonic())
        )
        watcher.start()
        watchers.append(watcher)
    tasks = [asyncio.create_task(_sdk_stream(sdk, i, observers["sdk_stream"][i])) for i in ids] + [
        asyncio.create_task(_sdk_poll(sdk, i, observers["sdk_poll"][i])) for i in ids
    ]
    await asyncio.sleep(1.0)  # every stream open, every poller past its first call
    flows = await child.ask("flows 0.02 0.15")
    await asyncio.wait_for(asyncio.gather(*(w.wait() for w in watchers), *tasks), 60)
    await client.aclose()
    await sdk.close()

    order = list(FLOW_STATUSES.values())

    def latencies(name: str) -> list[float]:
        # A poller may never see a brief status: it learns of it with the next one.
        out = []
        for i in ids:
            seen = observers[name][i]
            for index, status in FLOW_STATUSES.items():
                later = [seen[s] for s in order[order.index(status) :] if s in seen]
                out.append((min(later) - flows[i][index]) * 1000)
        return out

    ours = latencies("julep_nb")
    anchors = {
        "julep SDK status.stream": latencies("sdk_stream"),
        "julep SDK polling (get, sleep 1 s)": latencies("sdk_poll"),
    }
    return [
        row(
            f"live: commit→status seen p{q}, {len(ours)} status changes",
            percentile(ours, q),
            "ms",
            anchor=anchor,
            anchor_value=percentile(theirs, q),
            target="p99 ≤ 10 ms" if q == 99 else "",
            higher_is_better=False,
        )
        for anchor, theirs in anchors.items()
        for q in (50, 99)
    ]


async def many_requests(child: Child, quick: bool) -> list[dict[str, Any]]:
    """Requests/s for N ``get_execution`` started at once: julep_nb, bare httpx, the SDK."""
    from julep import AsyncJulep

    n, rounds = (200, 1) if quick else (1000, 3)
    ids = await child.ask(f"seed {n}")
    client = _client(child.base_url)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    bare = httpx.AsyncClient(base_url=child.base_url, limits=limits)
    sdk = AsyncJulep(api_key="unused-locally", base_url=child.base_url, max_retries=0)

    async def bare_get(execution_id: str) -> Any:
        response = await bare.get(f"/executions/{execution_id}")
        response.raise_for_status()
        return response.json()

    readers: dict[str, Callable[[str], Awaitable[Any]]] = {
        "julep_nb": client.get_execution,
        "httpx": bare_get,
        "sdk": sdk.executions.get,
    }
    rates: dict[str, list[float]] = {name: [] for name in readers}
    for get in readers.values():  # warm each pool
        await asyncio.gather(*(get(i) for i in ids[:20]))
    for _ in range(rounds):  # interleaved, so drift hits all three alike
        for name, get in readers.items():
            began = time.perf_counter()
            got = await asyncio.gather(*(get(i) for i in ids))
            rates[name].append(len(got) / (time.perf_counter() - began))
    await client.aclose()
    await bare.aclose()
    await sdk.close()
    ours = max(rates["julep_nb"])
    return [
        row(
            f"live: {n:,} get_execution at once (best of {rounds})",
            ours,
            "requests/s",
            anchor=anchor,
            anchor_value=max(rates[name]),
        )
        for name, anchor in (
            ("httpx", "bare httpx.AsyncClient"),
            ("sdk", "julep SDK AsyncJulep"),
        )
    ]


async def _lag_while(work: Callable[[], Awaitable[Any]]) -> list[float]:
    """Event-loop lag samples (ms) taken while ``work`` runs."""
    samples: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(LAG_TICK)
            samples.append(max(time.perf_counter() - started - LAG_TICK, 0.0) * 1000)

    prober = asyncio.create_task(probe())
    try:
        await work()
    finally:
        done.set()
        await prober
    return samples


def _rss() -> int:
    gc.collect()
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def concurrency(child: Child, quick: bool) -> list[dict[str, Any]]:
    """Loop lag and memory with N watchers, beside N one-second polling loops."""
    from julep_nb.live.registry import start_watcher, stop_all
    from julep_nb.sources.julep.source import JulepSource

    n = 200 if quick else 500
    rounds = 1 if quick else 5
    spread = 1.0 if quick else 2.0
    ids = await child.ask(f"seed {n}")
    await child.ask("round init 0.5")

    # Anchor: N polling loops, one request a second each, while every execution changes.
    client = _client(child.base_url)
    before = _rss()
    stop = asyncio.Event()

    async def poller(execution_id: str) -> None:
        await asyncio.sleep(random.uniform(0, 1))
        while not stop.is_set():
            await client.get_execution(execution_id)
            await asyncio.sleep(1.0)

    pollers = [asyncio.create_task(poller(i)) for i in ids]
    await asyncio.sleep(1.5)
    poll_bytes = (_rss() - before) / n

    async def change() -> None:
        for _ in range(rounds):
            await child.ask(f"round step {spread}")

    poll_lag = await _lag_while(change)
    stop.set()
    for task in pollers:
        task.cancel()  # most are asleep: no need to wait their second out
    await asyncio.gather(*pollers, return_exceptions=True)
    await client.aclose()

    # julep_nb: N watchers on one loop, through the same changes and to the end.
    client = _client(child.base_url)
    before = _rss()
    watchers = [start_watcher(JulepSource(client), i) for i in ids]
    deadline = time.monotonic() + 120
    while any(w.strategy is None and not w.done for w in watchers):
        if time.monotonic() > deadline:
            raise RuntimeError("watchers did not connect within 120 s")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5 if quick else 1.0)  # streams open and idle
    watch_bytes = (_rss() - before) / n

    async def change_and_finish() -> None:
        await change()
        await child.ask(f"round finish {spread}")
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in watchers)), 120)

    watch_lag = await _lag_while(change_and_finish)
    complete = sum(w.state.seen_count == rounds * 2 + 2 for w in watchers)
    stop_all()
    await client.aclose()
    if complete != n:
        raise RuntimeError(f"only {complete} of {n} watchers saw every transition")

    return [
        row(
            f"live: {n} watchers, event-loop lag p99",
            percentile(watch_lag, 99),
            "ms",
            anchor=f"{n} loops polling every 1 s",
            anchor_value=percentile(poll_lag, 99),
            target="≤ 50 ms",
            higher_is_better=False,
        ),
        row(
            f"live: memory per watcher ({n} watching)",
            watch_bytes / 1024,
            "KiB",
            anchor="per 1 s polling loop",
            anchor_value=max(poll_bytes, 0) / 1024 or None,  # RSS may shrink meanwhile
            higher_is_better=False,
        ),
    ]


async def _main(quick: bool) -> list[dict[str, Any]]:
    child = await Child.start()
    try:
        rows = await latency(child, quick)
        rows += await status_changes(child, quick)
        rows += await many_requests(child, quick)
        rows += await concurrency(child, quick)
    finally:
        await child.close()
    return rows


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        from benchmarks.__main__ import print_table

        print_table(main("--quick" in sys.argv))
