"""A minimal HTTP/1.1 client that creates executions and follows them to the end.

The server's own executions/s is measured with it (``bench_local_server``,
``bench_batch``): httpx spends more CPU per request than the server does, so a
figure taken with httpx would measure httpx. It runs in the server's process
(a notebook's case: client and server share the GIL) or, as
``python -m benchmarks._raw_client PORT TASK_ID MODE N``, in a process of its
own (a ``julep-nb serve`` server's case), where it prints ``warm`` once warmed up,
then the rate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

__all__ = ["CONCURRENCY", "bulk_rate", "per_row_rate"]

CONCURRENCY = 16


class _RawHTTP:
    """A keep-alive HTTP/1.1 connection on asyncio streams, doing the least a client can."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> _RawHTTP:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        lower = header.lower()
        if b"transfer-encoding: chunked" in lower:
            return status, await self._chunks()
        length = int(lower.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        return status, await self.reader.readexactly(length)

    async def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _follow(http: _RawHTTP, execution_id: str) -> None:
    """Read the execution's status.stream to its end; it must have succeeded."""
    _, events = await http.request("GET", f"/executions/{execution_id}/status.stream")
    if b'"status":"succeeded"' not in events.rsplit(b"data: ", 1)[-1]:
        raise RuntimeError(f"execution did not succeed: {events[-300:]!r}")


async def _run_one(http: _RawHTTP, task_id: str, x: int) -> None:
    body = b'{"input":{"x":%d}}' % x
    status, created = await http.request("POST", f"/tasks/{task_id}/executions", body)
    if status != 201:
        raise RuntimeError(f"create failed: {status} {created[:300]!r}")
    await _follow(http, json.loads(created)["id"])


async def per_row_rate(port: int, task_id: str, n: int, *, warm: bool = False) -> float:
    """Executions/s: each created with one request, then followed on status.stream,
    :data:`CONCURRENCY` at a time. ``warm``: print ``warm`` after the warm-up."""
    clients = [await _RawHTTP.connect(port) for _ in range(CONCURRENCY)]
    await asyncio.gather(*(_run_one(c, task_id, 0) for c in clients))  # warm up
    if warm:
        print("warm", flush=True)
    queue = iter(range(n))

    async def worker(http: _RawHTTP) -> None:
        for i in queue:
            await _run_one(http, task_id, i)

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed = time.perf_counter() - began
    for c in clients:
        await c.close()
    return n / elapsed


async def _follow_then_idle(
    http: _RawHTTP, execution_id: str, idle: asyncio.Queue[_RawHTTP]
) -> None:
    await _follow(http, execution_id)
    idle.put_nowait(http)


async def _bulk_rounds(port: int, task_id: str, n: int) -> None:
    """Create ``n`` executions through julep_nb's bulk route, :data:`CONCURRENCY` in flight:
    whenever some end, one request creates as many new ones; each followed on status.stream."""
    creator = await _RawHTTP.connect(port)
    idle: asyncio.Queue[_RawHTTP] = asyncio.Queue()
    for _ in range(CONCURRENCY):
        idle.put_nowait(await _RawHTTP.connect(port))
    follows: list[asyncio.Task[None]] = []
    made = 0
    while made < n:
        free = [await idle.get()]
        while not idle.empty():
            free.append(idle.get_nowait())
        k = min(len(free), n - made)
        items = [{"input": {"x": made + i}} for i in range(k)]
        path = f"/julep_nb/tasks/{task_id}/executions/bulk"
        status, answer = await creator.request("POST", path, json.dumps({"items": items}).encode())
        if status != 201:
            raise RuntimeError(f"bulk create failed: {status} {answer[:300]!r}")
        ids = [e["id"] for e in json.loads(answer)["items"]]
        for http, execution_id in zip(free, ids, strict=False):
            follows.append(asyncio.create_task(_follow_then_idle(http, execution_id, idle)))
        for http in free[k:]:
            idle.put_nowait(http)
        made += k
    await asyncio.gather(*follows)
    for _ in range(CONCURRENCY):
        await (await idle.get()).close()
    await creator.close()


async def bulk_rate(port: int, task_id: str, n: int, *, warm: bool = False) -> float:
    """Executions/s, created through julep_nb's bulk route
    (``POST /julep_nb/tasks/{id}/executions/bulk``) and followed on status.stream."""
    await _bulk_rounds(port, task_id, CONCURRENCY)  # warm up
    if warm:
        print("warm", flush=True)
    began = time.perf_counter()
    await _bulk_rounds(port, task_id, n)
    return n / (time.perf_counter() - began)


if __name__ == "__main__":
    _port, _task_id, _mode, _n = sys.argv[1:5]
    _measure = per_row_rate if _mode == "row" else bulk_rate
    print(asyncio.run(_measure(int(_port), _task_id, int(_n), warm=True)), flush=True)
