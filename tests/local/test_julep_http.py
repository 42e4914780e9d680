"""Julep constructs through the HTTP API: agent tools, YAML task bodies, notebook handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from julep import AsyncJulep

import julep_nb.local
from julep_nb.local import integrations
from julep_nb.local.server import LocalServer

from .conftest import API_KEY

TASK_YAML = """\
name: summarize
description: a task sent as YAML, as Julep's task routes allow
input_schema:
  type: object
  properties:
    topic: {type: string}
main:
  - evaluate:
      title: $ _.topic.title()
  - return:
      title: _.title
      by: $ agent.name
"""


@pytest.fixture(autouse=True)
def no_handlers() -> Iterator[None]:
    saved = dict(integrations._handlers)
    integrations._handlers.clear()
    yield
    integrations._handlers.clear()
    integrations._handlers.update(saved)


async def _finished(http: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            execution = (await http.get(f"/executions/{execution_id}")).json()
            if execution["status"] in ("succeeded", "failed", "awaiting_input"):
                return execution
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("media", ["application/yaml", "text/yaml", "application/x-yaml"])
async def test_task_routes_take_yaml_bodies(http: httpx.AsyncClient, media: str) -> None:
    agent = (await http.post("/agents", json={"name": "Scribe"})).json()
    created = await http.post(
        f"/agents/{agent['id']}/tasks", content=TASK_YAML, headers={"content-type": media}
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["name"] == "summarize" and task["main"] == yaml.safe_load(TASK_YAML)["main"]
    again = await http.post(
        f"/agents/{agent['id']}/tasks/{task['id']}",
        content=TASK_YAML.replace("summarize", "summarize v2"),
        headers={"content-type": media},
    )
    assert again.status_code == 201 and again.json()["name"] == "summarize v2"
    run = await http.post(f"/tasks/{task['id']}/executions", json={"input": {"topic": "tides"}})
    done = await _finished(http, run.json()["id"])
    assert done["status"] == "succeeded" and done["output"] == {"title": "Tides", "by": "Scribe"}


async def test_bad_yaml_bodies_are_refused_with_the_reason(http: httpx.AsyncClient) -> None:
    agent = (await http.post("/agents", json={"name": "a"})).json()
    url = f"/agents/{agent['id']}/tasks"
    yaml_type = {"content-type": "application/yaml"}
    broken = await http.post(url, content="main: [unclosed", headers=yaml_type)
    assert broken.status_code == 400 and "not valid YAML" in broken.json()["error"]["message"]
    bomb = "a: &x [1, 2]\nb: [*x, *x]\nname: t\nmain: [{log: x}]\n"
    aliased = await http.post(url, content=bomb, headers=yaml_type)
    assert aliased.status_code == 400 and "aliases" in aliased.json()["error"]["message"]
    elsewhere = await http.post("/agents", content="name: x", headers=yaml_type)
    assert elsewhere.status_code == 415


async def test_agent_tools_routes_with_the_official_sdk(keyed_server: LocalServer) -> None:
    async with AsyncJulep(api_key=API_KEY, base_url=keyed_server.base_url, max_retries=0) as sdk:
        agent = await sdk.agents.create(name="toolsmith")
        tool = await sdk.agents.tools.create(
            agent.id,
            name="lookup",
            type="function",
            function={"description": "find a word", "parameters": {"type": "object"}},
        )
        assert tool.name == "lookup" and tool.type == "function" and tool.id
        await sdk.agents.tools.update(tool.id, agent_id=agent.id, description="patched")
        listed = [t async for t in sdk.agents.tools.list(agent.id)]
        assert [(t.id, t.description) for t in listed] == [(tool.id, "patched")]
        await sdk.agents.tools.reset(
            tool.id, agent_id=agent.id, name="lookup2", type="function", function={}
        )
        assert [t.name async for t in sdk.agents.tools.list(agent.id)] == ["lookup2"]
        deleted = await sdk.agents.tools.delete(tool.id, agent_id=agent.id)
        assert deleted.id == tool.id
        assert [t async for t in sdk.agents.tools.list(agent.id)] == []


async def test_agent_tool_errors_say_what_to_fix(http: httpx.AsyncClient) -> None:
    agent = (await http.post("/agents", json={"name": "a"})).json()
    url = f"/agents/{agent['id']}/tools"
    tool = {"name": "dup", "type": "function", "function": {}}
    assert (await http.post(url, json=tool)).status_code == 201
    twice = await http.post(url, json=tool)
    assert twice.status_code == 409 and "'dup'" in twice.json()["error"]["message"]
    bad = await http.post(url, json={"name": "x", "type": "teleport"})
    assert bad.status_code == 400 and "'teleport'" in bad.json()["error"]["message"]
    assert (await http.get("/agents/nope/tools")).status_code == 404
    assert (await http.delete(f"{url}/nope")).status_code == 404


def test_a_notebook_registers_a_handler_and_the_embedded_server_uses_it() -> None:
    """In-process, as a notebook cell would: register, start(), run a task."""
    calls: list[dict[str, Any]] = []

    def forecast(arguments: dict[str, Any], setup: dict[str, Any]) -> dict[str, Any]:
        calls.append(arguments)
        return {"city": arguments["city"], "sky": "clear", "units": setup["units"]}

    julep_nb.local.register_integration("weather", "get", forecast)
    tool = {
        "name": "weather",
        "type": "integration",
        "integration": {"provider": "weather", "method": "get", "setup": {"units": "metric"}},
    }
    task = {"name": "w", "tools": [tool], "main": [{"tool": "weather", "arguments": {"city": "_"}}]}
    with julep_nb.local.start() as server, httpx.Client(base_url=server.base_url) as http:
        agent = http.post("/agents", json={"name": "forecaster"}).json()
        task_id = http.post(f"/agents/{agent['id']}/tasks", json=task).json()["id"]
        execution = http.post(f"/tasks/{task_id}/executions", json={"input": {"c": 1}}).json()
        for _ in range(500):
            done = http.get(f"/executions/{execution['id']}").json()
            if done["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.01)
    assert done["status"] == "succeeded", done
    assert done["output"] == {"city": {"c": 1}, "sky": "clear", "units": "metric"}
    assert calls == [{"city": {"c": 1}}]
