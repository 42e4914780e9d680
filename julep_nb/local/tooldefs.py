"""Tool definitions as Julep's task and agent-tool models accept them.

A tool is ``{name, type, description?, <type>: {…}}`` where ``type`` is one of
:data:`TOOL_TYPES` (Julep's ``CreateToolRequest`` union) and the key named by
the type holds its definition. :func:`check_tool` raises ``StepError`` naming
the tool's path for the shapes Julep's models refuse; other keys are kept.
"""

from __future__ import annotations

import re
from typing import Any, Final

from julep_nb.local.errors import StepError

__all__ = ["ANTHROPIC_TYPES", "SYSTEM_OPERATIONS", "TOOL_TYPES", "check_tool", "tool_key"]

TOOL_TYPES: Final = (
    "function",
    "integration",
    "system",
    "api_call",
    "computer_20241022",
    "text_editor_20241022",
    "bash_20241022",
)
ANTHROPIC_TYPES: Final = frozenset(TOOL_TYPES[4:])
SYSTEM_RESOURCES: Final = frozenset({"agent", "user", "task", "execution", "doc", "session", "job"})
SYSTEM_OPERATIONS: Final = frozenset(
    {
        "create",
        "update",
        "patch",
        "create_or_update",
        "embed",
        "change_status",
        "search",
        "chat",
        "history",
        "delete",
        "get",
        "list",
    }
)
_NAME: Final = re.compile(r"[^\W\d]\w{0,39}")


def tool_key(tool: dict[str, Any]) -> str:
    """The key of the tool's own definition (its type)."""
    return str(tool.get("type"))


def check_tool(tool: Any, path: str) -> None:
    """``StepError`` at ``path`` unless ``tool`` is a tool definition Julep accepts."""
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise StepError("a tool needs a 'name' and a 'type'", path=path)
    name, kind = tool["name"], tool.get("type")
    if not _NAME.fullmatch(name):
        raise StepError(
            f"tool name {name!r} must be a Python identifier of at most 40 characters", path=path
        )
    if kind not in TOOL_TYPES:
        raise StepError(
            f"tool {name!r} has type {kind!r}: use one of {', '.join(TOOL_TYPES)}", path=path
        )
    body = tool.get(kind)
    if body is not None and not isinstance(body, dict):
        raise StepError(f"tool {name!r}: '{kind}' must be a mapping", path=path)
    if kind == "api_call" and (not body or not body.get("url") or not body.get("method")):
        raise StepError(f"api_call tool {name!r} needs api_call: {{method, url}}", path=path)
    if kind == "integration" and (not body or not isinstance(body.get("provider"), str)):
        raise StepError(
            f"integration tool {name!r} needs integration: {{provider, method?, setup?}}",
            path=path,
        )
    if kind == "system":
        _check_system(name, body or {}, path)


def _check_system(name: str, body: dict[str, Any], path: str) -> None:
    resource, operation = body.get("resource"), body.get("operation")
    if resource not in SYSTEM_RESOURCES or operation not in SYSTEM_OPERATIONS:
        raise StepError(
            f"system tool {name!r} needs system: {{resource, operation}} with resource one of "
            f"{', '.join(sorted(SYSTEM_RESOURCES))} and operation one of "
            f"{', '.join(sorted(SYSTEM_OPERATIONS))}; got {resource!r}, {operation!r}",
            path=path,
        )
