"""The watcher against real loopback servers that misbehave like real ones do."""

from __future__ import annotations

import asyncio

import pytest

from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.watcher import POLLING, Watcher
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import AuthError, TransportError
from julep_nb.sources.julep.source import STATUS_STREAM, TRANSITIONS_STREAM, JulepSource
from tests.faults import FaultServer, closed_port_url, json_reply, python_repr_stream
from tests.live.servers import FakeJulep, html_page, unauthorized

KEY = "sk-julep-RECOGNISABLE-0123456789"


def fast_client(base_url: str, **kw: object) -> Client:
    return Client(base_url=base_url, api_key=KEY, backoff=0.01, max_retries=1, **kw)  # type: ignore[arg-type]


async def watch_to_end(fake: FakeJulep, **kw: object) -> tuple[Watcher, FaultServer]:
    async with FaultServer(fake.handler) as server:
        async with fast_client(server.base_url) as client:
            watcher = Watcher(JulepSource(client), fake.execution_id, **kw)  # type: ignore[arg-type]
            async with asyncio.timeout(8):
                await watcher.wait()
    return watcher, server


def ids(watcher: Watcher) -> list[str]:
    return [t.id for t in watcher.state.transitions]


@pytest.mark.parametrize("comment_after", [False, True], ids=["plain", "comment-after-id"])
async def test_a_stream_dropped_every_k_events_delivers_every_transition_once(comment_after):
    fake = FakeJulep(12)
    fake.transitions_stream = fake.committing_transitions(drop_every=3, comment_after=comment_after)
    seen: list[int] = []
    fake_watcher = None

    async with FaultServer(fake.handler) as server:
        async with fast_client(server.base_url) as client:
            fake_watcher = Watcher(JulepSource(client), fake.execution_id)
            fake_watcher.subscribe(lambda s: seen.append(s.seen_count))
            async with asyncio.timeout(8):
                final = await fake_watcher.wait()

    assert fake_watcher.strategy == TRANSITIONS_STREAM
    assert ids(fake_watcher) == [t["id"] for t in fake.all]
    assert final.status.value == "succeeded" and final.output == fake.all[-1]["output"]
    # The view never went backwards, and the last thing it saw was the whole run.
    assert seen == sorted(seen) and seen[-1] == 12
    # Every reconnect resumed after the last transition it had been given.
    streams = [r for r in server.requests if r.path.endswith("transitions.stream")]
    assert len(streams) >= 4
    assert [r.headers.get("last-event-id") for r in streams[1:4]] == ["3", "6", "9"]
    # Ids numbered 1..12 prove nothing is missing: no final snapshot or pull was needed.
    assert server.count("GET", f"/executions/{fake.execution_id}") == 1


async def test_python_repr_transitions_fall_back_to_a_status_stream_that_never_closes():
    fake = FakeJulep(8)
    fake.transitions_stream = python_repr_stream()
    fake.status_stream = fake.status_driver(close=False)
    watcher, server = await watch_to_end(fake)

    assert watcher.strategy == STATUS_STREAM
    assert watcher.state.status.value == "succeeded"
    # Steps without a status event, and the finish, arrived by pulls.
    assert ids(watcher) == [t["id"] for t in fake.all]
    assert server.count("GET", f"/executions/{fake.execution_id}/status.stream") == 1


async def test_a_server_without_a_transitions_stream_falls_back_to_the_status_stream():
    fake = FakeJulep(5)
    fake.transitions_stream = json_reply(
        404, {"error": {"message": "Not Found", "code": "http_404", "type": "http_error"}}
    )
    fake.status_stream = fake.status_driver(close=True)
    watcher, _ = await watch_to_end(fake)
    assert watcher.strategy == STATUS_STREAM and watcher.error is None
    assert ids(watcher) == [t["id"] for t in fake.all]


async def test_streams_that_are_not_event_streams_fall_back_to_polling():
    fake = FakeJulep(5)
    fake.transitions_stream = html_page()
    fake.status_stream = html_page()

    async def commit_slowly() -> None:
        for _ in range(5):
            await asyncio.sleep(0.05)
            fake.commit()

    committer = asyncio.create_task(commit_slowly())
    watcher, _ = await watch_to_end(fake)
    await committer

    assert watcher.strategy == POLLING
    assert watcher.state.is_terminal and ids(watcher) == [t["id"] for t in fake.all]


async def test_401_on_a_stream_stops_the_watcher_with_auth_error_and_no_retry():
    fake = FakeJulep(4, committed=1)
    fake.transitions_stream = unauthorized()
    async with FaultServer(fake.handler) as server:
        async with fast_client(server.base_url) as client:
            watcher = Watcher(JulepSource(client), fake.execution_id)
            async with asyncio.timeout(5):
                with pytest.raises(AuthError) as caught:
                    await watcher.wait()
    assert watcher.done and watcher.error is caught.value
    assert "Invalid API key" in str(caught.value) and KEY not in str(caught.value)
    base = f"/executions/{fake.execution_id}"
    assert server.count("GET", f"{base}/transitions.stream") == 1
    assert server.count("GET", f"{base}/status.stream") == 0


async def test_server_down_at_start_gives_an_error_naming_the_url_without_the_key():
    url = closed_port_url()
    async with fast_client(url) as client:
        watcher = Watcher(JulepSource(client), "e-123")
        async with asyncio.timeout(5):
            with pytest.raises(TransportError) as caught:
                await watcher.wait()
    message = str(caught.value)
    assert url in message and KEY not in message
    assert watcher.done and watcher.strategy is None
    handle = ExecutionHandle("e-123", source=JulepSource(client))
    shown = [repr(watcher), repr(handle), *handle._repr_mimebundle_().values()]
    assert not [text for text in shown if KEY in text]


async def test_an_execution_that_finished_before_attaching_needs_no_stream():
    fake = FakeJulep(7, committed=7)
    watcher, server = await watch_to_end(fake)
    assert watcher.state.status.value == "succeeded"
    assert ids(watcher) == [t["id"] for t in fake.all]
    assert watcher.strategy is None
    assert not any(r.path.endswith(".stream") for r in server.requests)
