"""The subcommands are plain functions: a Session of plain data, no IPython shell.

A real client against the real local server, the magics' loop runner, a dict as the
notebook namespace: what ``JulepMagics`` builds for every magic call.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from julep_nb.connect import Client
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.state import ExecutionState
from julep_nb.magics import arguments, commands, router
from julep_nb.magics.errors import CommandError
from julep_nb.magics.loop import run_sync
from julep_nb.magics.refs import execution_ref, task_ref
from julep_nb.magics.router import COMMANDS, Command
from julep_nb.magics.session import Session, ViewOptions
from julep_nb.sources.julep.errors import InputError
from julep_nb.sources.julep.models import ExecutionStatus, Task
from tests.magics.conftest import TASK_HELLO

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer

S = ExecutionStatus


@pytest.fixture
def session(local_server: LocalServer) -> Iterator[Session]:
    client = Client(base_url=local_server.base_url, api_key=local_server.api_key)
    plain = Session(
        client=lambda: client, run=run_sync, namespace={}, view=ViewOptions(panel="none")
    )
    try:
        yield plain
    finally:
        for handle in plain.cell.started:
            handle.stop()
        run_sync(client.aclose())


def _no_client() -> NoReturn:
    raise AssertionError("a client was built: something would have been sent")


def offline() -> Session:
    """A session that fails the test as soon as a command wants to talk to a server."""
    return Session(client=_no_client, run=run_sync, namespace={"items": [1, 2]})


def define(session: Session, body: str = TASK_HELLO, **options: Any) -> Task:
    args = argparse.Namespace(**{"name": None, "agent": None, "out": None, **options})
    return commands.define_task(session, args, body)


# ---------------------------------------------------------------------- commands


def test_define_then_run_and_wait(session: Session) -> None:
    task = define(session, out="task")
    assert session.task_names == {"hello": task.id}
    assert session.namespace is not None and session.namespace["task"] is task
    assert len(session.agents) == 1  # the default agent, created once

    args = arguments.run_parser().parse(["hello", "--wait", "-o", "h"])
    handle = commands.run(session, args, "name: Ada\n")
    assert isinstance(handle, ExecutionHandle)
    assert handle.status is S.SUCCEEDED and "Hello, Ada" in str(handle.output)
    assert session.namespace["h"] is handle
    assert session.cell.started == [handle] and session.cell.shown == []  # panel none

    again = define(session, TASK_HELLO.replace("greeting", "salutation"))
    assert again.id == task.id and len(session.agents) == 1  # updated, same agent


def test_status_transitions_and_list(session: Session) -> None:
    task = define(session)
    run = arguments.run_parser().parse([task.id, "--wait", "--input", '{"name": "Bo"}'])
    handle = commands.run(session, run, None)

    state = commands.status(session, arguments.status_parser().parse([handle.id]), None)
    assert isinstance(state, ExecutionState)
    assert state.status is S.SUCCEEDED and state.input == {"name": "Bo"}
    newest = arguments.transitions_parser().parse([handle.id, "--limit", "1"])
    assert [t.type.value for t in commands.transitions(session, newest, None)] == ["finish"]
    listed = commands.list_executions(
        session, arguments.list_parser().parse(["hello", "--limit", "5"]), None
    )
    assert [e.id for e in listed] == [handle.id]


def test_resume_of_a_finished_execution_is_refused_by_the_source(session: Session) -> None:
    define(session)
    run = arguments.run_parser().parse(["hello", "--wait", "--input", '{"name": "Ed"}'])
    done = commands.run(session, run, None)
    args = arguments.resume_parser().parse([done.id])
    with pytest.raises(CommandError) as info:
        commands.resume(session, args, "answer: 1\n")
    message = str(info.value)
    assert f"Execution {done.id} is succeeded, not awaiting_input" in message
    assert f"%julep_exec status {done.id}" in message


def test_unknown_ids_are_command_errors(session: Session) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(CommandError, match=f"Unknown execution '{missing}'"):
        commands.watch(session, arguments.watch_parser().parse([missing]), None)
    with pytest.raises(CommandError, match="Unknown task 'nope'.*Define one with %%julep_task"):
        commands.list_executions(
            session, arguments.list_parser().parse(["nope", "--limit", "5"]), None
        )


@pytest.mark.parametrize(
    ("argv", "body", "message"),
    [
        (["hello"], "name: Ada\n  oops: 1\n", "line 2, column 7"),
        (["hello", "--input", "{}"], "name: Ada\n", "given twice"),
        (["hello", "--input-var", "missing"], None, "no variable 'missing'"),
        (["hello", "--input-var", "items"], None, "items is a list"),
        (["hello", "--metadata", "[1]"], None, "value of --metadata is a list"),
    ],
)
def test_bad_input_builds_no_client(argv: list[str], body: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        commands.run(offline(), arguments.run_parser().parse(argv), body)


def test_a_bad_task_body_builds_no_client() -> None:
    with pytest.raises(InputError, match="has no steps"):
        define(offline(), "name: empty\n")


# ---------------------------------------------------------------------- config


def test_config_sets_options_through_the_session() -> None:
    options: dict[str, Any] = {"panel": "auto", "refresh_rate": 10.0}
    plain = Session(
        client=_no_client,
        run=run_sync,
        task_names={"hello": "t-1"},
        configure=options.__setitem__,
        describe=lambda: dict(options),
    )
    args = arguments.config_parser().parse(["panel=html", "refresh_rate=2.5"])
    view = commands.config(plain, args, None)
    assert options == {"panel": "html", "refresh_rate": 2.5}
    assert view["panel"] == "html" and view["tasks defined here"] == "hello"

    bad = arguments.config_parser().parse(["panel=widget", "colour=red"])
    with pytest.raises(InputError, match="Unknown option 'colour'"):
        commands.config(plain, bad, None)
    assert options["panel"] == "html"  # nothing applied


# ---------------------------------------------------------------------- router


def test_router_resolves_variables_and_routes(session: Session) -> None:
    define(session)
    handle = router.exec_magic(session, "hello --wait -o h", "name: Cy\n")
    assert session.namespace is not None
    session.namespace["state_now"] = handle.state
    state = router.exec_magic(session, "status state_now", None)  # a variable's execution
    assert state.execution_id == handle.id
    session.namespace["tid"] = handle.task_id
    listed = router.exec_magic(session, "list $tid", None)  # expanded from the namespace
    assert [e.id for e in listed] == [handle.id]


def test_router_errors_send_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="did you mean 'status'"):
        router.exec_magic(offline(), "stauts abc", None)
    with pytest.raises(InputError, match="is a line magic"):
        router.exec_magic(offline(), "status abc", "x: 1\n")
    with pytest.raises(InputError, match="looks like an unexpanded variable"):
        router.exec_magic(offline(), "status {nowhere.id}", None)
    router.exec_magic(offline(), "help", None)
    assert "%julep_exec status EXECUTION_ID" in capsys.readouterr().out


def test_a_new_subcommand_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def echo_parser() -> arguments.ArgParser:
        parser = arguments.ArgParser("%julep_exec echo")
        parser.add_argument("execution_id")
        return parser

    def echo(session: Session, args: argparse.Namespace, body: str | None) -> str:
        return f"{args.execution_id}:{body}"

    monkeypatch.setitem(COMMANDS, "echo", Command(echo_parser, echo, takes_body=True))
    plain = offline()
    assert plain.namespace is not None
    plain.namespace["h"] = "exec-1"  # a variable holding an id stands for it
    assert router.exec_magic(plain, "echo h", "x") == "exec-1:x"


def test_every_subcommand_has_help() -> None:
    for name, command in COMMANDS.items():
        with pytest.raises(arguments.HelpRequested) as info:
            command.parser().parse(["-h"])
        assert f"%julep_exec {name}" in str(info.value)


# ---------------------------------------------------------------------- references


def test_references_from_the_namespace() -> None:
    class Task:  # named like ours and the official SDK's
        id = "t-9"

    state = ExecutionState(execution_id="e-1", task_id="t-1")
    namespace: dict[str, Any] = {"s": state, "t": Task(), "n": 3, "text": "e-2"}
    assert execution_ref("s", namespace=namespace) == "e-1"
    assert execution_ref("text", namespace=namespace) == "e-2"
    assert execution_ref("e-3", namespace=namespace) == "e-3"
    assert task_ref("s", namespace=namespace, task_names={}) == "t-1"
    assert task_ref("t", namespace=namespace, task_names={}) == "t-9"
    assert task_ref("t", namespace=namespace, task_names={"t": "x"}) == "t"  # names first
    with pytest.raises(InputError, match="'n' in this notebook is not an execution"):
        execution_ref("n", namespace=namespace)
    assert execution_ref("s", namespace=None) == "s"  # no notebook: ids as given
