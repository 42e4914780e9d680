"""``%%julep_task``: create a task from YAML, or update the agent's task of that name."""

from __future__ import annotations

import argparse
from typing import Any, Final

from julep_nb.magics import parsing
from julep_nb.magics.errors import refused, unknown
from julep_nb.magics.session import Session
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import InputError
from julep_nb.sources.julep.models import Task

__all__ = ["DEFAULT_AGENT_NAME", "define_task", "task_spec"]

DEFAULT_AGENT_NAME: Final = "julep_nb"


def define_task(session: Session, args: argparse.Namespace, body: str) -> Task:
    """Create the task, or update the agent's task of the same name (same id)."""
    spec = task_spec(body, args.name)
    client = session.client()
    agent_id = args.agent or session.agent_id or _default_agent(session, client)
    with unknown("agent", agent_id):
        existing = session.run(client.list_tasks(agent_id))
    same = [t for t in existing if t.name == spec["name"]]
    with refused(f"task {spec['name']!r}", "the task was not saved"):
        if same:
            task = session.run(client.update_task(agent_id, same[0].id, spec))
        else:
            task = session.run(client.create_task(agent_id, spec))
    session.task_names[spec["name"]] = task.id
    session.store(args.out, task)
    return task


def task_spec(body: str, name: str | None) -> dict[str, Any]:
    """The task definition in ``body`` (``name`` overriding its ``name:``), checked."""
    if not body.strip():
        raise InputError(
            "The %%julep_task cell is empty: write the task YAML below the magic line "
            "(name: …, main: [steps])."
        )
    spec = parsing.parse_body(body, what="task YAML")
    if name is not None:
        spec["name"] = name
    if not isinstance(spec.get("name"), str) or not spec["name"].strip():
        raise InputError("The task has no name: add `name: …` to the YAML or pass --name NAME.")
    if not isinstance(spec.get("main"), list) or not spec["main"]:
        raise InputError(
            f"Task {spec['name']!r} has no steps: add `main:` with a list of steps. "
            "Nothing was sent."
        )
    return spec


def _default_agent(session: Session, client: Client) -> str:
    """One agent per server for this session, created on first use."""
    server = client.base_url or ""
    if server not in session.agents:
        about = "Owns the tasks defined with %%julep_task."
        agent = session.run(client.create_agent(name=DEFAULT_AGENT_NAME, about=about))
        session.agents[server] = agent.id
    return session.agents[server]
