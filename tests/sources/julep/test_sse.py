"""The reconnecting SSE reader against real loopback servers that misbehave."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from julep_nb.sources.julep.errors import AuthError, NotFoundError, StreamError, TransportError
from julep_nb.sources.julep.sse import EventStream, ServerSentEvent
from tests.faults import (
    FaultServer,
    Request,
    Responder,
    closed_port_url,
    format_event,
    json_reply,
    sse_replay,
    transition_events,
)

KEY = "sk-julep-RECOGNISABLE-0123456789"
FAST = {"backoff": 0.01, "max_attempts": 3}


async def collect(stream: EventStream, limit: int = 1000) -> list[ServerSentEvent]:
    out: list[ServerSentEvent] = []
    async with asyncio.timeout(5):
        async with stream:
            async for event in stream:
                out.append(event)
                if len(out) >= limit:
                    break
    return out


def is_finish(event: ServerSentEvent | None) -> bool:
    return event is not None and json.loads(event.data)["type"] == "finish"


@pytest.fixture
async def http():
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


@pytest.mark.parametrize("clean_close", [False, True], ids=["broken", "clean-close"])
async def test_stream_dropped_every_k_events_delivers_each_event_once(http, clean_close):
    events = transition_events(10)
    handler = sse_replay(events, drop_every=3, clean_close=clean_close)
    async with FaultServer(handler) as server:
        stream = EventStream(http, "GET", f"{server.base_url}/s", end_on_close=is_finish, **FAST)
        got = await collect(stream)
    assert [e.id for e in got] == [i for i, _ in events]
    assert [e.data for e in got] == [d for _, d in events]
    # Each reconnect resumed after the last event it had seen.
    resumed = [r.headers.get("last-event-id") for r in server.requests]
    assert resumed == [None, "3", "6", "9"]
    assert stream.last_event_id == "10"


async def test_half_an_event_before_a_drop_is_discarded_then_replayed(http):
    events = transition_events(6)
    handler = sse_replay(events, drop_every=2, split_last=True)
    async with FaultServer(handler) as server:
        stream = EventStream(http, "GET", f"{server.base_url}/s", end_on_close=is_finish, **FAST)
        got = await collect(stream)
    assert [e.id for e in got] == ["1", "2", "3", "4", "5", "6"]
    assert all(json.loads(e.data) for e in got)


async def test_comment_after_id_lines_yields_no_phantom_empty_events(http):
    events = transition_events(4)
    async with FaultServer(sse_replay(events, comment_after=True)) as server:
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    # httpx-sse alone yields an empty event for every ": ping" after an id line.
    assert [e.data for e in got] == [d for _, d in events]


async def test_httpx_sse_alone_does_produce_the_phantoms(http):
    from httpx_sse import aconnect_sse

    events = transition_events(3)
    async with FaultServer(sse_replay(events, comment_after=True)) as server:
        async with aconnect_sse(http, "GET", f"{server.base_url}/s") as source:
            raw = [e async for e in source.aiter_sse()]
    assert sum(1 for e in raw if e.data == "") == 3  # what the reader filters out


async def test_401_raises_auth_error_without_retrying(http):
    body = {"error": {"message": "Invalid API key", "code": "http_401", "type": "http_error"}}
    async with FaultServer(json_reply(401, body)) as server:
        url = f"{server.base_url}/s?api_key={KEY}"
        with pytest.raises(AuthError) as caught:
            await collect(EventStream(http, "GET", url, max_attempts=5, backoff=0.01))
    assert server.count() == 1
    assert caught.value.status == 401
    assert "Invalid API key" in str(caught.value)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.url)


async def test_404_raises_not_found_without_retrying(http):
    async with FaultServer(json_reply(404, {"detail": "Execution not found"})) as server:
        with pytest.raises(NotFoundError, match="Execution not found"):
            await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    assert server.count() == 1


async def test_wrong_content_type_names_what_came_back(http):
    async with FaultServer(json_reply(200, {"items": [], "hint": "x" * 500})) as server:
        with pytest.raises(StreamError) as caught:
            await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    message = str(caught.value)
    assert "expected text/event-stream" in message.lower()
    assert "application/json" in message and '{"items": []' in message
    assert len(message) < 500  # the body is cut to a snippet
    assert server.count() == 1


async def test_server_down_gives_transport_error_naming_url_without_key(http):
    url = f"{closed_port_url()}/executions/x/status.stream?api_key={KEY}"
    stream = EventStream(http, "GET", url, **FAST)
    with pytest.raises(TransportError) as caught:
        await collect(stream)
    message = str(caught.value)
    assert "127.0.0.1" in message and "/executions/x/status.stream" in message
    assert "3 attempts" in message and "JULEP_BASE_URL" in message
    assert KEY not in message


async def test_gives_up_with_stream_error_after_bounded_empty_connections(http):
    async def closes_at_once(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        await reply.end()

    async with FaultServer(closes_at_once) as server:
        stream = EventStream(http, "GET", f"{server.base_url}/s", end_on_close=False, **FAST)
        with pytest.raises(StreamError, match="after 3 attempts"):
            await collect(stream)
    assert server.count() == 3


async def test_5xx_is_retried_then_the_stream_is_read(http):
    events = transition_events(2)
    replay = sse_replay(events)

    async def flaky(request: Request, reply: Responder) -> None:
        if len(server.requests) <= 2:
            await reply.send_json(503, {"error": {"message": "busy"}}, {"Retry-After": "0.1"})
        else:
            await replay(request, reply)

    async with FaultServer(flaky) as server:
        started = time.monotonic()
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
        elapsed = time.monotonic() - started
    assert [e.id for e in got] == ["1", "2"]
    assert server.count() == 3
    assert elapsed >= 0.2  # Retry-After floored both waits


async def test_reconnect_waits_at_least_the_servers_retry_field(http):
    gaps: list[float] = []

    async def handler(request: Request, reply: Responder) -> None:
        gaps.append(time.monotonic())
        await reply.start_stream()
        if request.headers.get("last-event-id") == "1":
            await reply.send(format_event('{"type": "finish"}', id="2"))
            await reply.end()
        else:
            await reply.send(format_event('{"type": "init"}', id="1", retry=300))
            await reply.drop()

    async with FaultServer(handler) as server:
        stream = EventStream(http, "GET", f"{server.base_url}/s", backoff=0.001)
        got = await collect(stream)
    assert [e.id for e in got] == ["1", "2"]
    assert stream.retry == 0.3
    assert gaps[1] - gaps[0] >= 0.3


async def test_silent_stream_is_treated_as_dropped_by_the_read_timeout(http):
    events = transition_events(3)
    quiet_once = sse_replay(events[:1], idle_after=3, close_at_end=False)
    rest = sse_replay(events)

    async def handler(request: Request, reply: Responder) -> None:
        first = len(server.requests) == 1
        await (quiet_once if first else rest)(request, reply)

    async with FaultServer(handler) as server:
        stream = EventStream(
            http, "GET", f"{server.base_url}/s", read_timeout=0.2, end_on_close=is_finish, **FAST
        )
        started = time.monotonic()
        got = await collect(stream)
    assert [e.id for e in got] == ["1", "2", "3"]
    assert stream.connections == 2
    assert time.monotonic() - started < 2


async def test_204_means_do_not_reconnect(http):
    async def no_content(request: Request, reply: Responder) -> None:
        await reply.send_raw(204, b"", {})

    async with FaultServer(no_content) as server:
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", end_on_close=False))
    assert got == [] and server.count() == 1


async def test_clean_close_ends_the_stream_when_close_is_normal(http):
    events = transition_events(3)
    async with FaultServer(sse_replay(events, clean_close=True)) as server:
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    assert len(got) == 3 and server.count() == 1


async def test_slow_bytes_split_anywhere_decode_to_the_same_events(http):
    body = "\ufeff" + "".join(format_event(d, id=i) for i, d in transition_events(3))
    body = body.replace("\n", "\r\n")  # CRLF line ends, a BOM, multi-byte characters

    async def dribble(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        raw = body.encode()
        for i in range(0, len(raw), 7):  # 7-byte pieces split "é" and "✓" mid-character
            await reply.send(raw[i : i + 7])
        await reply.end()

    async with FaultServer(dribble) as server:
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    assert [json.loads(e.data)["output"]["text"] for e in got] == ["héllo ✓"] * 3
    assert [e.id for e in got] == ["1", "2", "3"]


async def test_empty_id_field_resets_last_event_id(http):
    async def handler(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        if len(server.requests) == 1:
            await reply.send(format_event("a", id="1") + "id\ndata: b\n\n")
            await reply.drop()
        else:
            await reply.send(format_event("c"))
            await reply.end()

    async with FaultServer(handler) as server:
        got = await collect(EventStream(http, "GET", f"{server.base_url}/s", **FAST))
    assert [e.data for e in got] == ["a", "b", "c"]
    assert "last-event-id" not in server.requests[1].headers


async def test_aclose_mid_stream_closes_the_connection(http):
    closed = asyncio.Event()

    async def endless(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        try:
            for i in range(1000):
                await reply.send(format_event(str(i), id=str(i)))
                await asyncio.sleep(0.005)
        except ConnectionError:
            pass
        finally:
            closed.set()

    async with FaultServer(endless) as server:
        stream = EventStream(http, "GET", f"{server.base_url}/s")
        got = await collect(stream, limit=2)
        async with asyncio.timeout(3):
            await closed.wait()
    assert [e.data for e in got] == ["0", "1"]
