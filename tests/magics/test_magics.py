"""The magics through a real InteractiveShell against the real local server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.models import ExecutionStatus, Task
from tests.magics.conftest import TASK_HELLO, TASK_SLOW, TASK_WAITER, Shell

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer

S = ExecutionStatus


def define(shell: Shell, body: str, line: str = "") -> Task:
    task = shell.run(f"%%julep_task {line}\n{body}")
    assert isinstance(task, Task)
    return task


# ---------------------------------------------------------------------- tasks


def test_julep_task_creates_then_updates_by_name(julep: Shell, local_server: LocalServer) -> None:
    first = define(julep, TASK_HELLO, "-o t")
    assert first.name == "hello"
    assert julep.ns["t"] is first
    edited = TASK_HELLO.replace("greeting", "salutation")
    second = define(julep, edited)
    assert second.id == first.id  # updated in place, not a second task
    stored = local_server.store.get_task(first.id)
    assert "salutation" in str(stored.main)
    agent_tasks = local_server.store.list_tasks(first.agent_id or "")
    assert [t.name for t in agent_tasks] == ["hello"]


def test_julep_task_name_option_and_explicit_agent(julep: Shell) -> None:
    body = TASK_HELLO.replace("name: hello\n", "")
    task = define(julep, body, "--name greeter")
    assert task.name == "greeter"
    other = define(julep, TASK_HELLO, f"--agent {task.agent_id} --name other")
    assert other.agent_id == task.agent_id


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("main:\n  - evaluate: {x: 1}\n", "no name"),
        ("name: empty\n", "has no steps"),
        ("name: x\nmain:\n  - evaluate: {x: 1}\n   bad: indent\n", "line 4, column"),
    ],
)
def test_julep_task_rejects_bad_bodies(julep: Shell, body: str, message: str) -> None:
    assert message in julep.fails(f"%%julep_task\n{body}")


# ---------------------------------------------------------------------- run and await


def test_cell_run_then_await_in_the_next_cell(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    handle = julep.run("%%julep_exec hello -o h\nname: Ada\n")
    assert isinstance(handle, ExecutionHandle)
    assert julep.ns["h"] is handle
    julep.run("state = await h")
    state = julep.ns["state"]
    assert isinstance(state, ExecutionState)
    assert state.status is S.SUCCEEDED
    assert "Hello, Ada" in str(state.output)
    assert handle.status is S.SUCCEEDED


def test_line_run_returns_the_handle_for_assignment(julep: Shell) -> None:
    task = define(julep, TASK_HELLO)
    julep.run(f'h = %julep_exec run {task.id} --input {{"name": "Bo"}}')
    julep.run("state = await h")
    assert "Hello, Bo" in str(julep.ns["state"].output)


def test_wait_blocks_until_terminal(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    handle = julep.run('%%julep_exec hello --wait\n{"name": "Cy"}\n')
    assert handle.status is S.SUCCEEDED
    assert "Hello, Cy" in str(handle.output)


def test_input_var_metadata_and_json_body(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    julep.ns["params"] = {"name": "Dee"}
    handle = julep.run('%julep_exec hello --input-var params --wait --metadata {"run": 7}')
    assert "Hello, Dee" in str(handle.output)
    state = julep.run(f"%julep_exec status {handle.id}")
    assert state.metadata == {"run": 7}
    assert state.input == {"name": "Dee"}


def test_input_that_fails_the_schema_starts_nothing(
    julep: Shell, local_server: LocalServer
) -> None:
    typed = TASK_HELLO.replace(
        "name: hello\n",
        "name: typed\ninput_schema:\n  type: object\n  required: [name]\n",
    )
    task = define(julep, typed)
    message = julep.fails("%%julep_exec typed\nage: 3\n")
    assert "The server refused the input of task 'typed'" in message
    assert "name" in message and "no execution was started" in message
    assert local_server.store.list_executions(task.id) == []


def test_input_var_errors(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    assert "no variable 'missing'" in julep.fails("%julep_exec hello --input-var missing")
    julep.ns["items"] = [1, 2]
    assert "items is a list" in julep.fails("%julep_exec hello --input-var items")
    message = julep.fails("%%julep_exec hello --input-var items\nname: x\n")
    assert "given twice" in message


# ---------------------------------------------------------------------- resume, cancel


def test_resume_answers_a_waiting_execution(julep: Shell) -> None:
    define(julep, TASK_WAITER)
    waiting = julep.run("%julep_exec waiter -o w")
    julep.until(lambda: waiting.status is S.AWAITING_INPUT)
    resumed = julep.run(f"%%julep_exec resume {waiting.id} --wait\nanswer: 42\n")
    assert resumed.status is S.SUCCEEDED
    julep.run("final = await w")
    assert julep.ns["final"].status is S.SUCCEEDED
    assert "42" in str(julep.ns["final"].output)


def test_an_execution_can_be_named_by_its_notebook_variable(julep: Shell) -> None:
    define(julep, TASK_WAITER)
    waiting = julep.run("%julep_exec waiter -o w")
    julep.until(lambda: waiting.status is S.AWAITING_INPUT)
    state = julep.run("%julep_exec status w")  # a handle's name stands for its execution
    assert state.execution_id == waiting.id and state.status is S.AWAITING_INPUT
    julep.run("st = w.state")
    assert julep.run("%julep_exec status st").execution_id == waiting.id  # a state's too
    julep.run("t = 42")
    message = julep.fails("%%julep_exec resume t\nanswer: 1\n")
    assert "'t' in this notebook is not an execution (it is of type int)" in message
    assert waiting.status is S.AWAITING_INPUT  # nothing was sent
    resumed = julep.run("%%julep_exec resume w --wait\nanswer: 42\n")
    assert resumed.id == waiting.id and resumed.status is S.SUCCEEDED


def test_resume_of_an_execution_that_is_not_waiting_names_its_status(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    done = julep.run("%%julep_exec hello --wait\nname: Ed\n")
    message = julep.fails(f"%%julep_exec resume {done.id}\nanswer: 1\n")
    assert f"Execution {done.id} is succeeded, not awaiting_input" in message


def test_cancel_a_running_execution(julep: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    define(julep, TASK_SLOW)
    slow = julep.run("%julep_exec slow -o s")
    julep.until(lambda: slow.transitions != [])
    julep.run(f"%julep_exec cancel {slow.id} --reason 'too slow'")
    assert f"Cancelled execution {slow.id}" in capsys.readouterr().out
    julep.run("final = await s")
    assert julep.ns["final"].status is S.CANCELLED
    message = julep.fails(f"%julep_exec cancel {slow.id}")
    assert "already ended (cancelled)" in message


# ---------------------------------------------------------------------- looking


def test_status_list_and_transitions(julep: Shell) -> None:
    task = define(julep, TASK_HELLO)
    first = julep.run("%%julep_exec hello --wait\nname: A\n")
    second = julep.run("%%julep_exec hello --wait\nname: B\n")

    state = julep.run(f"%julep_exec status {second.id}")
    assert isinstance(state, ExecutionState)
    assert state.status is S.SUCCEEDED
    assert "Hello, B" in str(state.output)

    listed = julep.run(f"%julep_exec list {task.id}")
    assert [e.id for e in listed] == [second.id, first.id]  # newest first
    assert "<table" in listed._repr_html_()
    assert [e.id for e in julep.run("%julep_exec list hello --limit 1")] == [second.id]

    transitions = julep.run(f"%julep_exec transitions {first.id}")
    assert transitions[0].type.value == "init"
    assert transitions[-1].type.value == "finish"
    newest = julep.run(f"%julep_exec transitions {first.id} --limit 1")
    assert [t.id for t in newest] == [transitions[-1].id]


def test_watch_attaches_to_an_execution_started_elsewhere(julep: Shell) -> None:
    define(julep, TASK_HELLO)
    started = julep.run("%%julep_exec hello --wait\nname: Fay\n")
    attached = julep.run(f"%julep_exec watch {started.id} -o again --wait")
    assert attached is not started
    assert julep.ns["again"] is attached
    assert attached.status is S.SUCCEEDED
    assert "Hello, Fay" in str(attached.output)


# ---------------------------------------------------------------------- errors


def test_unknown_ids_are_named(julep: Shell) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert f"Unknown task {missing!r}" in julep.fails(f"%julep_exec run {missing}")
    assert "Unknown task 'nope'" in julep.fails("%julep_exec list nope")
    for command in ("status", "watch", "cancel", "transitions"):
        message = julep.fails(f"%julep_exec {command} {missing}")
        assert f"Unknown execution {missing!r}" in message, command
    assert f"Unknown execution {missing!r}" in julep.fails(
        f"%%julep_exec resume {missing}\nanswer: 1\n"
    )


def test_argument_errors_are_usage_errors(julep: Shell) -> None:
    assert "invalid panel mode 'fancy'" in julep.fails("%julep_exec run t --panel fancy")
    assert "did you mean 'status'" in julep.fails("%julep_exec stauts abc")
    assert "is a line magic" in julep.fails("%%julep_exec status abc\nx: 1\n")
    assert "required: EXECUTION_ID" in julep.fails("%julep_exec status")


def test_help(julep: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    julep.run("%julep_exec?")
    text = capsys.readouterr().out
    forms = ["%%julep_exec TASK_ID", "resume EXECUTION_ID", "run TASK_ID", "status", "watch"]
    forms += ["cancel", "transitions", "list TASK_ID", "config", "--input-var", "--metadata"]
    for form in forms:
        assert form in text, form
    julep.run("%julep_exec cancel -h")
    assert "--reason" in capsys.readouterr().out
