"""Subcommands that look without watching: ``status``, ``transitions``, ``list``."""

from __future__ import annotations

import argparse

from julep_nb.connect import source_for
from julep_nb.live.state import ExecutionState, reduce_all
from julep_nb.magics.commands.sources import list_workflows, source_status
from julep_nb.magics.errors import task_hint, unknown
from julep_nb.magics.results import ExecutionList, TransitionList
from julep_nb.magics.session import Session
from julep_nb.sources.julep.errors import InputError
from julep_nb.sources.summaries import ExecutionSummaries

__all__ = ["list_executions", "status", "transitions"]


def status(session: Session, args: argparse.Namespace, body: str | None) -> ExecutionState:
    """The execution's state now: the source's snapshot, as a watcher starts from."""
    if args.source:
        return source_status(session, args)
    source = source_for(session.client())
    with unknown("execution", args.execution_id):
        snapshot = session.run(source.snapshot(args.execution_id))
    return reduce_all(None, snapshot.events)


def transitions(session: Session, args: argparse.Namespace, body: str | None) -> TransitionList:
    """The execution's transitions, oldest first (the newest ``--limit N`` if given)."""
    client = session.client()
    with unknown("execution", args.execution_id):
        if args.limit is None:
            items = session.run(client.list_transitions(args.execution_id))
        else:
            newest = session.run(
                client.list_transitions(args.execution_id, limit=args.limit, direction="desc")
            )
            items = list(reversed(newest))
    return TransitionList(items)


def list_executions(
    session: Session, args: argparse.Namespace, body: str | None
) -> ExecutionList | ExecutionSummaries:
    """The task's executions, newest first; with ``--source``, the source's workflows."""
    if args.source:
        return list_workflows(session, args)
    if args.task_id is None:
        raise InputError(
            "%julep_exec list needs a TASK_ID (a Julep task's executions) or --source "
            "URL_OR_NAME (a Temporal or Thand source's workflows)."
        )
    if args.query is not None:
        raise InputError("--query filters a Temporal --source's list: add --source.")
    client = session.client()
    task_id = session.task_names.get(args.task_id, args.task_id)
    with unknown("task", args.task_id, sent=task_id, hint=task_hint(session.task_names)):
        session.run(client.get_task(task_id))
        items = session.run(client.list_executions(task_id, limit=min(args.limit, 100)))
    return ExecutionList(items)
