"""Subcommands with ``--source``: Temporal and Thand workflows in the same panels.

``list``, ``status``, ``watch`` and ``cancel`` take this path when ``--source`` is
given; ``terminate``, ``signal`` and ``query`` exist only here. The source comes
from the session (connected once per URL, then reused). Everything a cell can get
wrong (a payload that does not parse, an action the source cannot do) is checked
before the first request to the workflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from julep_nb.live.errors import SourceNotFound
from julep_nb.live.events import Capability
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import ExecutionSource, ListableSource, unsupported
from julep_nb.live.state import ExecutionState, reduce_all
from julep_nb.magics import parsing
from julep_nb.magics.errors import CommandError
from julep_nb.magics.presenter import present, started
from julep_nb.magics.session import Session
from julep_nb.magics.sources import mask_url
from julep_nb.sources.summaries import ExecutionSummaries

__all__ = [
    "list_workflows",
    "query",
    "require_source",
    "signal",
    "source_cancel",
    "source_status",
    "source_watch",
    "terminate",
]


def require_source(args: argparse.Namespace, command: str, instead: str) -> str:
    """``--source``'s value; a subcommand that has no Julep form says what to use instead."""
    if not args.source:
        raise CommandError(
            f"%julep_exec {command} needs --source URL_OR_NAME (a Temporal or Thand "
            f"workflow): Julep executions have no {command}; {instead}."
        )
    ref: str = args.source
    return ref


def list_workflows(session: Session, args: argparse.Namespace) -> ExecutionSummaries:
    """The source's workflows (a table with status badges), newest first."""
    if args.task_id is not None:
        raise CommandError(
            f"%julep_exec list takes a TASK_ID (Julep) or --source, not both: drop "
            f"{args.task_id!r}, or filter with --query."
        )
    source = session.source(args.source)
    if not isinstance(source, ListableSource):
        raise CommandError(f"the {source.name} source cannot list its executions.")
    if args.query is not None and not source.filterable:
        raise CommandError(
            f"--query: the {source.name} source cannot filter its list; leave --query out."
        )
    found: ExecutionSummaries = session.run(source.list(args.query, limit=args.limit))
    return found


def source_status(session: Session, args: argparse.Namespace) -> ExecutionState:
    """The workflow's state now, read once."""
    return _state(session, session.source(args.source), args)


def source_watch(session: Session, args: argparse.Namespace) -> ExecutionHandle:
    """A live panel on the workflow (with the controls the source allows)."""
    source = session.source(args.source)
    _state(session, source, args)  # an unknown id is an error here, not a dead panel
    handle = ExecutionHandle(args.execution_id, source=source, key=session.cell.key)
    session.run(started(handle))
    return present(session, handle, args)


def source_cancel(session: Session, args: argparse.Namespace) -> None:
    """Ask the workflow to cancel (it may clean up before it ends ``cancelled``)."""
    source = session.source(args.source)
    _capable(source, Capability.CANCEL, args)
    state = _running(session, source, args, "cancel")
    session.run(source.cancel(args.execution_id, reason=args.reason))
    print(f"Asked workflow {args.execution_id} to cancel (it was {state.status.value}).")


def terminate(session: Session, args: argparse.Namespace, body: str | None) -> None:
    """End the workflow at once; it ends ``terminated`` with the reason."""
    require_source(args, "terminate", f"use %julep_exec cancel {args.execution_id}")
    source = session.source(args.source)
    _capable(source, Capability.TERMINATE, args)
    state = _running(session, source, args, "terminate")
    session.run(source.terminate(args.execution_id, reason=args.reason))
    why = f": {args.reason}" if args.reason else ""
    print(f"Terminated workflow {args.execution_id} (it was {state.status.value}){why}.")


def signal(session: Session, args: argparse.Namespace, body: str | None) -> None:
    """Send the signal with the payload from ``--payload`` or the cell body."""
    require_source(
        args, "signal", f"answer a waiting execution with %%julep_exec resume {args.execution_id}"
    )
    payload = _payload(args, body)
    source = session.source(args.source)
    _capable(source, Capability.SIGNAL, args)
    _running(session, source, args, "signal")
    session.run(source.signal(args.execution_id, args.signal, payload))
    print(f"Sent signal {args.signal!r} to workflow {args.execution_id}.")


def query(session: Session, args: argparse.Namespace, body: str | None) -> Any:
    """The workflow's answer to the query (returned, so it shows as the cell's result)."""
    require_source(args, "query", "read its state with %julep_exec status")
    values = [_argument(text) for text in args.args]
    source = session.source(args.source)
    _capable(source, Capability.QUERY, args)
    with _known(args):
        return session.run(source.query(args.execution_id, args.query, *values))


# ---------------------------------------------------------------------- helpers


def _shown(args: argparse.Namespace) -> str:
    return mask_url(args.source)


def _payload(args: argparse.Namespace, body: str | None) -> Any:
    if parsing.has_content(body) and args.payload is not None:
        raise CommandError("The signal's payload is given twice (the cell body and --payload).")
    if args.payload is not None:
        if not args.payload.strip():
            raise CommandError('--payload needs a value, e.g. --payload {"by": "ana"}.')
        return parsing.parse_value(args.payload, what="value of --payload")
    return parsing.parse_value(body, what="signal payload (the cell body)")


def _argument(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _capable(source: ExecutionSource, capability: Capability, args: argparse.Namespace) -> None:
    if capability not in source.capabilities:
        refusal = unsupported(source, capability)
        raise CommandError(f"--source {_shown(args)}: {refusal} Nothing was sent.")


@contextlib.contextmanager
def _known(args: argparse.Namespace) -> Iterator[None]:
    try:
        yield
    except SourceNotFound as exc:
        raise CommandError(
            f"Unknown workflow {args.execution_id!r} at --source {_shown(args)}: {exc} "
            f"See %julep_exec list --source {_shown(args)}."
        ) from None


def _state(session: Session, source: ExecutionSource, args: argparse.Namespace) -> ExecutionState:
    with _known(args):
        snapshot = session.run(source.snapshot(args.execution_id))
    return reduce_all(None, snapshot.events)


def _running(
    session: Session, source: ExecutionSource, args: argparse.Namespace, verb: str
) -> ExecutionState:
    state = _state(session, source, args)
    if state.status.is_terminal:
        raise CommandError(
            f"Workflow {args.execution_id} already ended ({state.status.value}): there is "
            f"nothing to {verb}."
        )
    return state
