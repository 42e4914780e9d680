"""Every tool type of Julep on the engine: what runs here, and what pauses for an answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from julep_nb.local import integrations
from julep_nb.local.integrations import register_integration
from julep_nb.sources.julep.models import ExecutionStatus
from tests.local.test_engine_kit import Kit

S = ExecutionStatus
SEARCH = {
    "name": "search",
    "type": "integration",
    "integration": {"provider": "brave", "method": "search", "setup": {"api_key": "k-1"}},
}


@pytest.fixture(autouse=True)
def no_handlers() -> Iterator[None]:
    """Each test registers its own integration handlers."""
    saved = dict(integrations._handlers)
    integrations._handlers.clear()
    yield
    integrations._handlers.clear()
    integrations._handlers.update(saved)


def _search_task(query: str = "$ _.q") -> dict[str, Any]:
    return {"tools": [SEARCH], "main": [{"tool": "search", "arguments": {"query": query}}]}


async def test_a_registered_sync_handler_answers_the_integration_call() -> None:
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def search(arguments: dict[str, Any], setup: dict[str, Any]) -> dict[str, Any]:
        seen.append((arguments, setup))
        return {"results": [arguments["query"].upper()]}

    register_integration("brave", "search", search)
    async with Kit() as kit:
        done = await kit.run(_search_task(), {"q": "tides"})
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == {"results": ["TIDES"]}
    assert seen == [({"query": "tides"}, {"api_key": "k-1"})]


async def test_an_async_catch_all_handler_and_the_tools_own_arguments() -> None:
    async def any_method(arguments: dict[str, Any], setup: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return arguments

    register_integration("brave", None, any_method)
    tool = {**SEARCH, "integration": {**SEARCH["integration"], "arguments": {"count": 3}}}
    spec = {"tools": [tool], "main": [{"tool": "search", "arguments": {"query": "x"}}]}
    async with Kit() as kit:
        done = await kit.run(spec)
    assert done.output == {"query": "x", "count": 3}


async def test_a_failing_handler_fails_the_step_naming_the_tool() -> None:
    def broken(arguments: dict[str, Any], setup: dict[str, Any]) -> Any:
        raise RuntimeError("quota exceeded")

    register_integration("brave", "search", broken)
    async with Kit() as kit:
        done = await kit.run(_search_task("x"))
    assert done.status is S.FAILED
    assert "main[0]" in (done.error or "") and "quota exceeded" in (done.error or "")
    assert "'search'" in (done.error or "")


async def test_with_no_handler_the_integration_call_pauses_and_the_resume_answers() -> None:
    async with Kit() as kit:
        waiting = await kit.run(_search_task(), {"q": "tides"})
        assert waiting.status is S.AWAITING_INPUT
        call = waiting.output
        assert call["type"] == "integration" and call["id"].startswith("call_")
        assert call["integration"] == {"name": "search", "arguments": {"query": "tides"}}
        await kit.engine.resume(waiting.id, {"results": ["by hand"]})
        done = await kit.until(waiting.id)
    assert done.status is S.SUCCEEDED and done.output == {"results": ["by hand"]}


@pytest.mark.parametrize("kind", ["computer_20241022", "text_editor_20241022", "bash_20241022"])
async def test_anthropic_tools_pause_like_function_tools(kind: str) -> None:
    spec = {"tools": [{"name": "t", "type": kind}], "main": [{"tool": "t", "arguments": {}}]}
    async with Kit() as kit:
        waiting = await kit.run(spec)
    assert waiting.status is S.AWAITING_INPUT
    assert waiting.output["type"] == kind and waiting.output[kind]["name"] == "t"


def _system(name: str, resource: str, operation: str, sub: str | None = None) -> dict[str, Any]:
    system = {"resource": resource, "operation": operation, "subresource": sub}
    return {"name": name, "type": "system", "system": system}


async def test_system_tools_run_against_the_local_store() -> None:
    spec = {
        "tools": [
            _system("get_agent", "agent", "get"),
            _system("add_tool", "agent", "create", "tool"),
            _system("list_tools", "agent", "list", "tool"),
        ],
        "main": [
            {"tool": "get_agent", "arguments": {"agent_id": "$ str(agent.id)"}},
            {
                "tool": "add_tool",
                "arguments": {
                    "agent_id": "$ _.id",
                    "name": "lookup",
                    "type": "function",
                    "function": {"parameters": {"type": "object"}},
                },
            },
            {"tool": "list_tools", "arguments": {"agent_id": "$ steps[0].output.id"}},
            {"return": {"name": "$ steps[0].output.name", "tools": "$ [t.name for t in _]"}},
        ],
    }
    async with Kit() as kit:
        done = await kit.run(spec)
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == {"name": "engine-tests", "tools": ["lookup"]}


async def test_a_system_tool_starts_another_execution() -> None:
    async with Kit() as kit:
        child = kit.task({"main": [{"evaluate": {"double": "$ _.n * 2"}}]})
        spec = {
            "tools": [_system("run", "task", "create", "execution")],
            "main": [{"tool": "run", "arguments": {"task_id": child, "input": {"n": 21}}}],
        }
        done = await kit.run(spec)
        assert done.status is S.SUCCEEDED, done.error
        started = await kit.until(done.output["id"])
    assert started.task_id == child and started.output == {"double": 42}


async def test_system_operations_without_a_local_resource_pause() -> None:
    spec = {
        "tools": [_system("whoami", "user", "get")],
        "main": [{"tool": "whoami", "arguments": {"user_id": "u-1"}}],
    }
    async with Kit() as kit:
        waiting = await kit.run(spec)
        assert waiting.status is S.AWAITING_INPUT
        assert waiting.output["type"] == "system"
        assert waiting.output["system"]["resource"] == "user"
        assert waiting.output["system"]["arguments"] == {"user_id": "u-1"}
        await kit.engine.resume(waiting.id, {"name": "Ada"})
        done = await kit.until(waiting.id)
    assert done.output == {"name": "Ada"}


async def test_inherit_tools_brings_the_agents_tools_and_task_tools_win() -> None:
    register_integration("brave", "search", lambda arguments, setup: "agent tool")
    async with Kit() as kit:
        kit.store.agent_tools.create(kit.agent_id, SEARCH)
        kit.store.agent_tools.create(
            kit.agent_id, {"name": "other", "type": "function", "function": {}}
        )
        spec = {
            "inherit_tools": True,
            "tools": [{"name": "other", "type": "integration", "integration": {"provider": "x"}}],
            "main": [
                {"tool": "search", "arguments": {"query": "q"}},
                {"evaluate": {"names": "$ [t.name for t in agent_tools]"}},
                {"tool": "other", "arguments": {}},
            ],
        }
        waiting = await kit.run(spec)
        outputs = [t.output for t in kit.transitions(waiting.id)]
    assert "agent tool" in outputs
    assert {"names": ["search", "other"]} in outputs
    # the task's own `other` (an integration without handler) wins over the agent's
    assert waiting.status is S.AWAITING_INPUT and waiting.output["type"] == "integration"


async def test_a_prompt_runs_integration_tools_the_model_calls() -> None:
    register_integration("brave", "search", lambda arguments, setup: {"hits": 2})
    spec = {
        "tools": [SEARCH],
        "main": [
            {
                "prompt": """$ 'TOOL_CALL: search {"query": "x"}'""",
                "auto_run_tools": True,
                "unwrap": True,
            }
        ],
    }
    async with Kit() as kit:
        done = await kit.run(spec)
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == '[offline model] tool results: {"hits": 2}'


async def test_a_paused_integration_call_survives_a_restart_and_sees_the_agent_after(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "julep.db")
    spec = {
        **_search_task(),
        "main": [
            *_search_task()["main"],
            {"return": {"answer": "$ _", "agent": "$ agent.name"}},
        ],
    }
    async with Kit(db) as kit:
        waiting = await kit.run(spec, {"q": "tides"})
        assert waiting.status is S.AWAITING_INPUT
    async with Kit(db) as kit:
        await kit.engine.recover()
        await kit.engine.resume(waiting.id, {"results": ["after restart"]})
        done = await kit.until(waiting.id)
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == {"answer": {"results": ["after restart"]}, "agent": "engine-tests"}


async def test_the_dummy_provider_answers_with_its_arguments_as_in_julep() -> None:
    tool = {"name": "echo", "type": "integration", "integration": {"provider": "dummy"}}
    spec = {"tools": [tool], "main": [{"tool": "echo", "arguments": {"say": "$ _.word"}}]}
    async with Kit() as kit:
        done = await kit.run(spec, {"word": "hi"})
    assert done.status is S.SUCCEEDED and done.output == {"say": "hi"}
