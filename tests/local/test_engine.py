"""One engine test per step kind, run against a real Store, plus the transition shape."""

from __future__ import annotations

import asyncio
import time

from julep_nb.sources.julep.models import ExecutionStatus, TransitionType, is_valid_transition
from tests.local.test_engine_kit import Kit

S = ExecutionStatus


def _assert_valid_order(kit: Kit, execution_id: str) -> None:
    previous = None
    for transition in kit.transitions(execution_id):
        assert is_valid_transition(previous, transition.type), (previous, transition.type)
        assert transition.step_type, transition
        previous = transition.type


async def test_three_evaluate_steps_write_init_steps_and_finish() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"evaluate": {"x": "$ _.a + 1"}},
                {"evaluate": {"y": "$ _.x * 10"}, "label": "times_ten"},
                {"evaluate": {"z": "$ steps['times_ten'].output.y + inputs[0].a"}},
            ]
        }
        execution = await kit.run(spec, {"a": 1})
        assert execution.status is S.SUCCEEDED
        assert execution.output == {"z": 21}
        transitions = kit.transitions(execution.id)
        assert [t.type for t in transitions] == [
            TransitionType.INIT,
            TransitionType.STEP,
            TransitionType.STEP,
            TransitionType.FINISH,
        ]
        init, first, second, finish = transitions
        assert init.output == {"a": 1} and init.current.step == 0 and init.next is not None
        assert (first.current.step, first.next and first.next.step) == (0, 1)
        assert second.step_label == "times_ten" and first.step_label is None
        assert finish.next is None and finish.output == {"z": 21}
        assert {t.step_type for t in transitions} == {"evaluate"}
        assert len({t.current.scope_id for t in transitions}) == 1
        assert execution.transition_count == 4


async def test_if_else_runs_the_matching_branch_in_its_own_scope() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {
                    "if": "$ _.n > 1",
                    "then": [
                        {"evaluate": {"big": "$ _.n"}},
                        {"evaluate": {"twice": "$ _.big * 2"}},
                    ],
                    "else": {"evaluate": {"small": "$ _.n"}},
                },
            ]
        }
        big = await kit.run(spec, {"n": 5})
        small = await kit.run(spec, {"n": 0})
        assert big.output == {"twice": 10} and small.output == {"small": 0}
        assert kit.kinds(big.id) == [
            "init:main[0]",
            "init_branch:main[0].then[0]",
            "step:main[0].then[0]",
            "finish_branch:main[0].then[1]",
            "finish:main[0]",
        ]
        scopes = {t.current.workflow: t.current.scope_id for t in kit.transitions(big.id)}
        assert scopes["main"] != scopes["main[0].then"]
        _assert_valid_order(kit, big.id)
        no_else = await kit.run(
            {"main": [{"if": "$ false", "then": {"evaluate": {"a": 1}}}]}, {"k": 1}
        )
        assert no_else.output == {"k": 1}


async def test_switch_takes_the_first_true_case_or_the_default() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {
                    "switch": [
                        {"case": "$ _.c == 'a'", "then": {"evaluate": {"got": "A"}}},
                        {"case": "_", "then": [{"evaluate": {"got": "default"}}]},
                    ]
                }
            ]
        }
        assert (await kit.run(spec, {"c": "a"})).output == {"got": "A"}
        other = await kit.run(spec, {"c": "z"})
        assert other.output == {"got": "default"}
        assert "init_branch:main[0].switch[1][0]" in kit.kinds(other.id)
        none = await kit.run({"main": [{"switch": [{"case": "$ false", "then": {"log": "x"}}]}]})
        assert none.status is S.FAILED and "no switch case matched" in (none.error or "")


async def test_foreach_runs_the_body_per_item_and_collects_outputs() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {
                    "foreach": {
                        "in": "$ _.items",
                        "do": [
                            {"evaluate": {"sq": "$ _ * _"}},
                            # steps/inputs inside a body are the enclosing workflow's
                            {"evaluate": {"sq": "$ _.sq", "topic": "$ steps[0].input.topic"}},
                        ],
                    }
                }
            ]
        }
        execution = await kit.run(spec, {"items": [1, 2, 3], "topic": "t"})
        assert execution.output == [
            {"sq": 1, "topic": "t"},
            {"sq": 4, "topic": "t"},
            {"sq": 9, "topic": "t"},
        ]
        branches = [
            t for t in kit.transitions(execution.id) if t.type is TransitionType.INIT_BRANCH
        ]
        assert [b.output for b in branches] == [1, 2, 3]
        assert len({b.current.scope_id for b in branches}) == 3
        _assert_valid_order(kit, execution.id)


async def test_map_reduce_maps_with_parallelism_and_reduces() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {
                    "over": "$ _.xs",
                    "map": [{"sleep": {"seconds": 0.1}}, {"evaluate": {"v": "$ _ * 10"}}],
                    "reduce": "$ results + _.v",
                    "initial": 0,
                    "parallelism": 4,
                }
            ]
        }
        started = time.monotonic()
        execution = await kit.run(spec, {"xs": [1, 2, 3, 4]})
        assert execution.output == 100
        assert time.monotonic() - started < 0.35  # four 0.1 s sleeps ran side by side
        default = await kit.run({"main": [{"over": "$ [1, 2]", "map": {"evaluate": {"v": "$ _"}}}]})
        assert default.output == [{"v": 1}, {"v": 2}]
        _assert_valid_order(kit, execution.id)


async def test_parallel_runs_steps_side_by_side_on_the_same_input() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {
                    "parallel": [
                        {"evaluate": {"a": "$ _.n + 1"}},
                        {"evaluate": {"b": "$ _.n + 2"}},
                    ]
                }
            ]
        }
        execution = await kit.run(spec, {"n": 1})
        assert execution.output == [{"a": 2}, {"b": 3}]
        assert "init_branch:main[0].parallel[1][0]" in kit.kinds(execution.id)


async def test_wait_for_input_pauses_and_the_resume_input_becomes_the_output() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"wait_for_input": {"info": {"question": "$ 'name of ' + _.who"}}, "label": "ask"},
                {"evaluate": {"hello": "$ 'hi ' + _.name"}},
            ]
        }
        waiting = await kit.run(spec, {"who": "you"})
        assert waiting.status is S.AWAITING_INPUT
        assert waiting.output == {"question": "name of you"}  # the info itself, as in Julep
        wait = kit.transitions(waiting.id)[-1]
        assert wait.type is TransitionType.WAIT and wait.step_label == "ask"
        assert isinstance((wait.metadata or {}).get("task_token"), str)
        await kit.engine.resume(waiting.id, {"name": "ada"})
        done = await kit.until(waiting.id)
        assert done.output == {"hello": "hi ada"}
        assert kit.kinds(waiting.id) == [
            "init:main[0]",
            "wait:main[0]",
            "resume:main[0]",
            "finish:main[1]",
        ]
        assert kit.transitions(waiting.id)[2].output == {"name": "ada"}


async def test_sleep_waits_and_passes_its_input_through() -> None:
    async with Kit() as kit:
        started = time.monotonic()
        execution = await kit.run({"main": [{"sleep": {"seconds": 0.2}}]}, {"k": 1})
        assert time.monotonic() - started >= 0.2
        assert execution.output == {"k": 1}


async def test_log_renders_its_message_into_metadata() -> None:
    async with Kit() as kit:
        execution = await kit.run(
            {"main": [{"log": "n={{ _.n }}"}, {"evaluate": {"n": "$ _.n"}}]}, {"n": 3}
        )
        log = kit.transitions(execution.id)[1]
        assert log.step_type == "log" and (log.metadata or {}).get("log") == "n=3"
        assert log.output == {"n": 3} and execution.output == {"n": 3}


async def test_return_ends_the_workflow_from_inside_a_branch() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"if": "$ true", "then": {"return": {"early": "$ _.v"}}},
                {"evaluate": {"never": 1}},
            ]
        }
        execution = await kit.run(spec, {"v": 7})
        assert execution.output == {"early": 7}
        assert kit.kinds(execution.id)[-2:] == ["finish_branch:main[0].then[0]", "finish:main[0]"]


async def test_error_step_fails_the_execution_with_its_message() -> None:
    async with Kit() as kit:
        spec = {"main": [{"evaluate": {"a": 1}}, {"error": "bad {{ _.a }}", "label": "boom"}]}
        execution = await kit.run(spec)
        assert execution.status is S.FAILED and execution.error == "bad 1"
        last = kit.transitions(execution.id)[-1]
        assert last.type is TransitionType.ERROR and last.step_type == "error"
        assert (last.current.step, last.step_label, last.next) == (1, "boom", None)


async def test_failing_expression_names_the_step_and_the_expression() -> None:
    async with Kit() as kit:
        execution = await kit.run({"main": [{"evaluate": {"a": "$ _.missing + 1"}}]})
        assert execution.status is S.FAILED
        assert "main[0]" in (execution.error or "") and "_.missing + 1" in (execution.error or "")


async def test_yield_calls_a_subworkflow_with_its_own_steps_and_state() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"set": {"owner": "main"}},
                {"workflow": "double", "arguments": {"n": "$ _.owner + '!'"}},
                {"evaluate": {"r": "$ _.r", "owner": "$ state.owner"}},
            ],
            "double": [
                {"evaluate": {"twice": "$ steps[0].input.n * 2", "seen": "$ state.get('owner')"}},
                {"return": {"r": "$ [_.twice, _.seen]"}},
            ],
        }
        execution = await kit.run(spec)
        assert execution.output == {"r": ["main!main!", None], "owner": "main"}
        sub = [t for t in kit.transitions(execution.id) if t.current.workflow == "double"]
        assert [t.type.value for t in sub] == ["init_branch", "step", "finish_branch"]


async def test_set_and_get_share_state_across_steps_and_branches() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"set": {"a": "$ _.x", "b": 2}},
                {"foreach": {"in": "$ [1]", "do": {"set": {"c": "$ state.a + 1"}}}},
                {"get": "c"},
                {"get": ["a", "b", "zz"]},
            ]
        }
        execution = await kit.run(spec, {"x": 1})
        assert execution.output == {"a": 1, "b": 2, "zz": None}
        get_c = kit.transitions(execution.id)[-2]
        assert (get_c.step_type, get_c.output) == ("get", 2)


async def test_prompt_with_the_offline_model_answers_deterministically() -> None:
    async with Kit() as kit:
        spec = {
            "main": [
                {"prompt": "Summarise {{ _.topic }}", "unwrap": True},
                {
                    "prompt": [
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": "$ 'again: ' + _"},
                    ]
                },
            ]
        }
        execution = await kit.run(spec, {"topic": "AI"})
        assert kit.transitions(execution.id)[1].output == "[offline model] Summarise AI"
        response = execution.output
        assert response["choices"][0]["message"]["content"] == (
            "[offline model] again: [offline model] Summarise AI"
        )
        assert response["choices"][0]["finish_reason"] == "stop"


async def test_tool_call_of_a_function_tool_pauses_with_the_call() -> None:
    async with Kit() as kit:
        spec = {
            "tools": [{"name": "lookup", "type": "function", "function": {"parameters": {}}}],
            "main": [
                {"tool": "lookup", "arguments": {"q": "$ _.q"}},
                {"evaluate": {"answer": "$ _.result"}},
            ],
        }
        waiting = await kit.run(spec, {"q": "x"})
        assert waiting.status is S.AWAITING_INPUT
        call = waiting.output
        assert call["type"] == "function" and call["function"] == {
            "name": "lookup",
            "arguments": {"q": "x"},
        }
        assert call["id"].startswith("call_")
        await kit.engine.resume(waiting.id, {"result": 42})
        assert (await kit.until(waiting.id)).output == {"answer": 42}


async def test_long_evaluate_chains_let_other_tasks_run() -> None:
    async with Kit() as kit:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(ticker())
        try:
            execution = await kit.run({"main": [{"evaluate": {"i": "$ 1"}}] * 200})
        finally:
            task.cancel()
        assert execution.status is S.SUCCEEDED and ticks > 3
