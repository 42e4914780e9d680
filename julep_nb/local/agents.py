"""The agents of the local store (a part of :class:`~julep_nb.local.store.Store`)."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from typing import Any

from julep_nb.local.ids import new_id
from julep_nb.local.rows import RESERVED, agent_from_row, check_page, dumps, not_found, now_us
from julep_nb.sources.julep.models import Agent

__all__ = ["AgentRows"]


class AgentRows:
    """Agent rows: create, read, list and change (the store supplies the database)."""

    agent_tools: Any  # julep_nb.local.agent_tools.AgentTools
    _lock: threading.RLock
    _agent_names: dict[str, dict[str, Any]]  # agent id → agent_names(); see Store._write

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _one(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _all(
        self, sql: str, params: tuple[Any, ...], *, grouped_rows: bool = True
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def create_agent(self, data: dict[str, Any]) -> Agent:
        """Store a new agent (``data`` is a ``CreateAgentRequest`` body)."""
        agent_id = new_id()
        body = {k: v for k, v in data.items() if k not in RESERVED}
        now = now_us()
        with self._write() as db:
            db.execute("INSERT INTO agents VALUES (?, ?, ?, ?)", (agent_id, dumps(body), now, now))
        return agent_from_row(agent_id, body, now, now)

    def get_agent(self, agent_id: str) -> Agent:
        """The agent with this id (``NotFound`` when unknown)."""
        row = self._one(
            "SELECT data, created_at, updated_at FROM agents WHERE id = ?",
            (agent_id,),
            grouped_rows=False,
        )
        if row is None:
            raise not_found("agent", agent_id)
        return agent_from_row(agent_id, json.loads(row[0]), row[1], row[2])

    def agent_names(self, agent_id: str) -> dict[str, Any]:
        """``{"agent", "agent_tools"}`` of an execution's step context, as wire data.

        Read for every execution, and changed only by writes outside the commit group
        (which empty this cache): one dict shared by the agent's executions, which
        read it (expressions and templates cannot modify a value), so never modify it.
        """
        with self._lock:  # no write between the reads and the caching
            cached = self._agent_names.get(agent_id)
            if cached is None:
                cached = self._agent_names[agent_id] = {
                    "agent": self.get_agent(agent_id).to_wire(),
                    "agent_tools": self.agent_tools.all_of(agent_id),
                }
        return cached

    def list_agents(
        self, *, limit: int = 100, offset: int = 0, direction: str = "desc"
    ) -> list[Agent]:
        """All agents, by creation time."""
        order = check_page(limit, offset, direction)
        rows = self._all(
            "SELECT id, data, created_at, updated_at FROM agents "
            f"ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [agent_from_row(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]

    def update_agent(self, agent_id: str, data: dict[str, Any], *, merge: bool) -> Agent:
        """Change an agent: ``merge`` keeps the fields ``data`` does not name (PATCH)."""
        current = self.get_agent(agent_id).model_dump(mode="json", exclude_none=True)
        base = {k: v for k, v in current.items() if k not in RESERVED} if merge else {}
        body = {**base, **{k: v for k, v in data.items() if k not in RESERVED}}
        with self._write() as db:
            db.execute(
                "UPDATE agents SET data = ?, updated_at = ? WHERE id = ?",
                (dumps(body), now_us(), agent_id),
            )
        return self.get_agent(agent_id)
