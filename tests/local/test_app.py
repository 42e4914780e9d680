"""HTTP behaviour of the local server: bodies, status codes, validation, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from julep_nb.local.app import MAX_BODY_BYTES
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.models import Execution, Task, TransitionType

from .conftest import seed_execution, step

SCHEMA = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["topic"],
}


async def _task(http: httpx.AsyncClient, **spec: Any) -> Task:
    agent = (await http.post("/agents", json={"name": "nb"})).json()
    body = {"name": "t", "main": [{"evaluate": {"x": "$ 1"}}], **spec}
    response = await http.post(f"/agents/{agent['id']}/tasks", json=body)
    assert response.status_code == 201, response.text
    return Task.model_validate(response.json())


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "code", "type"}
    return error


async def test_health_and_openapi_describe_every_route(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    doc = (await http.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    routes = {
        (method.upper(), route.path)
        for route in server.app.routes
        for method in route.methods - {"HEAD"}
        if route.path != "/openapi.json"
    }
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert described == routes
    create = doc["paths"]["/tasks/{task_id}/executions"]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Execution"
    }
    assert "Execution" in doc["components"]["schemas"]


async def test_agent_and_task_round_trip(http: httpx.AsyncClient) -> None:
    task = await _task(http, input_schema=SCHEMA, helper=[{"log": "hi"}])
    assert task.model_extra == {"helper": [{"log": "hi"}]}
    got = Task.model_validate((await http.get(f"/tasks/{task.id}")).json())
    assert got == task
    listed = (await http.get(f"/agents/{task.agent_id}/tasks")).json()["items"]
    assert [t["id"] for t in listed] == [task.id]
    # Create-or-update at a chosen id: POST (the SDK) and PUT (DESIGN.md) both work.
    for method, name in (("POST", "v2"), ("PUT", "v3")):
        body = {"name": name, "main": [{"evaluate": {"y": "$ 2"}}]}
        response = await http.request(method, f"/agents/{task.agent_id}/tasks/{task.id}", json=body)
        assert response.status_code == 201 and response.json()["name"] == name
    assert (await http.get(f"/tasks/{task.id}")).json()["name"] == "v3"


async def test_input_is_checked_against_the_schema_naming_the_field(
    http: httpx.AsyncClient,
) -> None:
    task = await _task(http, input_schema=SCHEMA)
    wrong = await http.post(f"/tasks/{task.id}/executions", json={"input": {"topic": 3}})
    assert "input['topic']" in _error(wrong, 400)["message"]
    missing = await http.post(f"/tasks/{task.id}/executions", json={"input": {}})
    assert "'topic' is a required property" in _error(missing, 400)["message"]
    ok = await http.post(f"/tasks/{task.id}/executions", json={"input": {"topic": "otters"}})
    assert ok.status_code == 201
    assert Execution.model_validate(ok.json()).status.value == "queued"
    # A task updated with another schema checks new executions against that one.
    spec = {"name": "t", "main": [{"evaluate": {"x": "$ 1"}}], "input_schema": {"type": "object"}}
    await http.put(f"/agents/{task.agent_id}/tasks/{task.id}", json=spec)
    now_ok = await http.post(f"/tasks/{task.id}/executions", json={"input": {"topic": 3}})
    assert now_ok.status_code == 201, now_ok.text
    spec["input_schema"] = {"type": "object", "required": ["n"]}
    await http.put(f"/agents/{task.agent_id}/tasks/{task.id}", json=spec)
    again = await http.post(f"/tasks/{task.id}/executions", json={"input": {"topic": 3}})
    assert "'n' is a required property" in _error(again, 400)["message"]


async def test_an_invalid_input_schema_is_refused(http: httpx.AsyncClient) -> None:
    agent = (await http.post("/agents", json={"name": "nb"})).json()
    body = {"name": "t", "main": [], "input_schema": {"type": "no-such-type"}}
    response = await http.post(f"/agents/{agent['id']}/tasks", json=body)
    assert "Invalid input schema" in _error(response, 400)["message"]


async def test_idempotency_key_returns_the_same_execution_once(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    task = await _task(http)
    headers = {"Idempotency-Key": "run-1"}
    url = f"/tasks/{task.id}/executions"
    first = await http.post(url, json={"input": {"a": 1}}, headers=headers)
    again = await http.post(url, json={"input": {"a": 1}}, headers=headers)
    other = await http.post(url, json={"input": {"a": 1}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert len(server.store.list_executions(task.id)) == 2


async def test_list_paging_and_limit_bounds(server: LocalServer, http: httpx.AsyncClient) -> None:
    task = await _task(http)
    ids = [server.store.create_execution(task.id, {"i": i})[0].id for i in range(3)]
    url = f"/tasks/{task.id}/executions"
    newest_first = (await http.get(url)).json()["items"]
    assert [e["id"] for e in newest_first] == ids[::-1]
    page = (await http.get(url, params={"limit": 1, "offset": 1, "direction": "asc"})).json()
    assert [e["id"] for e in page["items"]] == [ids[1]]
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}):
        assert _error(await http.get(url, params=bad), 422)["code"] == "http_422"
    assert _error(await http.get(url, params={"sort_by": "name"}), 422)
    assert _error(await http.get(url, params={"direction": "up"}), 422)
    assert (await http.get(url, params={"limit": 100})).status_code == 200


async def test_transitions_list_and_get(server: LocalServer, http: httpx.AsyncClient) -> None:
    execution = seed_execution(server.store)
    for type_ in (TransitionType.INIT, TransitionType.STEP, TransitionType.FINISH):
        step(server.store, execution.id, type_, {"t": type_.value})
    url = f"/executions/{execution.id}/transitions"
    desc = (await http.get(url)).json()["items"]  # Julep's default order: newest first
    assert [t["type"] for t in desc] == ["finish", "step", "init"]
    asc = (await http.get(url, params={"direction": "asc", "limit": 2})).json()["items"]
    assert [t["type"] for t in asc] == ["init", "step"]
    one = (await http.get(f"{url}/{asc[1]['id']}")).json()
    assert one == asc[1]
    assert _error(await http.get(f"{url}/nope"), 404)["type"] == "NotFoundError"
    assert (await http.get(url, params={"scope_id": "none"})).json() == {"items": []}


@pytest.mark.parametrize(
    "path",
    ["/agents/x", "/tasks/x", "/executions/x", "/executions/x/transitions", "/agents/x/tasks"],
)
async def test_unknown_ids_are_404_with_julep_bodies(http: httpx.AsyncClient, path: str) -> None:
    error = _error(await http.get(path), 404)
    assert "'x' not found" in error["message"]


async def test_bad_bodies(http: httpx.AsyncClient) -> None:
    not_json = await http.post("/agents", content=b"{nope", headers={"content-type": "x"})
    assert "not valid JSON" in _error(not_json, 400)["message"]
    invalid = _error(await http.post("/agents", json={"about": "no name"}), 422)
    assert invalid["code"] == "validation_error"
    assert invalid["details"][0]["loc"] == "name"
    huge = await http.post("/agents", content=b" " * (MAX_BODY_BYTES + 1))
    assert _error(huge, 413)["code"] == "http_413"


async def test_execution_bodies_read_from_bytes_are_refused_as_any_body(
    http: httpx.AsyncClient,
) -> None:
    # The create route reads its body with pydantic-core from the bytes; what that parser
    # refuses is read again as any other body, so the answer and its words are the same.
    url = f"/tasks/{(await _task(http)).id}/executions"
    json_type = {"content-type": "application/json"}
    not_json = await http.post(url, content=b'{"input": {', headers=json_type)
    assert "not valid JSON" in _error(not_json, 400)["message"]
    yaml_body = await http.post(url, content=b"input: {}", headers={"content-type": "text/yaml"})
    assert "takes JSON, not text/yaml" in _error(yaml_body, 415)["message"]
    wrong = _error(await http.post(url, json={"input": "x"}), 422)
    assert wrong["details"][0]["loc"] == "input"
    # Python's JSON reader takes NaN and pydantic-core's does not: still created.
    nan = await http.post(url, content=b'{"input": {"n": NaN}}', headers=json_type)
    assert nan.status_code == 201, nan.text
    empty = await http.post(url, content=b"", headers=json_type)
    assert empty.status_code == 201 and empty.json()["input"] == {}, empty.text
    made = await http.post(url, content=b'{"input": {"n": 1}, "metadata": {"m": [1]}}')
    assert made.status_code == 201 and made.json()["metadata"] == {"m": [1]}, made.text


async def test_chunked_bodies_are_read_and_counted_as_they_arrive(
    http: httpx.AsyncClient,
) -> None:
    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    # No Content-Length: the server reads the chunks, and stops at the limit.
    made = await http.post("/agents", content=chunks(b'{"name": ', b'"chunked"}'))
    assert made.status_code == 201 and made.json()["name"] == "chunked", made.text
    piece = b" " * (MAX_BODY_BYTES // 4)
    huge = await http.post("/agents", content=chunks(*[piece] * 5))
    assert "over the" in _error(huge, 413)["message"]


async def test_update_execution_refuses_an_unknown_status(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    execution = seed_execution(server.store)
    response = await http.put(f"/executions/{execution.id}", json={"status": "paused"})
    assert "'paused'" in _error(response, 422)["message"]
    missing = await http.put("/executions/nope", json={"status": "cancelled"})
    assert _error(missing, 404)


async def test_many_concurrent_requests(http: httpx.AsyncClient) -> None:
    task = await _task(http)
    url = f"/tasks/{task.id}/executions"
    async with asyncio.timeout(20):
        made = await asyncio.gather(*(http.post(url, json={"input": {}}) for _ in range(40)))
    assert {r.status_code for r in made} == {201}
    assert len({r.json()["id"] for r in made}) == 40


async def test_changing_a_finished_execution_is_a_409_naming_its_status(
    http: httpx.AsyncClient,
) -> None:
    task = await _task(http)
    created = (await http.post(f"/tasks/{task.id}/executions", json={"input": {}})).json()
    url = f"/executions/{created['id']}"
    async with asyncio.timeout(5):
        while (await http.get(url)).json()["status"] != "succeeded":
            await asyncio.sleep(0.01)
    cancel = _error(await http.put(url, json={"status": "cancelled"}), 409)
    resume = _error(await http.put(url, json={"status": "running", "input": {"a": 1}}), 409)
    assert cancel["type"] == resume["type"] == "ConflictError"
    assert "succeeded" in cancel["message"] and "succeeded" in resume["message"]
    token = await http.post("/executions/resume", json={"task_token": "nope", "input": {}})
    assert _error(token, 404)["type"] == "NotFoundError"


async def test_resume_with_the_task_token_of_the_wait(http: httpx.AsyncClient) -> None:
    task = await _task(
        http,
        main=[
            {"wait_for_input": {"info": {"question": "name?"}}},
            {"evaluate": {"hello": "$ 'hi ' + _['name']"}},
        ],
    )
    created = (await http.post(f"/tasks/{task.id}/executions", json={"input": {}})).json()
    url = f"/executions/{created['id']}"
    async with asyncio.timeout(5):
        while (await http.get(url)).json()["status"] != "awaiting_input":
            await asyncio.sleep(0.01)
        wait = (await http.get(f"{url}/transitions", params={"limit": 1})).json()["items"][0]
        token = wait["metadata"]["task_token"]
        body = {"task_token": token, "input": {"name": "otter"}}
        answered = await http.post("/executions/resume", json=body)
        assert (answered.status_code, answered.json()) == (200, None)
        while (done := (await http.get(url)).json())["status"] != "succeeded":
            await asyncio.sleep(0.01)
    assert done["output"] == {"hello": "hi otter"}
    again = await http.post("/executions/resume", json=body)
    assert _error(again, 409)["type"] == "ConflictError"  # that wait was answered
