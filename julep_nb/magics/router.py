"""``%julep_exec`` and ``%%julep_task`` lines to subcommands: a dict router.

A subcommand is a :class:`Command`: a parser factory (:mod:`~julep_nb.magics.arguments`)
and a plain function (:mod:`~julep_nb.magics.commands`). Adding one is one entry
in :data:`COMMANDS`; adding an option is a line in its parser factory, read by its
function. The router expands ``{expr}``/``$name`` on the line, parses it, turns a
TASK_ID or EXECUTION_ID that names a notebook variable into its id, and calls the
function with the session and the cell body.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from julep_nb.magics import arguments, commands, parsing
from julep_nb.magics.expand import Expansion, expand_args
from julep_nb.magics.refs import execution_ref, task_ref
from julep_nb.magics.session import Session
from julep_nb.magics.usage import EXEC_USAGE
from julep_nb.sources.julep.errors import InputError
from julep_nb.sources.julep.models import Task

__all__ = ["COMMANDS", "Command", "exec_magic", "task_magic"]

CommandFunction = Callable[[Session, argparse.Namespace, "str | None"], Any]


@dataclass(frozen=True)
class Command:
    """A subcommand: how its arguments parse, what runs, whether a cell body is its input."""

    parser: Callable[[], arguments.ArgParser]
    function: CommandFunction
    takes_body: bool = False


COMMANDS: dict[str, Command] = {
    "run": Command(arguments.run_parser, commands.run, takes_body=True),
    "resume": Command(arguments.resume_parser, commands.resume, takes_body=True),
    "status": Command(arguments.status_parser, commands.status),
    "watch": Command(arguments.watch_parser, commands.watch),
    "cancel": Command(arguments.cancel_parser, commands.cancel),
    "terminate": Command(arguments.terminate_parser, commands.terminate),
    "signal": Command(arguments.signal_parser, commands.signal, takes_body=True),
    "query": Command(arguments.query_parser, commands.query),
    "transitions": Command(arguments.transitions_parser, commands.transitions),
    "list": Command(arguments.list_parser, commands.list_executions),
    "config": Command(arguments.config_parser, commands.config),
}

HELP_WORDS = ("-h", "--help", "help")


def exec_magic(session: Session, line: str, cell: str | None) -> Any:
    """``%julep_exec`` / ``%%julep_exec``: route to a subcommand.

    A first word that is not a subcommand is a task: ``%%julep_exec TASK_ID`` with
    the input as the body, or ``%julep_exec TASK_ID`` with no input (IPython refuses
    a cell magic whose body is completely empty and suggests the single-% form).
    """
    args = expanded(session, line)
    if not args or args[0] in HELP_WORDS:
        print(EXEC_USAGE.rstrip())
        return None
    name = args[0]
    command = COMMANDS.get(name)
    if command is not None:
        if cell is not None and not command.takes_body:
            raise InputError(
                f"%%julep_exec {name} is a line magic: write it with a single % "
                f"(%julep_exec {name} …), without a cell body."
            )
        return dispatch(session, command, args, cell)
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.75)
    if close:
        raise InputError(
            f"Unknown subcommand {name!r}: did you mean {close[0]!r}? (To run a task named "
            f"{name!r}, write %julep_exec run {name}.)"
        )
    return dispatch(session, COMMANDS["run"], Expansion(["run", *args], args.failures), cell)


def task_magic(session: Session, line: str, cell: str) -> Task:
    """``%%julep_task``: parse the line, then define the task from the body."""
    args = expanded(session, line)
    namespace = arguments.task_parser().parse(args)
    if namespace.agent is not None:
        namespace.agent = args.check_ref(namespace.agent, what="--agent")
    return commands.define_task(session, namespace, cell)


def expanded(session: Session, line: str) -> Expansion:
    """The magic line's arguments, ``{expr}``/``$name`` expanded (see ``expand.py``)."""
    return expand_args(parsing.split_args(line), session.namespace)


def dispatch(session: Session, command: Command, args: Expansion, cell: str | None) -> Any:
    """Parse ``args[1:]`` with the command's parser, resolve references, run it."""
    namespace = command.parser().parse(args[1:])
    if getattr(namespace, "execution_id", None):
        ref = args.check_ref(namespace.execution_id, what="EXECUTION_ID")
        namespace.execution_id = execution_ref(ref, namespace=session.namespace)
    if getattr(namespace, "task_id", None):
        ref = args.check_ref(namespace.task_id, what="TASK_ID")
        namespace.task_id = task_ref(
            ref, namespace=session.namespace, task_names=session.task_names
        )
    return command.function(session, namespace, cell)
