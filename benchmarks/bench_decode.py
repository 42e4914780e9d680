"""SSE decode (+ parse + reduce) throughput on the same bytes, three readers side by side.

The bytes are a transitions stream as the local server sends it (``id:`` lines, JSON
transitions, a ``: ping`` comment now and then), served in 16 KiB chunks from memory
through ``httpx.MockTransport`` so the network is out of the picture and all three
readers see identical chunks:

- julep_nb: :class:`julep_nb.sources.julep.sse.EventStream`, and the full
  ``Client.stream_transitions`` path (typed transitions) feeding ``live.state.reduce``;
- httpx-sse alone: ``aconnect_sse(...).aiter_sse()``;
- the official SDK's decoder: ``julep._streaming.SSEDecoder().aiter_bytes``.

Run: ``python -m benchmarks.bench_decode [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from benchmarks._util import row
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.models import Transition
from julep_nb.sources.julep.sse import EventStream

CHUNK = 16 * 1024
URL = "http://bench.invalid/executions/e/transitions.stream"
TARGET_HTTPX = "≥ 0.8× httpx-sse"
TARGET_SDK = "> 1× SDK decoder"


def make_body(n: int) -> bytes:
    """``n`` transitions (init, steps, finish) as SSE, with a ping every 50 events."""
    parts = []
    for i in range(n):
        kind = "init" if i == 0 else "finish" if i == n - 1 else "step"
        transition = {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "execution_id": "00000000-0000-4000-8000-00000000e1ec",
            "type": kind,
            "output": {"step": i, "result": {"text": "lorem ipsum " * 8, "n": [1, 2, 3]}},
            "current": {"workflow": "main", "step": i, "scope_id": None},
            "next": None if kind == "finish" else {"workflow": "main", "step": i + 1},
            "step_label": None,
            "created_at": f"2025-01-01T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}"
            f".{i % 1000:03d}000+00:00",
            "updated_at": None,
            "metadata": {"step_type": "evaluate"},
        }
        parts.append(f"id: {i + 1}\ndata: {json.dumps(transition)}\n\n")
        if i % 50 == 49:
            parts.append(": ping\n\n")
    return "".join(parts).encode()


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._body
        for i in range(0, len(body), CHUNK):
            yield body[i : i + CHUNK]


def _transport(body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Chunks(body)
        )

    return httpx.MockTransport(handler)


def _reducer() -> Callable[[Any, Transition], Any] | None:
    try:
        from julep_nb.live.state import reduce
    except ImportError:  # the live layer is optional for this benchmark
        return None
    return reduce


# ------------------------------------------------------------------ the pipelines
# Each returns how many items it produced; ``full`` adds parse + reduce.


async def julep_nb_reader(body: bytes, full: bool) -> int:
    if full:
        reduce = _reducer()
        state: Any = None
        count = 0
        async with Client("http://bench.invalid", transport=_transport(body)) as client:
            async for transition in client.stream_transitions("e"):
                state = reduce(state, transition) if reduce else transition
                count += 1
        return count
    count = 0
    async with httpx.AsyncClient(transport=_transport(body)) as http:
        async for _event in EventStream(http, "GET", URL):
            count += 1
    return count


async def httpx_sse_reader(body: bytes, full: bool) -> int:
    reduce = _reducer() if full else None
    state: Any = None
    count = 0
    async with httpx.AsyncClient(transport=_transport(body)) as http:
        async with aconnect_sse(http, "GET", URL) as source:
            async for event in source.aiter_sse():
                if not event.data:  # its phantom events after a ping; not real work
                    continue
                if full:
                    transition = Transition.model_validate_json(event.data)
                    state = reduce(state, transition) if reduce else transition
                count += 1
    return count


async def sdk_reader(body: bytes, full: bool) -> int:
    from julep._streaming import SSEDecoder

    reduce = _reducer() if full else None
    state: Any = None
    count = 0
    async with httpx.AsyncClient(transport=_transport(body)) as http:
        async with http.stream("GET", URL) as response:
            async for event in SSEDecoder().aiter_bytes(response.aiter_bytes()):
                if not event.data:
                    continue
                if full:
                    transition = Transition.model_validate_json(event.data)
                    state = reduce(state, transition) if reduce else transition
                count += 1
    return count


Pipeline = Callable[[bytes, bool], Awaitable[int]]
PIPELINES: dict[str, Pipeline] = {
    "julep_nb": julep_nb_reader,
    "httpx-sse": httpx_sse_reader,
    "sdk": sdk_reader,
}


def _measure(body: bytes, n: int, full: bool, rounds: int) -> dict[str, float]:
    """Best events/s of each pipeline over ``rounds``, interleaved so noise is shared."""
    best = dict.fromkeys(PIPELINES, 0.0)
    for _ in range(rounds):
        for name, pipeline in PIPELINES.items():
            gc.collect()
            started = time.perf_counter()
            count = asyncio.run(pipeline(body, full))
            elapsed = time.perf_counter() - started
            if count != n:
                raise AssertionError(f"{name} produced {count} events, expected {n}")
            best[name] = max(best[name], n / elapsed)
    return best


def main(quick: bool) -> list[dict[str, Any]]:
    """Rows: decode-only and decode+parse+reduce throughput vs httpx-sse and the SDK."""
    n = 5_000 if quick else 50_000
    rounds = 3 if quick else 5
    body = make_body(n)
    rows = []
    for full, what in ((False, "decode"), (True, "decode+parse+reduce")):
        rates = _measure(body, n, full, rounds)
        mine = rates["julep_nb"]
        rows.append(
            row(
                f"SSE {what} ({n} transitions)",
                mine,
                "events/s",
                anchor="httpx-sse alone",
                anchor_value=rates["httpx-sse"],
                target=TARGET_HTTPX,
            )
        )
        rows.append(
            row(
                f"SSE {what} ({n} transitions)",
                mine,
                "events/s",
                anchor="julep SDK decoder",
                anchor_value=rates["sdk"],
                target=TARGET_SDK,
            )
        )
    return rows


if __name__ == "__main__":
    for r in main(quick="--quick" in sys.argv):
        print(r)
