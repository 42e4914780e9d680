"""Tasks written as Julep users write them: the step context, legacy syntax, helpers.

Each test runs one small task (in the style of Julep's cookbooks) on the real
engine and checks what the user sees: the execution's status and output.
"""

from __future__ import annotations

import pytest

from julep_nb.sources.julep.models import ExecutionStatus
from tests.local.test_engine_kit import Kit

S = ExecutionStatus


async def test_agent_task_and_execution_are_in_the_expression_context() -> None:
    async with Kit() as kit:
        kit.store.update_agent(
            kit.agent_id, {"name": "Quill", "about": "writes haikus"}, merge=False
        )
        spec = {
            "name": "introduce",
            "main": [
                {
                    "evaluate": {
                        "intro": "$ f'''You are {agent.name}. {agent.about}'''",
                        "agent_id": "$ str(agent.id)",
                        "task": "$ task.name + ' / ' + task.workflows[0].name",
                        "execution": "$ execution.id == execution['id']",
                        "topic": "$ arguments['topic']",
                        "me": "$ developer_id",
                        "where": "$ cursor.workflow + str(cursor.step)",
                        "same": "$ current_input == _",
                        "nobody": "$ (user, session)",
                    }
                }
            ],
        }
        done = await kit.run({**spec}, {"topic": "tides"})
    assert done.status is S.SUCCEEDED, done.error
    out = done.output
    assert out["intro"] == "You are Quill. writes haikus"
    assert out["agent_id"] == kit.agent_id
    assert out["task"] == "introduce / main"
    assert out["execution"] is True and out["topic"] == "tides"
    assert out["me"] == "00000000-0000-0000-0000-000000000000"
    assert out["where"] == "main0" and out["same"] is True and out["nobody"] == [None, None]


@pytest.mark.parametrize(
    "change",
    [
        "$ task['main'].append({'return': 1})",
        "$ task.update({'name': 'other'})",
        "$ agent.update({'name': 'other'})",
        "$ agent_tools.append({'name': 'x'})",
        "{{ task.main.append(1) }}",
    ],
)
async def test_no_step_can_change_the_task_or_agent_its_executions_share(change: str) -> None:
    # The engine reads a task and its agent once for all their executions.
    async with Kit() as kit:
        spec = {"name": "shared", "main": [{"evaluate": {"x": change}}]}
        tampered = await kit.run(spec)
        after = await kit.run(
            {**spec, "main": [{"evaluate": {"x": "$ (len(task.main), agent.name)"}}]}
        )
        again = await kit.run(spec)
        name = kit.store.get_agent(kit.agent_id).name
    assert tampered.status is S.FAILED and again.status is S.FAILED, tampered.output
    assert after.status is S.SUCCEEDED, after.error
    assert after.output == {"x": [1, name]}


async def test_secrets_come_from_julep_nb_secret_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JULEP_NB_SECRET_WEATHER_KEY", "k-123")
    async with Kit() as kit:
        done = await kit.run({"main": [{"return": {"key": "$ secrets.weather_key"}}]})
    assert done.output == {"key": "k-123"}


async def test_secrets_are_read_when_each_execution_starts_however_the_name_is_spelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps = [
        {"evaluate": {"plain": "$ secrets.weather_key"}},
        {"evaluate": {"wide": "$ \uff53ecrets['weather_key']", "plain": "$ _.plain"}},
        {"evaluate": {"jinja": "{{ secrets.weather_key }}", "wide": "$ _.wide"}},
    ]
    async with Kit() as kit:
        for value in ("k-1", "k-2"):  # a variable set between two runs is seen by the second
            monkeypatch.setenv("JULEP_NB_SECRET_WEATHER_KEY", value)
            done = await kit.run({"main": steps})
            assert done.output == {"jinja": value, "wide": value}, done.error


async def test_legacy_shorthands_read_the_previous_output() -> None:
    spec = {
        "main": [
            {"evaluate": {"topics": "$ ['sea', 'sky']"}},
            {
                "evaluate": {
                    "topics": "_.topics",
                    "first": '_["topics"][0]',
                    "test": "inputs[0]['test']",
                    "count": "[len(_.topics)]",
                    "line": "Topics: {{', '.join(_.topics)}}",
                    "field": "First: {_.topics[0]}",
                    "plain": "  Just text  ",
                }
            },
        ]
    }
    async with Kit() as kit:
        done = await kit.run(spec, {"test": 7})
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == {
        "topics": ["sea", "sky"],
        "first": "sea",
        "test": 7,
        "count": [2],
        "line": "Topics: sea, sky",
        "field": "First: sea",
        "plain": "Just text",
    }


async def test_a_legacy_shorthand_julep_cannot_evaluate_fails_the_execution() -> None:
    # Julep evaluates "_.missing" as Python, so a typo is an error, not literal text.
    async with Kit() as kit:
        done = await kit.run({"main": [{"evaluate": {"x": "_.missing"}}]}, {"a": 1})
    assert done.status is S.FAILED
    assert "main[0]" in (done.error or "") and "'missing'" in (done.error or "")


async def test_python_312_fstrings_run_in_tasks() -> None:
    spec = {
        "main": [
            {
                "evaluate": {
                    "joined": "$ f'{'\\n'.join(_['lines'])}'",
                    "quoted": """$ f'''{_['who']['name']} said {', '.join(_["words"])}'''""",
                }
            }
        ]
    }
    data = {"lines": ["a", "b"], "who": {"name": "Ada"}, "words": ["hi", "there"]}
    async with Kit() as kit:
        done = await kit.run(spec, data)
    assert done.status is S.SUCCEEDED, done.error
    assert done.output == {"joined": "a\nb", "quoted": "Ada said hi, there"}


async def test_a_prompt_with_literal_braces_in_an_fstring_renders() -> None:
    prompt = "$ f'''Answer as JSON like {{ \"key\": \"value\" }} about {_.topic}.'''"
    async with Kit() as kit:
        done = await kit.run({"main": [{"prompt": prompt, "unwrap": True}]}, {"topic": "tea"})
    assert done.status is S.SUCCEEDED, done.error
    assert 'Answer as JSON like { "key": "value" } about tea.' in done.output


async def test_julep_helpers_csv_and_chunk_doc() -> None:
    text = " ".join(f"Sentence {i}." for i in range(20))
    spec = {
        "main": [
            {
                "evaluate": {
                    "rows": "$ list(csv.DictReader(_.table))",
                    "csv": "$ csv.writer('').writerows([['a', 'b'], [1, 2]])",
                    "chunks": "$ chunk_doc(_.text)",
                }
            }
        ]
    }
    async with Kit() as kit:
        done = await kit.run(spec, {"table": "name,n\nsea,1\nsky,2\n", "text": text})
    assert done.status is S.SUCCEEDED, done.error
    assert done.output["rows"] == [{"name": "sea", "n": "1"}, {"name": "sky", "n": "2"}]
    assert done.output["csv"] == "a,b\r\n1,2\r\n"
    first, second = done.output["chunks"]
    assert first.startswith("Sentence 0.") and first.endswith("Sentence 14.")
    assert second.startswith("Sentence 12.") and second.endswith("Sentence 19.")


async def test_unknown_step_keys_are_ignored_as_julep_does() -> None:
    spec = {"main": [{"evaluate": {"x": "$ 1"}, "description": "old field", "retry": 3}]}
    async with Kit() as kit:
        done = await kit.run(spec)
    assert done.status is S.SUCCEEDED and done.output == {"x": 1}


def test_a_task_text_is_read_once_and_the_oldest_of_many_leaves_first() -> None:
    from julep_nb.local import context

    def text(i: int) -> str:
        return f'{{"name":"t{i}","main":[{{"evaluate":{{"x":"$ secrets"}}}}]}}'

    first = context.task_view(text(0))
    assert context.task_view(text(0)) is first and first.spells_secrets
    assert first.task["workflows"] == [{"name": "main", "steps": first.spec["main"]}]
    for i in range(1, context._MAX_VIEWS + 1):
        context.task_view(text(i))
    assert len(context._VIEWS) == context._MAX_VIEWS
    assert text(0) not in context._VIEWS and text(1) in context._VIEWS
    assert context.task_view(text(0)) is not first  # read again, equal
    assert context.task_view(text(0)).spec == first.spec
    context._VIEWS.clear()
