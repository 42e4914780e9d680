"""Subcommands that start or change executions: ``run``, ``resume``, ``watch``, ``cancel``.

Each is a plain function of a :class:`~julep_nb.magics.session.Session`, the parsed
arguments and the cell body. Everything a user can get wrong is checked before the
first request, so a bad cell sends nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from julep_nb.batch import BatchHandle
from julep_nb.connect import run as start_execution
from julep_nb.live.errors import ActionRefused
from julep_nb.live.handle import ExecutionHandle
from julep_nb.magics import parsing
from julep_nb.magics.commands.batch import run_batch
from julep_nb.magics.commands.sources import source_cancel, source_watch
from julep_nb.magics.errors import CommandError, refused, task_hint, unknown
from julep_nb.magics.presenter import attach, present, started
from julep_nb.magics.session import Session
from julep_nb.sources.julep.errors import APIError, InputError

__all__ = ["cancel", "read_input", "resume", "run", "watch"]


def run(
    session: Session, args: argparse.Namespace, body: str | None
) -> ExecutionHandle | BatchHandle:
    """Start an execution of a task and show it live (with ``--over``: a batch)."""
    if args.over is not None:
        return run_batch(session, args, body)
    if args.concurrency is not None:
        raise InputError("--concurrency goes with --over VAR (a batch); leave it out here.")
    payload = read_input(session, args, body, what="execution input")
    metadata = None
    if args.metadata is not None:
        metadata = parsing.parse_mapping_option(args.metadata, option="--metadata")
    client = session.client()
    task_id = session.task_names.get(args.task_id, args.task_id)
    hint = task_hint(session.task_names)
    with (  # unknown inside: a 400 for a task *name* means "unknown task"
        refused(f"the input of task {args.task_id!r}", "no execution was started"),
        unknown("task", args.task_id, sent=task_id, hint=hint),
    ):
        handle = session.run(
            start_execution(
                task_id, payload, client=client, metadata=metadata, key=session.cell.key
            )
        )
    return present(session, handle, args)


def resume(session: Session, args: argparse.Namespace, body: str | None) -> ExecutionHandle:
    """Answer an execution that is awaiting input, then show it live.

    The source checks that the execution is waiting (and sends nothing if not).
    """
    payload = read_input(session, args, body, what="resume input")
    handle = attach(session, args.execution_id, start=False)
    with (
        unknown("execution", args.execution_id),
        refused(f"the resume input of execution {args.execution_id}", "it is still waiting"),
    ):
        try:
            session.run(handle.resume(payload))
        except ActionRefused as exc:  # not waiting: nothing was sent
            text = exc.message if isinstance(exc, APIError) else str(exc)
            raise CommandError(
                f"{text} Check it with %julep_exec status {args.execution_id}."
            ) from None
    session.run(started(handle))
    return present(session, handle, args)


def watch(session: Session, args: argparse.Namespace, body: str | None) -> ExecutionHandle:
    """Attach to an existing execution (or ``--source`` workflow) and show it live."""
    if args.source:
        return source_watch(session, args)
    client = session.client()
    with unknown("execution", args.execution_id):
        session.run(client.get_execution(args.execution_id))
    return present(session, attach(session, args.execution_id), args)


def cancel(session: Session, args: argparse.Namespace, body: str | None) -> None:
    """Cancel an execution (the server records the reason), or a ``--source`` workflow."""
    if args.source:
        return source_cancel(session, args)
    client = session.client()
    with unknown("execution", args.execution_id):
        execution = session.run(client.get_execution(args.execution_id))
    if execution.status.is_terminal:
        raise CommandError(
            f"Execution {args.execution_id} already ended ({execution.status.value}): "
            "there is nothing to cancel."
        )
    session.run(client.cancel(args.execution_id, reason=args.reason))
    print(f"Cancelled execution {args.execution_id} (it was {execution.status.value}).")


# ---------------------------------------------------------------------- helpers


def read_input(
    session: Session, args: argparse.Namespace, body: str | None, *, what: str
) -> dict[str, Any]:
    """The input from exactly one of: the cell body, ``--input``, ``--input-var``."""
    given = [
        name
        for name, present_ in (
            ("the cell body", parsing.has_content(body)),
            ("--input", args.input is not None),
            ("--input-var", args.input_var is not None),
        )
        if present_
    ]
    if len(given) > 1:
        raise InputError(f"The {what} is given twice ({' and '.join(given)}): keep one.")
    if args.input is not None:
        return parsing.parse_mapping_option(args.input, option="--input")
    if args.input_var is not None:
        return _input_from_namespace(session.namespace, args.input_var, what)
    return parsing.parse_body(body, what="cell body")


def _input_from_namespace(
    namespace: Mapping[str, Any] | None, name: str, what: str
) -> dict[str, Any]:
    if namespace is None or name not in namespace:
        raise InputError(f"--input-var {name}: there is no variable {name!r} in the notebook.")
    value = namespace[name]
    if not isinstance(value, Mapping):
        raise InputError(
            f"--input-var {name}: {name} is a {type(value).__name__}, but the {what} must be "
            "a dict."
        )
    return dict(value)
