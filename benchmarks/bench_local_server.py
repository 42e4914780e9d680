"""The local server: throughput and push latency, against a 1 s DB-polling stream.

Rows (all measured in one run, on WAL file databases):

- executions/s: a 3-step ``evaluate`` task, each execution created with
  ``POST /tasks/{id}/executions`` and followed on ``status.stream`` until it
  succeeds, 16 at a time, by the minimal HTTP/1.1 client of
  :mod:`benchmarks._raw_client` in a process of its own, against ``julep-nb
  serve`` in a process of its own (the server's figure), with that process's CPU
  per execution; again with the executions created through julep_nb's bulk route
  (one request for as many as just ended);
- the anchor of those: the HTTP floor (:mod:`benchmarks._http_floor`), a bare uvicorn
  app answering the same requests with constant bodies, driven the same way side by
  side: what this machine's sockets and uvicorn allow at the moment of the run;
- the same against a server started in this process with ``julep_nb.local.start``
  (as a notebook uses it), the client in this process too (client and server
  share the GIL, as in a notebook), and by httpx (which costs more CPU per
  request than the server);
- transitions/s: transitions committed to the store and received by a client
  of ``transitions.stream``;
- commit → SSE bytes latency, p50 and p99, for ``status.stream`` and
  ``transitions.stream``: from the moment the COMMIT returned (a store listener
  takes the time) until the event's bytes are read by a client on loopback, in a
  child process so that its timestamps never wait for this process's GIL;
- the anchor: a status stream that polls the database once a second, which is
  what hosted Julep's ``status.stream`` does, serving the same store side by
  side; its commit → bytes latency is what a user of Julep waits for.

Run: ``python -m benchmarks.bench_local_server [--quick]``.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from benchmarks._raw_client import CONCURRENCY, bulk_rate, per_row_rate
from benchmarks._util import percentile, row
from julep_nb.local import start
from julep_nb.local.server import LocalServer
from julep_nb.local.store import Store
from julep_nb.local.streams import format_sse
from julep_nb.sources.julep.models import TransitionTarget, TransitionType

ROOT = Path(__file__).resolve().parents[1]
POLL_INTERVAL = 1.0  # hosted Julep's status.stream polls its database once a second
TASK = {
    "name": "three evaluates",
    "main": [
        {"evaluate": {"a": "$ _['x'] + 1"}},
        {"evaluate": {"b": "$ _['a'] * 2"}},
        {"evaluate": {"c": "$ str(_['b'])"}},
    ],
}
HERE = TransitionTarget(workflow="main", step=0)
T = TransitionType


# ---------------------------------------------------------------------- executions/s


async def _run_one(http: httpx.AsyncClient, task_id: str, x: int) -> None:
    created = await http.post(f"/tasks/{task_id}/executions", json={"input": {"x": x}})
    created.raise_for_status()
    url = f"/executions/{created.json()['id']}/status.stream"
    last = ""
    async with http.stream("GET", url) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                last = line
    if '"status":"succeeded"' not in last:
        raise RuntimeError(f"execution did not succeed: {last[:300]}")


async def executions_per_second(server: LocalServer, n: int) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as http:
        task_id = await _bench_task(server.base_url)
        await asyncio.gather(*(_run_one(http, task_id, i) for i in range(CONCURRENCY)))
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                await _run_one(http, task_id, i)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - began)


async def _bench_task(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as setup:
        agent = (await setup.post("/agents", json={"name": "bench"})).json()
        task = (await setup.post(f"/agents/{agent['id']}/tasks", json=TASK)).json()
    return str(task["id"])


async def raw_executions_per_second(server: LocalServer, n: int) -> float:
    """Executions/s with the minimal client in this process: create, then follow
    status.stream to the end."""
    return await per_row_rate(server.port, await _bench_task(server.base_url), n)


async def raw_bulk_executions_per_second(server: LocalServer, n: int) -> float:
    """As :func:`raw_executions_per_second`, created through julep_nb's bulk route
    (``POST /julep_nb/tasks/{id}/executions/bulk``)."""
    return await bulk_rate(server.port, await _bench_task(server.base_url), n)


@contextmanager
def serve_process(db: Path) -> Iterator[tuple[int, psutil.Process]]:
    """``julep-nb serve`` in a process of its own on ``db``: (its port, its process)."""
    serve = ["-m", "julep_nb.local.server", "serve", "--log-level", "warning", "--db", str(db)]
    with _serving("julep-nb serve", [*serve, "--port"]) as served:
        yield served


@contextmanager
def floor_process() -> Iterator[tuple[int, psutil.Process]]:
    """The HTTP floor (:mod:`benchmarks._http_floor`) in a process of its own."""
    with _serving("the HTTP floor", ["-m", "benchmarks._http_floor"]) as served:
        yield served


@contextmanager
def _serving(what: str, arguments: list[str]) -> Iterator[tuple[int, psutil.Process]]:
    """``python ARGUMENTS PORT`` in a process of its own, once it answers ``/healthz``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, *arguments, str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start") from None
                time.sleep(0.1)
        yield port, psutil.Process(server.pid)
    finally:
        server.terminate()
        server.wait(30)


def served_executions_per_second(
    port: int, server: psutil.Process, n: int, mode: str
) -> tuple[float, float]:
    """(executions/s, the server process's CPU ms per execution) with the minimal client
    in a process of its own (``mode``: ``row`` or ``bulk``); the CPU is taken from the
    end of the client's warm-up to its end."""
    task_id = asyncio.run(_bench_task(f"http://127.0.0.1:{port}"))
    command = [sys.executable, "-m", "benchmarks._raw_client", str(port), task_id, mode, str(n)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    if child.stdout.readline().strip() != "warm":
        raise RuntimeError(f"the {mode} client failed before its warm-up ended")
    began = sum(server.cpu_times()[:2])
    rate = float(child.stdout.readline())
    cpu = sum(server.cpu_times()[:2]) - began
    if child.wait(30) != 0:
        raise RuntimeError(f"the {mode} client failed (exit status {child.returncode})")
    return rate, cpu * 1000 / n


# ---------------------------------------------------------------------- transitions/s


def _new_execution(store: Store) -> str:
    agent = store.create_agent({"name": "bench"})
    task = store.create_task(agent.id, {"name": "direct", "main": []})
    return store.create_execution(task.id, {})[0].id


def _append(store: Store, execution_id: str, type_: TransitionType, output: Any = None) -> None:
    final = type_ in (T.FINISH, T.ERROR, T.CANCELLED)
    store.append_transition(
        execution_id, type=type_, output=output, current=HERE, next=None if final else HERE
    )


def transitions_per_second(server: LocalServer, n: int) -> float:
    """Commit ``n`` transitions on one thread while a client reads them all on another."""
    store = server.store
    execution_id = _new_execution(store)
    url = f"{server.base_url}/executions/{execution_id}/transitions.stream"
    ready, received = threading.Event(), []

    def read() -> None:
        with httpx.Client(timeout=30) as http, http.stream("GET", url) as response:
            ready.set()
            received.extend(line for line in response.iter_lines() if line[:3] == "id:")

    reader = threading.Thread(target=read)
    reader.start()
    ready.wait(10)
    began = time.perf_counter()
    _append(store, execution_id, T.INIT)
    for i in range(n - 2):
        _append(store, execution_id, T.STEP, {"i": i, "text": "lorem ipsum " * 8})
    _append(store, execution_id, T.FINISH)
    reader.join(60)
    elapsed = time.perf_counter() - began
    if len(received) != n:
        raise RuntimeError(f"the stream delivered {len(received)} of {n} transitions")
    return n / elapsed


# ---------------------------------------------------------------------- latency


# Run in a child process so that the reader's timestamps do not wait for this
# process's GIL (the server thread and the committing thread hold it in turns).
_READER = """
import socket, sys, time
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
sock = socket.create_connection((url.hostname, url.port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.sendall(f"GET {url.path} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
out = sys.stdout
while True:
    chunk = sock.recv(65536)
    now = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on Linux
    if not chunk:
        break
    count = chunk.count(b"\\ndata: ") + chunk.startswith(b"data: ")
    if count:
        out.write(f"{now} {count}\\n")
        out.flush()
"""


class _Arrivals:
    """Reads one SSE stream in a child process; records when each data event arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: list[float] = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _READER, url], stdout=subprocess.PIPE, text=True
        )
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp, count = line.split()
            with self.changed:
                self.times.extend([float(stamp)] * int(count))
                self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.times) >= count, timeout):
                raise RuntimeError(f"{self.url}: event {count} did not arrive in {timeout} s")
            return self.times[count - 1]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self.thread.join(5)


def _commit_and_time(store: Store, execution_id: str, type_: TransitionType, i: int) -> float:
    """Append one transition; the time its COMMIT returned (seen by a store listener)."""
    stamp: list[float] = []
    remove = store.add_listener(lambda t, seq: stamp.append(time.perf_counter()))
    try:
        _append(store, execution_id, type_, {"i": i})
    finally:
        remove()
    return stamp[0]


def push_latency(server: LocalServer, samples: int) -> dict[str, list[float]]:
    """Commit → bytes latency (ms) on both local streams, one change at a time."""
    store = server.store
    execution_id = _new_execution(store)
    base = f"{server.base_url}/executions/{execution_id}"
    status = _Arrivals(f"{base}/status.stream")
    status.wait_for(1, 10)  # the event sent at connect
    transitions = _Arrivals(f"{base}/transitions.stream")
    _append(store, execution_id, T.INIT)
    status.wait_for(2, 10)
    transitions.wait_for(1, 10)  # replayed if it subscribed after the commit
    out: dict[str, list[float]] = {"status": [], "transitions": []}
    for i in range(samples):
        # wait ↔ resume: every commit changes the status, so both streams send an event.
        type_ = T.WAIT if i % 2 == 0 else T.RESUME
        time.sleep(0.002)
        began = _commit_and_time(store, execution_id, type_, i)
        out["status"].append((status.wait_for(i + 3, 5) - began) * 1000)
        out["transitions"].append((transitions.wait_for(i + 2, 5) - began) * 1000)
    _append(store, execution_id, T.CANCELLED)
    status.close()
    transitions.close()
    return out


# ---------------------------------------------------------------------- the anchor


def _polling_app(store: Store) -> Starlette:
    """A status stream that polls the database once a second (hosted Julep's design)."""

    async def stream(request: Request) -> StreamingResponse:
        execution_id = request.path_params["execution_id"]

        async def events() -> AsyncIterator[bytes]:
            last = None
            while True:
                execution = store.get_execution(execution_id)
                if execution.updated_at != last:
                    last = execution.updated_at
                    yield format_sse(execution.model_dump_json())
                    if execution.status.is_terminal:
                        return
                await asyncio.sleep(POLL_INTERVAL)

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/executions/{execution_id}/status.stream", stream)])


def polling_latency(store: Store, samples: int) -> list[float]:
    """Commit → bytes latency (ms) of the 1 s polling stream, on the same store."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_polling_app(store), log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        execution_id = _new_execution(store)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/executions/{execution_id}/status.stream"
        arrivals = _Arrivals(url)
        arrivals.wait_for(1, 10)
        _append(store, execution_id, T.INIT)
        arrivals.wait_for(2, 5)
        latencies = []
        for i in range(samples):
            time.sleep(0.15 + (i * 0.37) % POLL_INTERVAL)  # commits land anywhere in a poll
            began = _commit_and_time(store, execution_id, T.WAIT if i % 2 == 0 else T.RESUME, i)
            latencies.append((arrivals.wait_for(i + 3, 5) - began) * 1000)
        _append(store, execution_id, T.CANCELLED)  # ends the stream at the next poll
        arrivals.close()
        return latencies
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# ---------------------------------------------------------------------- main


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Measure and return the rows (see the module docstring)."""
    n_exec, n_trans, n_lat, n_poll = (300, 2000, 200, 3) if quick else (3000, 10000, 1000, 20)
    with tempfile.TemporaryDirectory() as tmp:
        with serve_process(Path(tmp) / "serve.db") as (port, served):
            own_rate, own_cpu = served_executions_per_second(port, served, n_exec, "row")
            own_bulk, own_bulk_cpu = served_executions_per_second(port, served, n_exec, "bulk")
        with floor_process() as (port, served):
            floor_rate, floor_cpu = served_executions_per_second(port, served, n_exec, "row")
        with start(db=Path(tmp) / "bench.db") as server:
            exec_rate = asyncio.run(raw_executions_per_second(server, n_exec))
            httpx_rate = asyncio.run(executions_per_second(server, n_exec // 2))
            trans_rate = transitions_per_second(server, n_trans)
            local = push_latency(server, n_lat)
            polled = polling_latency(server.store, n_poll)
    anchor = "1 s DB-polling status stream (hosted Julep)"
    poll_p50, poll_p99 = percentile(polled, 50), percentile(polled, 99)
    rows = [
        row(
            "local: executions/s (3-step evaluate, HTTP; julep-nb serve)",
            own_rate,
            "exec/s",
            target="≥ 1,000",
        ),
        row(
            "local: executions/s (3-step evaluate, HTTP; julep-nb serve)",
            own_rate,
            "exec/s",
            anchor="the HTTP floor: a bare uvicorn app answering the same requests",
            anchor_value=floor_rate,
        ),
        row("local: server CPU per execution", own_cpu, "ms", target="≤ 1 ms"),
        row(
            "local: server CPU per execution",
            own_cpu,
            "ms",
            anchor="the HTTP floor: a bare uvicorn app answering the same requests",
            anchor_value=floor_cpu,
            higher_is_better=False,
        ),
        row(
            "local: executions/s, created through the bulk route (julep_nb extension)",
            own_bulk,
            "exec/s",
            anchor="one create request each (the first row)",
            anchor_value=own_rate,
        ),
        row("local: server CPU per execution, bulk route", own_bulk_cpu, "ms"),
        row(
            "local: executions/s, server and client in one process (a notebook's case)",
            exec_rate,
            "exec/s",
            anchor="julep-nb serve (the first row)",
            anchor_value=own_rate,
        ),
        row("local: executions/s, httpx client in-process", httpx_rate, "exec/s"),
        row("local: transitions/s committed + streamed", trans_rate, "transitions/s"),
    ]
    for stream in ("status", "transitions"):
        for q, anchor_value in ((50, poll_p50), (99, poll_p99)):
            rows.append(
                row(
                    f"local: commit → {stream}.stream bytes p{q}",
                    percentile(local[stream], q),
                    "ms",
                    anchor=anchor,
                    anchor_value=anchor_value,
                    target="p99 ≤ 5 ms" if q == 99 else "",
                    higher_is_better=False,
                )
            )
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main(quick="--quick" in sys.argv))
