"""Task validation at creation: each error is a StepError naming the failing path."""

from __future__ import annotations

from typing import Any

import pytest

from julep_nb.local.engine import Engine
from julep_nb.local.errors import StepError
from julep_nb.local.store import Store


@pytest.fixture
def engine() -> Engine:
    return Engine(Store())


def _error(engine: Engine, spec: dict[str, Any]) -> StepError:
    with pytest.raises(StepError) as info:
        engine.validate_task({"name": "t", **spec})
    return info.value


FUNCTION_TOOL = {"name": "lookup", "type": "function", "function": {"parameters": {}}}


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({"main": []}, "main", "non-empty 'main'"),
        ({"main": [{"evaluate": {"a": 1}}, {"teleport": "x"}]}, "main[1]", "no step kind"),
        ({"main": [{"evaluate": {"a": 1}, "log": "x"}]}, "main[0]", "several step kinds"),
        ({"main": ["evaluate"]}, "main[0]", "must be a mapping"),
        ({"main": [{"evaluate": {"a": "$ 1 +"}}]}, "main[0].evaluate.a", "syntax error"),
        ({"main": [{"log": "{{ 1 + }}"}]}, "main[0].log", "template syntax error"),
        (
            {"main": [{"evaluate": {"a": "$ stpes[0]"}}]},
            "main[0].evaluate.a",
            "'stpes' is not defined",
        ),
        (
            {"main": [{"foreach": {"in": "$ _", "do": [{"evaluate": {"a": 1}}, {"bogus": 1}]}}]},
            "main[0].foreach.do[1]",
            "no step kind",
        ),
        (
            {
                "main": [
                    {"evaluate": {"a": 1}},
                    {"evaluate": {}},
                    {"foreach": {"in": "$ _", "do": [{"evaluate": {"x": "$ (lambda: 1)()"}}]}},
                ]
            },
            "main[2].foreach.do[0].evaluate.x",
            "lambda",
        ),
        (
            {"main": [{"if": "$ _", "then": [{"if": "$ ((", "then": {"log": "x"}}]}]},
            "main[0].then[0].if",
            "syntax",
        ),
        (
            {"main": [{"switch": [{"case": "_", "then": {"nope": 1}}]}]},
            "main[0].switch[0].then",
            "no step kind",
        ),
        (
            {"main": [{"over": "$ _", "map": {"log": "x"}, "parallelism": 0}]},
            "main[0]",
            "parallelism",
        ),
        (
            {"main": [{"parallel": [{"log": "a"}, {"wat": 1}]}]},
            "main[0].parallel[1]",
            "no step kind",
        ),
        ({"main": [{"sleep": {"seconds": -1}}]}, "main[0]", "sleep seconds"),
        ({"main": [{"sleep": {"weeks": 1}}]}, "main[0]", "sleep takes"),
        ({"main": [{"wait_for_input": {"question": "x"}}]}, "main[0]", "wait_for_input takes"),
        ({"main": [{"get": 3}]}, "main[0]", "get takes"),
        ({"main": [{"evaluate": "$ 1"}]}, "main[0]", "mapping of names"),
        ({"main": [{"if": "$ _", "then": []}]}, "main[0].then", "at least one step"),
        ({"main": [{"log": "x"}], "helper": []}, "helper", "no steps"),
        (
            {"main": [{"tool": "lookup", "arguments": 3}], "tools": [FUNCTION_TOOL]},
            "main[0]",
            "arguments",
        ),
        ({"main": [{"prompt": 3}]}, "main[0]", "prompt takes"),
    ],
)
def test_invalid_tasks_name_the_failing_path(
    engine: Engine, spec: dict[str, Any], path: str, fragment: str
) -> None:
    error = _error(engine, spec)
    assert error.path == path
    assert fragment in str(error)
    assert str(error).startswith(f"{path}: ")


def test_unknown_keys_are_ignored_and_logged_naming_the_path(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="julep_nb.local.validate")
    spec = {
        "main": [
            {"evaluate": {"a": 1}, "argumnets": {}, "id": "first"},
            {"foreach": {"in": "$ [1]", "do": {"log": "x"}, "parallelism": 2}},
        ]
    }
    engine.validate_task({"name": "t", **spec})
    logged = caplog.text
    assert "main[0]" in logged and "'argumnets'" in logged and "'id'" in logged
    assert "main[1].foreach" in logged and "'parallelism'" in logged


@pytest.mark.parametrize(
    "tool",
    [
        {"name": "search", "type": "integration", "integration": {"provider": "brave"}},
        {"name": "me", "type": "system", "system": {"resource": "agent", "operation": "get"}},
        {"name": "screen", "type": "computer_20241022", "computer_20241022": {}},
        {"name": "edit", "type": "text_editor_20241022"},
        {"name": "shell", "type": "bash_20241022"},
    ],
)
def test_every_tool_type_of_julep_is_accepted(engine: Engine, tool: dict[str, Any]) -> None:
    spec = {"tools": [tool], "main": [{"tool": tool["name"], "arguments": {}}]}
    assert engine.validate_task({"name": "t", **spec})["tools"] == [tool]


@pytest.mark.parametrize(
    ("tool", "fragment"),
    [
        ({"name": "s", "type": "integration", "integration": {}}, "needs integration"),
        ({"name": "s", "type": "system", "system": {"resource": "planet"}}, "needs system"),
        ({"name": "s", "type": "telepathy"}, "has type 'telepathy'"),
        ({"name": "1s", "type": "function"}, "Python identifier"),
    ],
)
def test_malformed_tools_are_refused_naming_the_tool(
    engine: Engine, tool: dict[str, Any], fragment: str
) -> None:
    error = _error(engine, {"tools": [FUNCTION_TOOL, tool], "main": [{"log": "x"}]})
    assert error.path == "tools[1]" and fragment in str(error)


def test_api_call_tools_need_a_method_and_url(engine: Engine) -> None:
    error = _error(
        engine,
        {"tools": [{"name": "x", "type": "api_call", "api_call": {}}], "main": [{"log": "x"}]},
    )
    assert error.path == "tools[0]" and "method, url" in str(error)


def test_a_valid_task_with_every_step_kind_is_accepted_unchanged(engine: Engine) -> None:
    spec = {
        "name": "all",
        "tools": [
            FUNCTION_TOOL,
            {"name": "web", "type": "api_call", "api_call": {"method": "GET", "url": "http://x"}},
        ],
        "main": [
            {"evaluate": {"a": "$ 1"}, "label": "first"},
            {"if": "$ _.a", "then": {"log": "yes {{ _.a }}"}, "else": [{"log": "no"}]},
            {
                "switch": [
                    {"case": "$ false", "then": {"log": "a"}},
                    {"case": "_", "then": {"log": "b"}},
                ]
            },
            {"foreach": {"in": "$ [1]", "do": {"evaluate": {"x": "$ _"}}}},
            {
                "over": "$ [1]",
                "map": {"evaluate": {"x": "$ _"}},
                "reduce": "$ results + [_]",
                "parallelism": 2,
            },
            {"parallel": [{"log": "p"}, {"evaluate": {"q": 1}}]},
            {"wait_for_input": {"info": {"q": "?"}}},
            {"sleep": {"seconds": 1, "minutes": 0}},
            {"set": {"k": "$ 1"}},
            {"get": "k"},
            {"workflow": "sub", "arguments": {"x": "$ _"}},
            {
                "prompt": [{"role": "user", "content": "$ f'hi {_}'"}],
                "unwrap": True,
                "tools": ["lookup"],
            },
            {"tool": "lookup", "arguments": "_"},
            {"return": {"done": "$ true"}},
            {"error": "unreachable"},
        ],
        "sub": [{"evaluate": {"y": "$ _.x"}}],
    }
    assert engine.validate_task(spec) == spec


async def test_unknown_tools_and_subworkflows_fail_when_the_step_runs_as_in_julep(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from julep_nb.sources.julep.models import ExecutionStatus
    from tests.local.test_engine_kit import Kit

    caplog.set_level("WARNING", logger="julep_nb.local.validate")
    async with Kit() as kit:
        tool = await kit.run({"main": [{"log": "x"}, {"tool": "nope", "arguments": {}}]})
        flow = await kit.run({"main": [{"workflow": "missing"}], "helper": [{"log": "x"}]})
    assert "main[1]: tool 'nope' is not defined" in caplog.text
    assert "main[0]: subworkflow 'missing' is not defined" in caplog.text
    assert tool.status is flow.status is ExecutionStatus.FAILED
    assert "main[1]" in (tool.error or "") and "unknown tool 'nope'" in (tool.error or "")
    assert "unknown subworkflow 'missing' (subworkflows defined: helper)" in (flow.error or "")
