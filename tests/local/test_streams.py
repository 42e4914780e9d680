"""SSE streams over a real loopback server: shape, replay, fan-out, slow clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_sse import aconnect_sse

from julep_nb.local.server import LocalServer
from julep_nb.local.store import Store
from julep_nb.local.streams import Hub
from julep_nb.sources.julep.models import Transition, TransitionType

from .conftest import seed_execution, step

T = TransitionType


async def _lines(lines: AsyncIterator[str], until: str | None = None) -> list[str]:
    """Lines up to and including the first that contains ``until`` (else to the end)."""
    got = []
    async for line in lines:
        got.append(line)
        if until is not None and until in line:
            break
    return got


async def test_status_stream_sends_now_then_each_status_change_without_ids(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    store = server.store
    execution = seed_execution(store)
    url = f"/executions/{execution.id}/status.stream"
    async with asyncio.timeout(5), http.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = response.aiter_lines()
        lines = await _lines(stream, until='"queued"')
        for type_ in (T.INIT, T.STEP, T.STEP, T.STEP, T.FINISH):
            step(store, execution.id, type_, {"type": type_.value})
        lines += await _lines(stream)  # returns because the server closes the stream
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [e["status"] for e in events] == ["queued", "starting", "running", "succeeded"]
    assert not [line for line in lines if line.startswith(("id:", "event:"))]
    last = events[-1]
    assert last["execution_id"] == last["id"] == execution.id
    assert last["output"] == {"type": "finish"} and last["transition_count"] == 5
    assert set(last) >= {"task_id", "input", "created_at", "updated_at", "error", "metadata"}


async def test_status_stream_of_a_finished_execution_sends_one_event_and_closes(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    execution = seed_execution(server.store)
    step(server.store, execution.id, T.ERROR, {"error": "bad input"})
    async with asyncio.timeout(5):
        async with aconnect_sse(http, "GET", f"/executions/{execution.id}/status.stream") as sse:
            assert sse.response.headers["cache-control"] == "no-cache"
            events = [e.json() async for e in sse.aiter_sse()]
    assert [(e["status"], e["error"]) for e in events] == [("failed", "bad input")]
    # The execution as GET answers it, plus execution_id (sent whole: nothing to wait for).
    wire = (await http.get(f"/executions/{execution.id}")).json()
    assert events == [{**wire, "execution_id": execution.id}]


async def test_streams_send_keepalive_comments(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    execution = seed_execution(server.store)  # fixture pings every 0.2 s
    for kind in ("status", "transitions"):
        async with asyncio.timeout(5):
            url = f"/executions/{execution.id}/{kind}.stream"
            async with http.stream("GET", url) as response:
                lines = await _lines(response.aiter_lines(), until=": ping")
        assert lines[-1] == ": ping"


@pytest.mark.parametrize("how", ["header", "query"])
async def test_transitions_stream_replays_after_a_sequence_number_then_follows(
    server: LocalServer, http: httpx.AsyncClient, how: str
) -> None:
    store = server.store
    execution = seed_execution(store)
    for type_ in (T.INIT, T.STEP, T.STEP):
        step(store, execution.id, type_)
    url = f"/executions/{execution.id}/transitions.stream"
    kwargs: dict = (
        {"headers": {"Last-Event-ID": "1"}}
        if how == "header"
        else {"params": {"next_page_token": "1"}}
    )
    got: list[tuple[str, Transition]] = []
    async with asyncio.timeout(5), aconnect_sse(http, "GET", url, **kwargs) as sse:
        async for event in sse.aiter_sse():
            if not event.data:  # a ping after an id: line (httpx-sse quirk)
                continue
            got.append((event.id, Transition.model_validate_json(event.data)))
            if len(got) == 2:
                step(store, execution.id, T.FINISH, {"done": True})
    assert [(i, t.type) for i, t in got] == [("2", T.STEP), ("3", T.STEP), ("4", T.FINISH)]
    assert got[-1][1] == store.list_transitions(execution.id, direction="desc", limit=1)[0]


async def test_transitions_stream_replay_after_the_end_closes_at_once(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    execution = seed_execution(server.store)
    step(server.store, execution.id, T.INIT)
    step(server.store, execution.id, T.CANCELLED)
    url = f"/executions/{execution.id}/transitions.stream"
    async with asyncio.timeout(5):
        full = await http.get(url)
        rest = await http.get(url, headers={"Last-Event-ID": "2"})
    assert full.text.count("data: ") == 2 and "id: 2" in full.text
    assert rest.status_code == 200 and rest.text == ""


async def test_bad_resume_token_and_unknown_execution(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    execution = seed_execution(server.store)
    bad = await http.get(
        f"/executions/{execution.id}/transitions.stream", params={"next_page_token": "abc"}
    )
    assert bad.status_code == 400 and "'abc'" in bad.json()["error"]["message"]
    for kind in ("status", "transitions"):
        missing = await http.get(f"/executions/nope/{kind}.stream")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "NotFoundError"


async def test_every_client_gets_every_event(server: LocalServer) -> None:
    store = server.store
    execution = seed_execution(store)
    url = f"{server.base_url}/executions/{execution.id}/transitions.stream"
    connected = asyncio.Barrier(6)

    async def follow() -> list[int]:
        async with httpx.AsyncClient(timeout=5) as client, client.stream("GET", url) as response:
            await connected.wait()
            return [int(line[4:]) async for line in response.aiter_lines() if line[:3] == "id:"]

    async with asyncio.timeout(10):
        readers = [asyncio.create_task(follow()) for _ in range(5)]
        await connected.wait()
        await asyncio.to_thread(_run_steps, store, execution.id, 30)
        results = await asyncio.gather(*readers)
    assert results == [list(range(1, 33))] * 5


def _run_steps(store: Store, execution_id: str, n: int) -> None:
    step(store, execution_id, T.INIT)
    for _ in range(n):
        step(store, execution_id, T.STEP, {"pad": "x" * 200})
    step(store, execution_id, T.FINISH)


async def test_a_slow_client_blocks_no_commit_and_loses_nothing(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    store = server.store
    execution = seed_execution(store)
    url = f"/executions/{execution.id}/transitions.stream"
    n = 1500  # ~6 MB: more than the socket buffers and the per-client queue hold
    async with asyncio.timeout(30), http.stream("GET", url) as response:
        lines = response.aiter_lines()
        step(store, execution.id, T.INIT)
        assert (await anext(lines)) == "id: 1"
        # The client reads nothing while the whole run is committed.
        await asyncio.wait_for(asyncio.to_thread(_fat_steps, store, execution.id, n), 20)
        ids = [1] + [int(line[4:]) async for line in lines if line[:3] == "id:"]
    assert ids == list(range(1, n + 3))


def _fat_steps(store: Store, execution_id: str, n: int) -> None:
    for _ in range(n):
        step(store, execution_id, T.STEP, {"pad": "y" * 4000})
    step(store, execution_id, T.FINISH)


async def test_subscription_overflow_rereads_from_the_store() -> None:
    store = Store()
    hub = Hub(store, queue_size=2)
    hub.attach(asyncio.get_running_loop())
    execution = seed_execution(store)
    with hub.subscribe(execution.id) as sub:
        assert await sub.next_batch(0, timeout=0.01) is None  # nothing yet: a ping is due
        for type_ in (T.INIT, T.STEP, T.STEP, T.STEP, T.STEP):
            step(store, execution.id, type_)  # the queue holds 2: the rest overflow
        batch = await sub.next_batch(0, timeout=1) or []
        assert [seq for seq, _ in batch] == [1, 2, 3, 4, 5]  # re-read: in order, no gap
        assert await sub.next_batch(5, timeout=0.01) is None  # and no duplicates after
    hub.detach()
    store.close()


async def test_a_client_that_leaves_a_waiting_stream_frees_its_subscription(
    server: LocalServer,
) -> None:
    hub: Hub = server.app.state.hub
    execution = seed_execution(server.store)  # queued: nothing will end its streams
    for path in ("status.stream", "transitions.stream"):
        url = f"{server.base_url}/executions/{execution.id}/{path}"
        async with httpx.AsyncClient(timeout=5) as client, client.stream("GET", url) as response:
            assert response.status_code == 200
            async with asyncio.timeout(5):
                while execution.id not in hub._subs:
                    await asyncio.sleep(0.01)
        # The client is gone: the server notices without waiting for a ping.
        async with asyncio.timeout(2):
            while execution.id in hub._subs:
                await asyncio.sleep(0.01)
    step(server.store, execution.id, T.INIT)  # the execution and the server carry on
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        got = await client.get(f"/executions/{execution.id}")
    assert got.json()["status"] == "starting"


async def test_a_json_answer_leaves_the_server_in_one_piece(server: LocalServer) -> None:
    # Status line, headers and body are written together: one read gets all of it.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        async with asyncio.timeout(5):
            first = await reader.read(65536)
    finally:
        writer.close()
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body) == {"status": "ok"}
