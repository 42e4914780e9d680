"""Run a tool call of any type Julep defines, or say that it must pause.

| type | runs here | else |
|---|---|---|
| ``api_call`` | its HTTP request (httpx) | — |
| ``integration`` | the handler registered for its provider/method (``dummy``: built in) | pause |
| ``system`` | the operations :mod:`julep_nb.local.system_tools` has | pause |
| ``function``, ``computer_20241022``, ``text_editor_20241022``, ``bash_20241022`` | — | pause |

A paused call is the ``wait`` transition's output in Julep's shape (see
:func:`julep_nb.local.tools.function_call`); the resume input is its result.
"""

from __future__ import annotations

from typing import Any, Final

from julep_nb.local import tools as tool_calls
from julep_nb.local.frames import to_data
from julep_nb.local.integrations import find_integration, run_integration
from julep_nb.local.runtime import Services
from julep_nb.local.system_tools import system_arguments, system_handler

__all__ = ["PAUSE", "ToolFailed", "run_tool"]

DUMMY_PROVIDER: Final = "dummy"
"""The integration Julep answers itself: its result is the call's arguments."""
PAUSE: Any = object()
"""What :func:`run_tool` returns for a call that the caller must answer."""


class ToolFailed(Exception):
    """A tool ran and failed; the message names the tool."""


async def run_tool(services: Services, tool: dict[str, Any], arguments: Any) -> Any:
    """The tool's result, or :data:`PAUSE`; :class:`ToolFailed` when it fails."""
    kind = tool.get("type")
    name = tool.get("name")
    try:
        if kind == "api_call":
            if not isinstance(arguments, dict):
                raise ToolFailed(
                    f"api_call arguments must be a mapping, got {type(arguments).__name__}"
                )
            return await tool_calls.api_call(tool, to_data(arguments))
        if kind == "integration":
            return await _integration(tool, arguments)
        if kind == "system":
            operation = system_handler(tool)
            if operation is None:
                return PAUSE
            return to_data(operation(services, system_arguments(tool, arguments)))
    except ToolFailed:
        raise
    except tool_calls.ToolError as exc:
        raise ToolFailed(str(exc)) from None
    except Exception as exc:  # the tool's own failure: the step fails with its message
        raise ToolFailed(f"{kind} tool {name!r} failed: {type(exc).__name__}: {exc}") from exc
    return PAUSE


async def _integration(tool: dict[str, Any], arguments: Any) -> Any:
    spec = tool.get("integration") or {}
    provider = str(spec.get("provider"))
    handler = find_integration(provider, spec.get("method"))
    args = {**(arguments if isinstance(arguments, dict) else {}), **(spec.get("arguments") or {})}
    if handler is None:
        # Julep answers its "dummy" provider itself, with the arguments.
        return to_data(args) if provider == DUMMY_PROVIDER else PAUSE
    setup = dict(spec.get("setup") or {})
    return to_data(await run_integration(handler, to_data(args), setup))
