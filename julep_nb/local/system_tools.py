"""Julep ``system`` tools run against the local store.

A system tool is ``{type: system, system: {resource, subresource?, operation,
resource_id?, arguments?}}``; a call's arguments are merged over the tool's own.
The operations in :data:`OPERATIONS` run here, on the local store (agents, their
tools, tasks, executions and transitions). Any other (users, sessions, docs,
jobs, deletes) has no local resource: :func:`system_handler` returns ``None`` and
the step pauses like a ``function`` tool, so the caller can answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from julep_nb.local.errors import InvalidRequest
from julep_nb.local.runtime import Services
from julep_nb.sources.julep.requests import CreateAgentRequest

__all__ = ["OPERATIONS", "system_arguments", "system_handler"]

Key = tuple[str, "str | None", str]
Operation = Callable[[Services, dict[str, Any]], Any]


def system_arguments(tool: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """The call's arguments over the tool's, with ``resource_id`` as ``<resource>_id``."""
    system = tool.get("system") or {}
    merged = {
        **(system.get("arguments") or {}),
        **(arguments if isinstance(arguments, dict) else {}),
    }
    if system.get("resource_id") and f"{system['resource']}_id" not in merged:
        merged[f"{system['resource']}_id"] = str(system["resource_id"])
    return merged


def _need(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"this system call needs {name} (a string id) in its arguments")
    return value


def _page(arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "limit": int(arguments.get("limit", 100)),
        "offset": int(arguments.get("offset", 0)),
        "direction": str(arguments.get("direction", "desc")),
    }


def _fields(arguments: dict[str, Any], *drop: str) -> dict[str, Any]:
    data = arguments.get("data")
    body = dict(data) if isinstance(data, dict) else dict(arguments)
    for key in drop:
        body.pop(key, None)
    return body


def _store(services: Services) -> Any:
    if services.store is None:
        raise InvalidRequest("system tools need the local store")
    return services.store


def _agent_create(s: Services, a: dict[str, Any]) -> Any:
    data = CreateAgentRequest.model_validate(_fields(a, "agent_id"))
    return _store(s).create_agent(data.model_dump(exclude_unset=True)).to_wire()


def _agent_change(merge: bool) -> Operation:
    def change(s: Services, a: dict[str, Any]) -> Any:
        agent_id = _need(a, "agent_id")
        return _store(s).update_agent(agent_id, _fields(a, "agent_id"), merge=merge).to_wire()

    return change


def _tool_change(merge: bool) -> Operation:
    def change(s: Services, a: dict[str, Any]) -> Any:
        agent_id, tool_id = _need(a, "agent_id"), _need(a, "tool_id")
        body = _fields(a, "agent_id", "tool_id")
        return _store(s).agent_tools.change(agent_id, tool_id, body, merge=merge)

    return change


def _task_create(s: Services, a: dict[str, Any]) -> Any:
    from julep_nb.local.validate import validate_task

    agent_id = _need(a, "agent_id")
    spec = validate_task(_fields(a, "agent_id", "task_id"))
    return _store(s).create_task(agent_id, spec, a.get("task_id")).to_wire()


def _task_update(s: Services, a: dict[str, Any]) -> Any:
    from julep_nb.local.validate import validate_task

    task_id = _need(a, "task_id")
    store = _store(s)
    agent_id = a.get("agent_id") or store.get_task(task_id).agent_id
    spec = validate_task(_fields(a, "agent_id", "task_id"))
    return store.update_task(task_id, spec, agent_id=agent_id).to_wire()


def _execution_create(s: Services, a: dict[str, Any]) -> Any:
    task_id = _need(a, "task_id")
    data: dict[str, Any] = a["data"] if isinstance(a.get("data"), dict) else a
    if s.start_execution is None:
        raise InvalidRequest("this server cannot start executions from a step")
    _store(s).get_task(task_id)
    return s.start_execution(task_id, dict(data.get("input") or {}))


def _wire_list(items: list[Any]) -> list[Any]:
    return [i.to_wire() if hasattr(i, "to_wire") else i for i in items]


OPERATIONS: Final[dict[Key, Operation]] = {
    ("agent", None, "get"): lambda s, a: _store(s).get_agent(_need(a, "agent_id")).to_wire(),
    ("agent", None, "list"): lambda s, a: _wire_list(_store(s).list_agents(**_page(a))),
    ("agent", None, "create"): _agent_create,
    ("agent", None, "update"): _agent_change(merge=False),
    ("agent", None, "patch"): _agent_change(merge=True),
    ("agent", "tool", "list"): lambda s, a: _store(s).agent_tools.listing(
        _need(a, "agent_id"), **_page(a)
    ),
    ("agent", "tool", "create"): lambda s, a: _store(s).agent_tools.create(
        _need(a, "agent_id"), _fields(a, "agent_id")
    ),
    ("agent", "tool", "update"): _tool_change(merge=False),
    ("agent", "tool", "patch"): _tool_change(merge=True),
    ("agent", "tool", "delete"): lambda s, a: _store(s).agent_tools.delete(
        _need(a, "agent_id"), _need(a, "tool_id")
    ),
    ("task", None, "get"): lambda s, a: _store(s).get_task(_need(a, "task_id")).to_wire(),
    ("task", None, "list"): lambda s, a: _wire_list(
        _store(s).list_tasks(_need(a, "agent_id"), **_page(a))
    ),
    ("task", None, "create"): _task_create,
    ("task", None, "update"): _task_update,
    ("task", "execution", "create"): _execution_create,
    ("task", "execution", "list"): lambda s, a: _wire_list(
        _store(s).list_executions(_need(a, "task_id"), **_page(a))
    ),
    ("execution", None, "get"): lambda s, a: (
        _store(s).get_execution(_need(a, "execution_id")).to_wire()
    ),
    ("execution", "transition", "list"): lambda s, a: _wire_list(
        _store(s).list_transitions(_need(a, "execution_id"), **_page(a))
    ),
}
"""(resource, subresource, operation) → what runs it on the local store."""


def system_handler(tool: dict[str, Any]) -> Operation | None:
    """What runs this system tool locally, or ``None`` (the call then pauses)."""
    system = tool.get("system") or {}
    key = (system.get("resource"), system.get("subresource"), system.get("operation"))
    return OPERATIONS.get(key)  # type: ignore[arg-type]
