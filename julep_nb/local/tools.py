"""Task tools on the local server: the shape of a paused call, and ``api_call`` requests.

A tool call that the caller answers becomes the output of a ``wait`` transition
(Julep's shape: ``{"id", "type": "function", "function": {"name", "arguments"}}``,
and likewise for the other types; a system call carries its ``resource``,
``operation``…); the resume input is the tool's result. Which calls run and
which pause is :mod:`julep_nb.local.tool_runner`. An ``api_call`` tool performs its HTTP
request with httpx and returns ``{"status_code", "headers", "json", "content"?}``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Final

import httpx

from julep_nb.local.context import secrets as developer_secrets
from julep_nb.local.expressions import evaluate_value

__all__ = ["ToolError", "api_call", "function_call", "openai_tool", "tool_by_name"]

API_CALL_TIMEOUT: Final = 60.0
_REQUEST_KEYS: Final = frozenset({"params", "json", "data", "content", "cookies"})


class ToolError(Exception):
    """A tool is unknown, or its HTTP call failed."""


def tool_by_name(tools: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The tool called ``name`` (``ToolError`` naming the known ones)."""
    for tool in tools:
        if tool.get("name") == name:
            return tool
    known = ", ".join(sorted(str(t.get("name")) for t in tools)) or "none"
    raise ToolError(f"unknown tool {name!r} (tools: {known})")


def new_call_id() -> str:
    """A fresh tool-call id (``call_…``, as Julep makes them)."""
    return "call_" + secrets.token_urlsafe(18)


def function_call(
    tool: dict[str, Any], arguments: Any, call_id: str | None = None
) -> dict[str, Any]:
    """The tool call a paused step hands to the caller (the ``wait`` output), as Julep's."""
    kind = tool["type"]
    body: dict[str, Any] = {"name": tool["name"], "arguments": arguments}
    if kind == "system":
        system = tool.get("system") or {}
        body = {
            "resource": system.get("resource"),
            "operation": system.get("operation"),
            "resource_id": system.get("resource_id"),
            "subresource": system.get("subresource"),
            "arguments": arguments,
        }
    return {"id": call_id or new_call_id(), "type": kind, kind: body}


def openai_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """The tool as OpenAI's ``{"type": "function", "function": {…}}`` for the chat model."""
    raw = tool.get("function")
    function: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description") or function.get("description") or "",
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        },
    }


async def api_call(
    tool: dict[str, Any],
    arguments: dict[str, Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """Run an ``api_call`` tool: its definition, overridden by the call's arguments."""
    # Julep evaluates a tool's definition with the developer's `secrets`; `_` is local.
    spec = evaluate_value(
        tool.get("api_call") or {}, {"_": arguments, "secrets": developer_secrets()}
    )
    args = dict(arguments)
    if "json_" in args:  # Julep's spelling, since `json` shadows a Python name
        args["json"] = args.pop("json_")
    method = str(args.pop("method", None) or spec["method"]).upper()
    url = str(args.pop("url", None) or spec["url"])
    headers = {**(spec.get("headers") or {}), **(args.pop("headers", None) or {})}
    follow = bool(args.pop("follow_redirects", spec.get("follow_redirects", False)))
    include_content = bool(
        args.pop("include_response_content", spec.get("include_response_content", False))
    )
    request = {k: spec[k] for k in _REQUEST_KEYS if spec.get(k) is not None}
    request.update({k: v for k, v in args.items() if k in _REQUEST_KEYS})
    timeout = float(spec.get("timeout") or API_CALL_TIMEOUT)
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        try:
            response = await client.request(
                method, url, headers=headers, follow_redirects=follow, **request
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"api_call {tool['name']!r}: {method} {url} failed: {exc}") from None
    if response.status_code >= 400:
        raise ToolError(
            f"api_call {tool['name']!r}: {method} {url} answered {response.status_code}: "
            f"{response.text[:300]}"
        )
    result: dict[str, Any] = {
        "status_code": response.status_code,
        "headers": dict(response.headers),
    }
    try:
        result["json"] = response.json()
    except ValueError:
        result["json"] = None
        result["text"] = response.text[:1_000_000]
    if include_content:
        result["content"] = base64.b64encode(response.content).decode("ascii")
    return result
