"""The async Client against loopback servers: errors, retries, paging, streams, input checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import (
    APIError,
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
    TransportError,
    ValidationError,
)
from julep_nb.sources.julep.models import ExecutionStatus, TransitionType
from tests.faults import (
    EXECUTION_ID,
    FaultServer,
    Request,
    Responder,
    closed_port_url,
    format_event,
    json_reply,
    python_repr_stream,
    routes,
    sse_replay,
    status_events,
    transition_dicts,
    transition_events,
)

KEY = "sk-julep-RECOGNISABLE-0123456789"
TASK_ID = "00000000-0000-4000-8000-0000000000aa"
EXECUTION = {
    "id": EXECUTION_ID,
    "task_id": TASK_ID,
    "status": "queued",
    "input": {"x": 1},
    "created_at": "2025-01-01T00:00:00Z",
}


def make_client(server: FaultServer, **options: Any) -> Client:
    return Client(server.base_url, api_key=KEY, backoff=0.01, **options)


async def run(coro: Any) -> Any:
    async with asyncio.timeout(5):
        return await coro


def julep_error(message: str, code: str = "x") -> dict[str, Any]:
    return {"error": {"message": message, "code": code, "type": "http_error"}}


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (418, APIError),
    ],
)
async def test_error_status_maps_to_the_error_tree_with_the_servers_message(status, error):
    body = julep_error(f"server says {status}", code=f"http_{status}")
    async with FaultServer(json_reply(status, body)) as server:
        async with make_client(server, max_retries=0) as client:
            with pytest.raises(error) as caught:
                await run(client.get_execution(EXECUTION_ID))
    assert type(caught.value) is error
    assert caught.value.status == status and caught.value.code == f"http_{status}"
    assert f"server says {status}" in str(caught.value)
    assert f"/executions/{EXECUTION_ID}" in str(caught.value)


async def test_fastapi_detail_and_validation_details_are_shown():
    detail = {"detail": [{"loc": ["body", "input"], "msg": "field required"}]}
    async with FaultServer(json_reply(422, detail)) as server:
        async with make_client(server) as client:
            with pytest.raises(ValidationError, match="field required"):
                await run(client.get_execution(EXECUTION_ID))
    details = {"error": {"message": "Validation error", "details": [{"loc": "input.x"}]}}
    async with FaultServer(json_reply(422, details)) as server:
        async with make_client(server) as client:
            with pytest.raises(ValidationError, match=r"Validation error: .*input\.x"):
                await run(client.get_execution(EXECUTION_ID))


async def test_the_key_never_appears_in_errors_or_repr():
    async with FaultServer(json_reply(401, julep_error(f"bad key {KEY}"))) as server:
        client = make_client(server)
        with pytest.raises(AuthError) as caught:
            await run(client.get_execution(EXECUTION_ID))
        await client.aclose()
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    for text in (str(caught.value), repr(caught.value), repr(client), str(client.settings)):
        assert KEY not in text
    assert repr(client) == f"Client(base_url='{server.base_url}', api_key='…6789')"


async def test_server_down_raises_transport_error_naming_the_url():
    client = Client(closed_port_url(), api_key=KEY, backoff=0.01, max_retries=1)
    with pytest.raises(TransportError) as caught:
        await run(client.get_execution(EXECUTION_ID))
    message = str(caught.value)
    assert client.base_url is not None and client.base_url in message
    assert f"/executions/{EXECUTION_ID}" in message
    assert "Is the server running? Set JULEP_BASE_URL" in message
    assert KEY not in message
    await client.aclose()


async def test_non_json_success_body_is_a_clear_error():
    async def html(request: Request, reply: Responder) -> None:
        await reply.send_raw(200, b"<html>login</html>", {"Content-Type": "text/html"})

    async with FaultServer(html) as server:
        async with make_client(server) as client:
            with pytest.raises(APIError, match="not JSON.*login.*Julep API"):
                await run(client.get_execution(EXECUTION_ID))


# ---------------------------------------------------------------------- retries


def failing(times: int, then: Any, status: int = 503, headers: dict[str, str] | None = None):
    async def handler(request: Request, reply: Responder) -> None:
        if len(handler.seen) < times:  # type: ignore[attr-defined]
            handler.seen.append(request)  # type: ignore[attr-defined]
            await reply.send_json(status, julep_error("try later"), headers)
        else:
            await then(request, reply)

    handler.seen = []  # type: ignore[attr-defined]
    return handler


async def test_get_is_retried_on_5xx_then_succeeds():
    async with FaultServer(failing(2, json_reply(200, EXECUTION))) as server:
        async with make_client(server) as client:
            execution = await run(client.get_execution(EXECUTION_ID))
    assert execution.status is ExecutionStatus.QUEUED
    assert server.count("GET") == 3


async def test_retries_are_bounded():
    async with FaultServer(json_reply(502, julep_error("bad gateway"))) as server:
        async with make_client(server, max_retries=2) as client:
            with pytest.raises(ServerError, match="bad gateway"):
                await run(client.get_execution(EXECUTION_ID))
    assert server.count() == 3


async def test_429_honours_retry_after():
    handler = failing(1, json_reply(200, EXECUTION), status=429, headers={"Retry-After": "0.3"})
    async with FaultServer(handler) as server:
        async with make_client(server) as client:
            started = time.monotonic()
            await run(client.get_execution(EXECUTION_ID))
    assert time.monotonic() - started >= 0.3
    assert server.count() == 2


async def test_a_retry_after_too_long_is_not_waited_for():
    handler = json_reply(429, julep_error("slow down"), {"Retry-After": "3600"})
    async with FaultServer(handler) as server:
        async with make_client(server) as client:
            with pytest.raises(RateLimitError, match="slow down"):
                await run(client.get_execution(EXECUTION_ID))
    assert server.count() == 1


async def test_create_execution_retries_with_the_same_idempotency_key():
    handler = failing(2, json_reply(201, EXECUTION))
    async with FaultServer(handler) as server:
        async with make_client(server) as client:
            execution = await run(client.create_execution(TASK_ID, {"x": 1}))
    assert execution.id == EXECUTION_ID
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert server.requests[0].json() == {"input": {"x": 1}}


async def test_create_execution_sends_the_given_key_and_metadata():
    async with FaultServer(json_reply(201, EXECUTION)) as server:
        async with make_client(server) as client:
            await run(
                client.create_execution(TASK_ID, {"x": 1}, metadata={"m": 1}, idempotency_key="k1")
            )
    request = server.requests[0]
    assert request.path == f"/tasks/{TASK_ID}/executions"
    assert request.headers["idempotency-key"] == "k1"
    assert request.json() == {"input": {"x": 1}, "metadata": {"m": 1}}


async def test_other_posts_are_not_retried_after_a_5xx():
    async with FaultServer(json_reply(503, julep_error("busy"))) as server:
        async with make_client(server) as client:
            with pytest.raises(ServerError):
                await run(client.create_agent(name="nb"))
    assert server.count() == 1


async def test_a_post_whose_connection_drops_after_sending_is_not_resent():
    async def hang_up(request: Request, reply: Responder) -> None:
        await reply.drop()  # read the request, answer nothing

    async with FaultServer(hang_up) as server:
        async with make_client(server) as client:
            with pytest.raises(TransportError, match="may have been applied"):
                await run(client.create_agent(name="nb"))
            assert server.count() == 1
            with pytest.raises(TransportError):
                await run(client.get_execution(EXECUTION_ID))
            assert server.count("GET") == 4  # a GET is safe to resend


# ---------------------------------------------------------------------- paging


def paged(total: int, make: Any):
    items = [make(i) for i in range(total)]

    async def handler(request: Request, reply: Responder) -> None:
        limit, offset = int(request.query["limit"]), int(request.query["offset"])
        assert 1 <= limit <= 100
        await reply.send_json(200, {"items": items[offset : offset + limit]})

    return handler


def execution_item(i: int) -> dict[str, Any]:
    return {**EXECUTION, "id": f"00000000-0000-4000-8000-{i:012d}"}


async def test_paging_walks_every_page_without_an_extra_empty_request():
    async with FaultServer(paged(250, execution_item)) as server:
        async with make_client(server) as client:
            executions = await run(client.list_executions(TASK_ID))
    assert len({e.id for e in executions}) == 250
    assert [r.query["offset"] for r in server.requests] == ["0", "100", "200"]
    assert server.requests[0].query["direction"] == "desc"


async def test_paging_stops_at_the_limit():
    async with FaultServer(paged(250, execution_item)) as server:
        async with make_client(server) as client:
            executions = await run(client.list_executions(TASK_ID, limit=150))
    assert len(executions) == 150
    assert [(r.query["limit"], r.query["offset"]) for r in server.requests] == [
        ("100", "0"),
        ("50", "100"),
    ]


async def test_list_transitions_passes_direction_and_scope():
    items = transition_dicts(3)
    async with FaultServer(json_reply(200, {"items": items})) as server:
        async with make_client(server) as client:
            transitions = await run(client.list_transitions(EXECUTION_ID, scope_id="s1"))
    assert [t.type for t in transitions] == [TransitionType.INIT, "step", "finish"]
    assert server.requests[0].query == {
        "direction": "asc",
        "scope_id": "s1",
        "limit": "100",
        "offset": "0",
    }


async def test_bad_limit_and_direction_are_refused_before_sending():
    async with FaultServer(json_reply(200, {"items": []})) as server:
        async with make_client(server) as client:
            with pytest.raises(InputError, match="limit"):
                await client.list_tasks("a", limit=0)
            with pytest.raises(InputError, match="direction"):
                await client.list_executions(TASK_ID, direction="up")
    assert server.count() == 0


# ---------------------------------------------------------------------- requests


async def test_cancel_and_resume_send_julep_bodies_and_accept_null():
    async with FaultServer(json_reply(200, None)) as server:
        async with make_client(server) as client:
            assert await run(client.cancel(EXECUTION_ID, reason="enough")) is None
            assert await run(client.resume(EXECUTION_ID, {"answer": 42})) is None
            await run(client.resume_with_token("tok", {"a": 1}))
    bodies = [(r.method, r.path, r.json()) for r in server.requests]
    assert bodies == [
        ("PUT", f"/executions/{EXECUTION_ID}", {"status": "cancelled", "reason": "enough"}),
        ("PUT", f"/executions/{EXECUTION_ID}", {"status": "running", "input": {"answer": 42}}),
        ("POST", "/executions/resume", {"task_token": "tok", "input": {"a": 1}}),
    ]


async def test_ids_are_escaped_into_paths():
    async with FaultServer(json_reply(404, julep_error("nope"))) as server:
        async with make_client(server) as client:
            with pytest.raises(NotFoundError):
                await run(client.get_task("../agents"))
    assert server.requests[0].path == "/tasks/..%2Fagents"


async def test_update_task_falls_back_to_post_when_put_is_not_allowed():
    task = {"id": TASK_ID, "name": "t", "main": [{"evaluate": {"x": "$ 1"}}]}
    path = f"/agents/a1/tasks/{TASK_ID}"
    table = {("POST", path): json_reply(201, task)}
    async with FaultServer(routes(table, json_reply(405, julep_error("Method Not Allowed")))) as s:
        async with make_client(s) as client:
            first = await run(
                client.update_task("a1", TASK_ID, "name: t\nmain: [{evaluate: {x: $ 1}}]")
            )
            await run(client.update_task("a1", TASK_ID, {"name": "t", "main": []}))
    assert first.id == TASK_ID
    assert [r.method for r in s.requests] == ["PUT", "POST", "POST"]  # remembered


async def test_create_agent_sends_only_given_fields():
    agent = {"id": "a1", "name": "nb"}
    async with FaultServer(json_reply(201, agent)) as server:
        async with make_client(server) as client:
            created = await run(client.create_agent(name="nb", about="demo"))
    assert created.id == "a1"
    assert server.requests[0].json() == {"name": "nb", "about": "demo"}


# ---------------------------------------------------------------------- task input


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nmain: [*c]\n",
            "alias \\*a",
        ),
        ("main: " + "[" * 100 + "]" * 100, "nested more than 64"),
        ("main: [" + ", ".join(["1"] * 100_001) + "]", "more than 100,000 values"),
        ("x" * 1_000_001, "limit is 1,000,000"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: t\nmain: [\n", "could not be parsed"),
    ],
    ids=["alias-bomb", "too-deep", "too-many", "too-large", "not-mapping", "syntax"],
)
async def test_bad_task_yaml_is_refused_before_sending(text, problem):
    async with FaultServer(json_reply(201, {})) as server:
        async with make_client(server) as client:
            with pytest.raises(InputError, match=problem):
                await client.create_task("a1", text)
    assert server.count() == 0


async def test_task_yaml_and_dict_are_sent_as_json():
    task = {"id": TASK_ID, "name": "t", "main": []}
    async with FaultServer(json_reply(201, task)) as server:
        async with make_client(server) as client:
            created = await run(client.create_task("a1", "name: t\nwhen: 2025-01-02\nmain: []\n"))
            await run(client.create_task("a1", {"name": "t", "main": []}))
    assert created.id == TASK_ID
    assert server.requests[0].json() == {"name": "t", "when": "2025-01-02", "main": []}
    assert server.requests[1].path == "/agents/a1/tasks"


async def test_deep_dict_task_is_refused():
    task: dict[str, Any] = {}
    node = task
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InputError, match="nested"):
        await Client("http://127.0.0.1:9").create_task("a", task)


# ---------------------------------------------------------------------- streams


async def test_stream_status_stops_at_the_terminal_event_even_if_the_server_does_not():
    payloads = status_events(["queued", "running", "succeeded"])

    async def never_closes(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        for data in payloads:
            await reply.send(format_event(data) + ": ping\n\n")
        for _ in range(100):
            await asyncio.sleep(0.05)
            await reply.send(": ping\n\n")

    async with FaultServer(never_closes) as server:
        async with make_client(server) as client:
            async with asyncio.timeout(3):
                statuses = [e.status async for e in client.stream_status(EXECUTION_ID)]
    assert statuses == ["queued", "running", "succeeded"]
    assert server.requests[0].path == f"/executions/{EXECUTION_ID}/status.stream"


async def test_stream_status_reconnects_when_closed_before_a_terminal_status():
    first, second = status_events(["running"]), status_events(["running", "failed"])

    async def handler(request: Request, reply: Responder) -> None:
        await reply.start_stream()
        for data in first if len(server.requests) == 1 else second:
            await reply.send(format_event(data))
        await reply.end()

    async with FaultServer(handler) as server:
        async with make_client(server) as client:
            async with asyncio.timeout(3):
                statuses = [e.status async for e in client.stream_status(EXECUTION_ID)]
    assert statuses == ["running", "running", "failed"]
    assert server.count() == 2


async def test_stream_transitions_resumes_and_ends_at_finish():
    events = transition_events(7)
    async with FaultServer(sse_replay(events, drop_every=3, close_at_end=False)) as server:
        async with make_client(server) as client:
            stream = client.stream_transitions(EXECUTION_ID, last_event_id="1")
            async with asyncio.timeout(3):
                got = [t async for t in stream]
    assert [t.current.step for t in got] == [1, 2, 3, 4, 5, 6]
    assert got[-1].type is TransitionType.FINISH
    assert stream.last_event_id == "7"
    assert server.requests[0].headers["last-event-id"] == "1"


async def test_python_repr_transitions_payload_raises_stream_error():
    async with FaultServer(python_repr_stream()) as server:
        async with make_client(server) as client:
            with pytest.raises(StreamError, match="Python repr"):
                async with asyncio.timeout(3):
                    async for _ in client.stream_transitions(EXECUTION_ID):
                        pass


async def test_stream_401_is_auth_error_with_one_request():
    async with FaultServer(json_reply(401, julep_error("Invalid API key"))) as server:
        async with make_client(server) as client:
            with pytest.raises(AuthError, match="Invalid API key"):
                async with asyncio.timeout(3):
                    async for _ in client.stream_status(EXECUTION_ID):
                        pass
    assert server.count() == 1


def test_a_client_can_be_used_from_successive_event_loops():
    async def handler(request: Request, reply: Responder) -> None:
        await reply.send_json(200, {**EXECUTION, "status": "succeeded"})

    async def once(client: Client) -> str:
        async with FaultServer(handler) as server:
            client.settings = client.settings.with_base_url(server.base_url)
            return str((await client.get_execution(EXECUTION_ID)).status)

    client = Client("http://127.0.0.1:9", backoff=0.01)
    assert asyncio.run(once(client)) == "succeeded"
    assert asyncio.run(once(client)) == "succeeded"


async def test_requests_in_flight_are_capped_per_loop_and_all_answered() -> None:
    in_flight = peak = 0

    async def slow(request: Request, reply: Responder) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        await reply.send_json(200, EXECUTION)

    async with FaultServer(routes({("GET", f"/executions/{EXECUTION_ID}"): slow})) as server:
        async with make_client(server, max_concurrency=3) as client:
            got = await run(
                asyncio.gather(*(client.get_execution(EXECUTION_ID) for _ in range(12)))
            )
    assert [e.id for e in got] == [EXECUTION_ID] * 12
    assert peak == 3  # never more than max_concurrency at once, and the cap is used
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        Client("http://127.0.0.1:9", max_concurrency=0)
