"""api_call tools and OpenAI-compatible models against real loopback HTTP servers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from julep_nb.local.model import OfflineModel, OpenAICompatibleModel, model_from_env
from julep_nb.sources.julep.models import ExecutionStatus
from tests.local.test_engine_kit import Kit, http_server

S = ExecutionStatus
WEATHER = {"name": "weather", "type": "function", "function": {"parameters": {"type": "object"}}}


def _api_tool(url: str) -> dict[str, Any]:
    return {
        "name": "echo",
        "type": "api_call",
        "api_call": {"method": "POST", "url": url + "/echo", "headers": {"X-From": "tool"}},
    }


async def test_api_call_tool_performs_the_http_request() -> None:
    with http_server(
        lambda request: (200, {"echo": request["body"], "path": request["path"]})
    ) as srv:
        async with Kit() as kit:
            spec = {
                "tools": [_api_tool(srv.url)],
                "main": [
                    {
                        "tool": "echo",
                        "arguments": {"json": {"q": "$ _.q"}, "params": {"page": 2}},
                    }
                ],
            }
            execution = await kit.run(spec, {"q": "hello"})
    assert execution.status is S.SUCCEEDED, execution.error
    assert execution.output["status_code"] == 200
    assert execution.output["json"] == {"echo": {"q": "hello"}, "path": "/echo?page=2"}
    (request,) = srv.requests
    assert request["method"] == "POST" and request["headers"]["x-from"] == "tool"


async def test_api_call_http_errors_fail_the_step_with_the_status() -> None:
    with http_server(lambda request: (503, {"detail": "down"})) as srv:
        async with Kit() as kit:
            spec = {"tools": [_api_tool(srv.url)], "main": [{"tool": "echo", "arguments": {}}]}
            execution = await kit.run(spec)
    assert execution.status is S.FAILED
    assert "answered 503" in (execution.error or "") and "main[0]" in (execution.error or "")


async def test_prompt_function_tool_call_pauses_and_feeds_the_result_back() -> None:
    async with Kit() as kit:
        spec = {
            "tools": [WEATHER],
            "main": [
                {
                    "prompt": "$ f'''What is the weather?\n"
                    + """TOOL_CALL: weather {{"city": "{_.city}"}}'''""",
                    "auto_run_tools": True,
                    "unwrap": True,
                }
            ],
        }
        waiting = await kit.run(spec, {"city": "Paris"})
        assert waiting.status is S.AWAITING_INPUT
        (call,) = waiting.output
        assert call["type"] == "function"
        assert call["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
        await kit.engine.resume(waiting.id, {call["id"]: {"temp": 21}})
        done = await kit.until(waiting.id)
        types = [t.type.value for t in kit.transitions(waiting.id)]
    assert done.output == '[offline model] tool results: {"temp": 21}'
    assert types == ["init", "wait", "resume", "finish"]


async def test_prompt_tools_are_offered_only_with_auto_run_tools() -> None:
    async with Kit() as kit:
        spec = {
            "tools": [WEATHER],
            "main": [{"prompt": "$ 'TOOL_CALL: weather {}'", "unwrap": True}],
        }
        execution = await kit.run(spec)
    assert execution.output == "[offline model] TOOL_CALL: weather {}"


async def test_prompt_api_call_tools_run_without_pausing() -> None:
    with http_server(lambda request: (200, {"sunny": True})) as srv:
        async with Kit() as kit:
            spec = {
                "tools": [_api_tool(srv.url)],
                "main": [
                    {"prompt": "$ 'TOOL_CALL: echo {}'", "auto_run_tools": True, "unwrap": True}
                ],
            }
            execution = await kit.run(spec)
    assert execution.status is S.SUCCEEDED, execution.error
    assert execution.output.startswith("[offline model] tool results: ")
    assert '"sunny": true' in execution.output


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


async def test_openai_compatible_model_over_loopback() -> None:
    def answer(request: dict[str, Any]) -> tuple[int, Any]:
        if request["path"] != "/v1/chat/completions":
            return 404, {"error": "wrong path"}
        last = request["body"]["messages"][-1]["content"]
        return 200, _completion(f"echo: {last}")

    with http_server(answer) as srv:
        model = model_from_env(
            {
                "JULEP_NB_MODEL_URL": srv.url + "/v1",
                "JULEP_NB_MODEL_KEY": "sk-model-secret",
                "JULEP_NB_MODEL": "tiny",
            }
        )
        assert isinstance(model, OpenAICompatibleModel) and "sk-model-secret" not in repr(model)
        async with Kit(model=model) as kit:
            spec = {
                "main": [
                    {
                        "prompt": [{"role": "user", "content": "hi {{ _.name }}"}],
                        "settings": {"temperature": 0.5},
                    }
                ]
            }
            execution = await kit.run(spec, {"name": "ada"})
    assert execution.status is S.SUCCEEDED, execution.error
    assert execution.output["choices"][0]["message"]["content"] == "echo: hi ada"
    (request,) = srv.requests
    assert request["headers"]["authorization"] == "Bearer sk-model-secret"
    assert request["body"]["model"] == "tiny" and request["body"]["temperature"] == 0.5
    assert "tools" not in request["body"]


async def test_model_errors_fail_the_step_without_leaking_the_key() -> None:
    with http_server(lambda request: (401, {"error": "bad key"})) as srv:
        model = OpenAICompatibleModel(srv.url, api_key="sk-model-secret")
        async with Kit(model=model) as kit:
            execution = await kit.run({"main": [{"prompt": "hi"}]})
    assert execution.status is S.FAILED
    assert "answered 401" in (execution.error or "")
    assert "sk-model-secret" not in json.dumps(execution.model_dump(mode="json"))


def test_without_a_model_url_the_offline_model_is_used() -> None:
    assert isinstance(model_from_env({}), OfflineModel)


@pytest.mark.parametrize("unwrap", [True, False])
async def test_offline_model_output_shapes(unwrap: bool) -> None:
    async with Kit() as kit:
        execution = await kit.run({"main": [{"prompt": "ping", "unwrap": unwrap}]})
    if unwrap:
        assert execution.output == "[offline model] ping"
    else:
        assert execution.output["object"] == "chat.completion"
        assert execution.output["choices"][0]["message"]["content"] == "[offline model] ping"
        assert execution.output["usage"]["total_tokens"] >= 1
