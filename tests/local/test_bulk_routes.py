"""julep_nb's bulk create (``POST /julep_nb/tasks/{id}/executions/bulk``) on the real server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from julep_nb.local import start
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import BULK_CREATE, Client
from julep_nb.sources.julep.errors import ValidationError
from julep_nb.sources.julep.requests import MAX_BULK_ITEMS, NewExecution

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
TASK = {"name": "bulk", "input_schema": SCHEMA, "main": [{"evaluate": {"double": "$ _.n * 2"}}]}


async def _task(http: httpx.AsyncClient) -> str:
    agent = (await http.post("/agents", json={"name": "bulk"})).json()
    created = await http.post(f"/agents/{agent['id']}/tasks", json=TASK)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _bulk(task_id: str) -> str:
    return f"/julep_nb/tasks/{task_id}/executions/bulk"


async def _count(http: httpx.AsyncClient, task_id: str) -> int:
    return len((await http.get(f"/tasks/{task_id}/executions")).json()["items"])


async def test_the_server_names_its_extensions(http: httpx.AsyncClient) -> None:
    answer = (await http.get("/julep_nb/extensions")).json()
    assert answer["server"] == "julep_nb" and BULK_CREATE in answer["extensions"]


async def test_items_come_back_in_order_and_run(http: httpx.AsyncClient) -> None:
    task_id = await _task(http)
    items = [{"input": {"n": i}, "metadata": {"row": i}} for i in range(50)]
    response = await http.post(_bulk(task_id), json={"items": items})
    assert response.status_code == 201, response.text
    made = response.json()["items"]
    assert response.json()["replayed"] == []
    assert [e["input"] for e in made] == [{"n": i} for i in range(50)]
    assert [e["metadata"] for e in made] == [{"row": i} for i in range(50)]
    assert len({e["id"] for e in made}) == 50 and {e["status"] for e in made} == {"queued"}
    # creation times follow the items, so a listing by creation time is the request's order
    assert [e["created_at"] for e in made] == sorted({e["created_at"] for e in made})
    listed = await http.get(f"/tasks/{task_id}/executions", params={"direction": "asc"})
    assert [e["id"] for e in listed.json()["items"]] == [e["id"] for e in made]
    async with asyncio.timeout(20):  # every one was started
        while True:
            states = [(await http.get(f"/executions/{e['id']}")).json() for e in made]
            if all(s["status"] == "succeeded" for s in states):
                break
            await asyncio.sleep(0.05)
    assert [s["output"] for s in states] == [{"double": 2 * i} for i in range(50)]


async def test_a_repeated_key_returns_the_first_execution(http: httpx.AsyncClient) -> None:
    task_id = await _task(http)
    single = await http.post(
        f"/tasks/{task_id}/executions", json={"input": {"n": 0}}, headers={"Idempotency-Key": "a"}
    )
    items = [
        {"input": {"n": 1}, "idempotency_key": "b"},
        {"input": {"n": 2}, "idempotency_key": "a"},  # made by the single route
        {"input": {"n": 3}, "idempotency_key": "b"},  # made earlier in this request
        {"input": {"n": 4}},
    ]
    first = await http.post(_bulk(task_id), json={"items": items})
    assert first.status_code == 201
    made = first.json()["items"]
    assert first.json()["replayed"] == [1, 2]
    assert made[1]["id"] == single.json()["id"] and made[1]["input"] == {"n": 0}
    assert made[2]["id"] == made[0]["id"] and made[2]["input"] == {"n": 1}
    again = await http.post(_bulk(task_id), json={"items": items[:3]})  # a retried request
    assert again.status_code == 200  # nothing new
    assert [e["id"] for e in again.json()["items"]] == [e["id"] for e in made[:3]]
    assert again.json()["replayed"] == [0, 1, 2]
    assert await _count(http, task_id) == 3  # a, b and the keyless one


@pytest.mark.parametrize(
    ("bad", "status", "named"),
    [
        ({"input": {"n": "seven"}}, 400, "items[2].input['n']"),  # the task's input_schema
        ({"input": {}}, 400, "items[2].input: 'n' is a required property"),
        ({"input": 5}, 422, "items[2].input"),  # not an object
        ({"input": {"n": 1}, "idempotency_key": ""}, 422, "items[2].idempotency_key"),
    ],
)
async def test_a_bad_item_is_named_and_nothing_is_created(
    http: httpx.AsyncClient, bad: dict[str, Any], status: int, named: str
) -> None:
    task_id = await _task(http)
    items = [{"input": {"n": 1}}, {"input": {"n": 2}}, bad, {"input": {"n": 4}}]
    response = await http.post(_bulk(task_id), json={"items": items})
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert named in message and "nothing was created" in message
    assert await _count(http, task_id) == 0


async def test_bodies_and_tasks_that_cannot_be_used(http: httpx.AsyncClient) -> None:
    task_id = await _task(http)
    too_many = {"items": [{"input": {"n": 1}}] * (MAX_BULK_ITEMS + 1)}
    response = await http.post(_bulk(task_id), json=too_many)
    assert response.status_code == 422 and f"at most {MAX_BULK_ITEMS}" in response.text
    response = await http.post(_bulk(task_id), json={"inputs": []})
    assert response.status_code == 422 and "items" in response.json()["error"]["message"]
    unknown = await http.post(_bulk("nope"), json={"items": [{"input": {"n": 1}}]})
    assert unknown.status_code == 404 and "'nope'" in unknown.text
    empty = await http.post(_bulk(task_id), json={"items": []})
    assert empty.status_code == 200 and empty.json() == {"items": [], "replayed": []}
    assert await _count(http, task_id) == 0


async def test_the_answer_comes_once_every_row_is_committed(tmp_path: Path) -> None:
    db = tmp_path / "bulk.db"
    with start(db=db) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            task_id = await _task(http)
            items = [{"input": {"n": i}} for i in range(200)]
            made = (await http.post(_bulk(task_id), json={"items": items})).json()["items"]
            # read at once, from another connection: the rows are there
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT id FROM executions WHERE task_id = ? ORDER BY created_at", (task_id,)
                ).fetchall()
    assert [r[0] for r in rows] == [e["id"] for e in made]


async def test_the_client_asks_a_loopback_server_once(local_server: LocalServer) -> None:
    async with Client(base_url=local_server.base_url) as client:
        assert await client.offers(BULK_CREATE)
        agent = await client.create_agent(name="bulk")
        task = await client.create_task(agent.id, TASK)
        made = await client.create_executions(
            task.id, [NewExecution(input={"n": i}, idempotency_key=f"k{i}") for i in range(3)]
        )
        assert [e.input for e in made] == [{"n": 0}, {"n": 1}, {"n": 2}]
        with pytest.raises(ValidationError, match=r"items\[1\]\.input\['n'\]"):
            await client.create_executions(
                task.id, [NewExecution(input={"n": 9}), NewExecution(input={"n": "x"})]
            )
        assert len(await client.list_executions(task.id)) == 3
    async with Client(base_url=local_server.base_url, extensions=False) as client:
        assert not await client.offers(BULK_CREATE)


async def test_other_servers_are_not_asked_or_say_no() -> None:
    seen: list[str] = []

    def julep(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.url.path}")
        return httpx.Response(404, json={"detail": "Not Found"})

    transport = httpx.MockTransport(julep)
    hosted = Client(base_url="https://api.julep.ai/api", api_key="k", transport=transport)
    assert not await hosted.offers(BULK_CREATE)
    assert seen == []  # hosted Julep is never asked
    local_julep = Client(base_url="http://localhost:8080", api_key="k", transport=transport)
    assert not await local_julep.offers(BULK_CREATE)
    assert not await local_julep.offers(BULK_CREATE)
    assert seen == ["localhost /julep_nb/extensions"]  # asked once; the 404 is kept


async def test_the_question_is_not_retried_and_a_passing_failure_is_not_kept() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"extensions": [BULK_CREATE]})]
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answers.pop(0)

    transport = httpx.MockTransport(server)
    client = Client(base_url="http://127.0.0.1:9", api_key="k", transport=transport, backoff=5)
    async with asyncio.timeout(2):  # a retry would wait the 5 s backoff
        assert not await client.offers(BULK_CREATE)  # busy: no, for now
        assert await client.offers(BULK_CREATE)  # asked again, and kept
        assert await client.offers(BULK_CREATE)
    assert seen == ["/julep_nb/extensions"] * 2

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    gone = Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(down), backoff=5)
    async with asyncio.timeout(2):
        assert not await gone.offers(BULK_CREATE)
