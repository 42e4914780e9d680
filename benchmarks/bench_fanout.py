"""Local server SSE fan-out: one execution's transitions stream watched by 500 clients.

The server runs in a child process (``bench_live --serve``) and commits transitions
into its store, 20–50 ms apart, noting when each COMMIT returned. Here, 500 minimal
asyncio clients (raw HTTP/1.1, so the reading side costs little) hold
``transitions.stream`` open and note when each event arrives. Every client must
receive every event; the figure is commit → the LAST of the 500 clients holding it,
p50/p99, beside the same with one client (the anchor).

    python -m benchmarks --only fanout [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from benchmarks._util import percentile, row
from benchmarks.bench_live import Child

MARK = b"\nid: "  # every transitions.stream event starts with an id: line


async def reader(url: str) -> list[float]:
    """Arrival times (monotonic) of each event on one stream, until the server closes it."""
    parts = urlsplit(url)
    r, w = await asyncio.open_connection(parts.hostname, parts.port)
    # Connection: close, or the reader would wait for the keep-alive timeout after the end
    w.write(f"GET {parts.path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    arrivals: list[float] = []
    tail = b""
    while True:
        chunk = await r.read(65536)
        if not chunk:
            break
        now = time.monotonic()
        # Keep the last few bytes so a mark split across reads is still counted once.
        data = tail + chunk
        arrivals.extend([now] * data.count(MARK))
        tail = data[-(len(MARK) - 1) :]
    w.close()
    return arrivals


async def fan_out(child: Child, clients: int, steps: int) -> tuple[list[float], int]:
    """Per-event latency (ms) to the last client; and how many clients saw every event."""
    (execution_id,) = await child.ask("seed 1")
    url = f"{child.base_url}/executions/{execution_id}/transitions.stream"
    readers = [asyncio.create_task(reader(url)) for _ in range(clients)]
    await asyncio.sleep(0.5 + clients / 500)  # connected; headers are sent on the first event
    committed = await child.ask(f"run {steps} 0.02 0.05")
    got = await asyncio.wait_for(asyncio.gather(*readers), 120)
    total = len(committed)
    complete = sum(len(times) == total for times in got)
    latencies = [
        (max(times[i] for times in got if len(times) > i) - t) * 1000
        for i, t in enumerate(committed)
    ]
    return latencies, complete


async def _main(quick: bool) -> list[dict[str, Any]]:
    clients, steps = (200, 20) if quick else (500, 150)
    child = await Child.start()
    try:
        one, _ = await fan_out(child, 1, steps)
        many, complete = await fan_out(child, clients, steps)
    finally:
        await child.close()
    rows = [
        row(
            f"local: SSE fan-out, clients with every event ({steps + 2} events)",
            float(complete),
            "clients",
            anchor="clients connected",
            anchor_value=float(clients),
            target="all (every client, every event)",
        )
    ]
    for q in (50, 99):
        rows.append(
            row(
                f"local: fan-out commit→last of {clients} clients p{q}",
                percentile(many, q),
                "ms",
                anchor="1 client",
                anchor_value=percentile(one, q),
                higher_is_better=False,
            )
        )
    if complete != clients:
        raise RuntimeError(f"only {complete} of {clients} clients received every event")
    return rows


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main("--quick" in sys.argv))
