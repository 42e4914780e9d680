"""Agent tools in the local store: Julep's ``/agents/{agent_id}/tools`` resource.

A tool is stored as its definition (:mod:`julep_nb.local.tooldefs`) plus
``id``, ``created_at`` and ``updated_at``; names are unique per agent, as in
Julep. Tasks with ``inherit_tools: true`` see their agent's tools (a task tool
of the same name wins).

Usage::

    tools = AgentTools(store)
    tool = tools.create(agent_id, {"name": "lookup", "type": "function", "function": {…}})
    tools.patch(agent_id, tool["id"], {"description": "…"})
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

from julep_nb.local.errors import Conflict, InvalidRequest, StepError
from julep_nb.local.ids import new_id
from julep_nb.local.rows import RESERVED, check_page, dumps, not_found, now_us, to_dt
from julep_nb.local.tooldefs import check_tool

__all__ = ["AgentTools"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS agent_tools (
    id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS agent_tools_by_name ON agent_tools (agent_id, name);
"""
_COLUMNS: Final = "id, data, created_at, updated_at"


def _wire(row: tuple[Any, ...]) -> dict[str, Any]:
    tool_id, data, created, updated = row
    return {
        **json.loads(data),
        "id": tool_id,
        "created_at": to_dt(created).isoformat(),
        "updated_at": to_dt(updated).isoformat(),
    }


def _definition(body: Any, where: str) -> dict[str, Any]:
    try:
        check_tool(body, where)
    except StepError as exc:
        raise InvalidRequest(f"{exc}: send {{name, type, <type>: {{…}}}}") from None
    return {k: v for k, v in body.items() if k not in RESERVED and v is not None}


class AgentTools:
    """The agent tools of a :class:`~julep_nb.local.store.Store` (same database and lock)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        with store._write() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    def create(self, agent_id: str, body: Any) -> dict[str, Any]:
        """Store a new tool of the agent; ``Conflict`` if the agent has one of that name."""
        self.store.get_agent(agent_id)
        data = _definition(body, "tool")
        tool_id, now = new_id(), now_us()
        try:
            with self.store._write() as db:
                db.execute(
                    "INSERT INTO agent_tools VALUES (?, ?, ?, ?, ?, ?)",
                    (tool_id, agent_id, data["name"], dumps(data), now, now),
                )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"agent {agent_id!r} already has a tool named {data['name']!r}: "
                "change it with PATCH /agents/{agent_id}/tools/{tool_id}"
            ) from None
        return self.get(agent_id, tool_id)

    def get(self, agent_id: str, tool_id: str) -> dict[str, Any]:
        """One tool of the agent (``NotFound`` when unknown)."""
        row = self.store._one(
            f"SELECT {_COLUMNS} FROM agent_tools WHERE id = ? AND agent_id = ?",
            (tool_id, agent_id),
        )
        if row is None:
            raise not_found("tool", tool_id)
        return _wire(row)

    def listing(
        self, agent_id: str, *, limit: int = 100, offset: int = 0, direction: str = "desc"
    ) -> list[dict[str, Any]]:
        """The agent's tools, by creation time."""
        self.store.get_agent(agent_id)
        order = check_page(limit, offset, direction)
        rows = self.store._all(
            f"SELECT {_COLUMNS} FROM agent_tools WHERE agent_id = ? "
            f"ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?",
            (agent_id, limit, offset),
        )
        return [_wire(row) for row in rows]

    def all_of(self, agent_id: str) -> list[dict[str, Any]]:
        """Every tool of the agent, oldest first (what ``inherit_tools`` brings in)."""
        rows = self.store._all(
            f"SELECT {_COLUMNS} FROM agent_tools WHERE agent_id = ? ORDER BY created_at, id",
            (agent_id,),
            grouped_rows=False,
        )
        return [_wire(row) for row in rows]

    def change(self, agent_id: str, tool_id: str, body: Any, *, merge: bool) -> dict[str, Any]:
        """PATCH (``merge``) or PUT (replace) a tool; the result is checked like a new one."""
        if not isinstance(body, dict):
            body = {}
        current = self.get(agent_id, tool_id)
        base = {k: v for k, v in current.items() if k not in RESERVED} if merge else {}
        data = _definition({**base, **body}, "tool")
        try:
            with self.store._write() as db:
                db.execute(
                    "UPDATE agent_tools SET name = ?, data = ?, updated_at = ? WHERE id = ?",
                    (data["name"], dumps(data), now_us(), tool_id),
                )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"agent {agent_id!r} already has a tool named {data['name']!r}"
            ) from None
        return self.get(agent_id, tool_id)

    def delete(self, agent_id: str, tool_id: str) -> dict[str, Any]:
        """Delete a tool; Julep's answer ``{id, deleted_at}``."""
        self.get(agent_id, tool_id)
        with self.store._write() as db:
            db.execute("DELETE FROM agent_tools WHERE id = ?", (tool_id,))
        return {"id": tool_id, "deleted_at": to_dt(now_us()).isoformat()}
