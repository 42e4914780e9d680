"""The OpenAPI 3.1 document of the local server (``GET /openapi.json``)."""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from julep_nb._version import __version__
from julep_nb.local.tooldefs import TOOL_TYPES
from julep_nb.sources.julep.models import Agent, Execution, Task, Transition
from julep_nb.sources.julep.requests import (
    BulkCreateExecutionsRequest,
    CreateAgentRequest,
    CreateExecutionRequest,
    CreateTaskRequest,
    ErrorBody,
    ResumeExecutionRequest,
    StopExecutionRequest,
    TaskTokenResumeRequest,
)

__all__ = ["MAX_PAGE", "openapi_document"]

MAX_PAGE: Final = 100

_PAGE_PARAMS: Final = ("limit", "offset", "direction", "sort_by")
_TOOL: Final = "/agents/{agent_id}/tools/{tool_id}"
_TOOL_PROPERTIES: Final[dict[str, Any]] = {
    "name": {"type": "string", "pattern": r"^[^\W0-9]\w*$", "maxLength": 40},
    "type": {"type": "string", "enum": list(TOOL_TYPES)},
    "description": {"type": ["string", "null"]},
    **{kind: {"type": ["object", "null"]} for kind in TOOL_TYPES},
}
_TOOL_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "CreateToolRequest": {
        "type": "object",
        "required": ["name", "type"],
        "properties": _TOOL_PROPERTIES,
    },
    "Tool": {
        "type": "object",
        "required": ["id", "name", "type", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            **_TOOL_PROPERTIES,
        },
    },
    "ToolDeleted": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "deleted_at": {"type": "string"}},
    },
}
_YAML_BODIES: Final = frozenset({"create_task", "create_or_update_task", "put_task"})
# (method, path, operationId, request model, response model or None for `null`, status,
#  query parameters); "[X]" is a `{"items": [X]}` page, "sse" an event stream.
_OPERATIONS: Final[list[tuple[str, str, str, str | None, str | None, int, tuple[str, ...]]]] = [
    ("get", "/healthz", "check_health", None, "Health", 200, ()),
    ("post", "/agents", "create_agent", "CreateAgentRequest", "Agent", 201, ()),
    ("get", "/agents/{agent_id}", "get_agent", None, "Agent", 200, ()),
    ("post", "/agents/{agent_id}/tasks", "create_task", "CreateTaskRequest", "Task", 201, ()),
    ("get", "/agents/{agent_id}/tasks", "list_tasks", None, "[Task]", 200, _PAGE_PARAMS),
    (
        "post",
        "/agents/{agent_id}/tasks/{task_id}",
        "create_or_update_task",
        "CreateTaskRequest",
        "Task",
        201,
        (),
    ),
    ("put", "/agents/{agent_id}/tasks/{task_id}", "put_task", "CreateTaskRequest", "Task", 201, ()),
    ("get", "/tasks/{task_id}", "get_task", None, "Task", 200, ()),
    (
        "post",
        "/tasks/{task_id}/executions",
        "create_execution",
        "CreateExecutionRequest",
        "Execution",
        201,
        (),
    ),
    (
        "get",
        "/tasks/{task_id}/executions",
        "list_executions",
        None,
        "[Execution]",
        200,
        _PAGE_PARAMS,
    ),
    ("post", "/executions/resume", "resume_with_token", "TaskTokenResumeRequest", None, 200, ()),
    ("get", "/executions/{execution_id}", "get_execution", None, "Execution", 200, ()),
    (
        "put",
        "/executions/{execution_id}",
        "update_execution",
        "ResumeExecutionRequest|StopExecutionRequest",
        None,
        200,
        (),
    ),
    (
        "get",
        "/executions/{execution_id}/transitions",
        "list_transitions",
        None,
        "[Transition]",
        200,
        (*_PAGE_PARAMS, "scope_id"),
    ),
    (
        "get",
        "/executions/{execution_id}/transitions/{transition_id}",
        "get_transition",
        None,
        "Transition",
        200,
        (),
    ),
    ("get", "/executions/{execution_id}/status.stream", "stream_status", None, "sse", 200, ()),
    ("post", "/agents/{agent_id}/tools", "create_agent_tool", "CreateToolRequest", "Tool", 201, ()),
    ("get", "/agents/{agent_id}/tools", "list_agent_tools", None, "[Tool]", 200, _PAGE_PARAMS),
    ("get", _TOOL, "get_agent_tool", None, "Tool", 200, ()),
    ("patch", _TOOL, "patch_agent_tool", "CreateToolRequest", "Tool", 200, ()),
    ("put", _TOOL, "update_agent_tool", "CreateToolRequest", "Tool", 200, ()),
    ("delete", _TOOL, "delete_agent_tool", None, "ToolDeleted", 200, ()),
    (
        "get",
        "/executions/{execution_id}/transitions.stream",
        "stream_transitions",
        None,
        "sse",
        200,
        ("next_page_token",),
    ),
    # julep_nb's extension routes (not Julep's; see local/bulk_routes.py)
    ("get", "/julep_nb/extensions", "julep_nb_extensions", None, "Extensions", 200, ()),
    (
        "post",
        "/julep_nb/tasks/{task_id}/executions/bulk",
        "julep_nb_bulk_create_executions",
        "BulkCreateExecutionsRequest",
        "BulkCreatedExecutions",
        201,
        (),
    ),
]
_MODELS: Final[tuple[type[BaseModel], ...]] = (
    BulkCreateExecutionsRequest,
    CreateAgentRequest,
    CreateExecutionRequest,
    CreateTaskRequest,
    ResumeExecutionRequest,
    StopExecutionRequest,
    TaskTokenResumeRequest,
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response_schema(response: str | None) -> dict[str, Any]:
    if response is None:
        return {"application/json": {"schema": {"type": "null"}}}
    if response == "sse":
        return {"text/event-stream": {"schema": {"type": "string"}}}
    if response.startswith("["):
        items = _ref(response[1:-1])
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": items}}}
        return {"application/json": {"schema": schema}}
    return {"application/json": {"schema": _ref(response)}}


def _operation(
    op_id: str,
    path: str,
    request: str | None,
    response: str | None,
    status: int,
    query: tuple[str, ...],
) -> dict[str, Any]:
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in re.findall(r"{(\w+)}", path)
    ] + [{"name": q, "in": "query", "required": False, "schema": _QUERY_SCHEMAS[q]} for q in query]
    op: dict[str, Any] = {
        "operationId": op_id,
        "parameters": params,
        "responses": {
            str(status): {"description": "OK", "content": _response_schema(response)},
            "default": {"description": "Error", "content": _response_schema("ErrorBody")},
        },
    }
    if request is not None:
        schema = (
            {"oneOf": [_ref(n) for n in request.split("|")]} if "|" in request else _ref(request)
        )
        content = {"application/json": {"schema": schema}}
        if op_id in _YAML_BODIES:  # Julep's task routes take YAML too
            content |= {media: {"schema": schema} for media in ("application/yaml", "text/yaml")}
        op["requestBody"] = {"required": True, "content": content}
    return op


_QUERY_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": MAX_PAGE},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "direction": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
    "sort_by": {"type": "string", "enum": ["created_at", "updated_at"], "default": "created_at"},
    "scope_id": {"type": "string"},
    "next_page_token": {"type": "string"},
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the local server's routes."""
    models: list[type[BaseModel]] = [*_MODELS, Agent, ErrorBody, Execution, Task, Transition]
    _, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas = defs["$defs"]
    schemas["Health"] = {"type": "object", "properties": {"status": {"type": "string"}}}
    schemas.update(_TOOL_SCHEMAS)
    schemas["Extensions"] = {
        "type": "object",
        "properties": {
            "server": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    }
    schemas["BulkCreatedExecutions"] = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Execution")},
            "replayed": {"type": "array", "items": {"type": "integer"}},
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op_id, request, response, status, query in _OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(
            op_id, path, request, response, status, query
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "julep_nb local server (Julep v1 executions API)",
            "version": __version__,
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "xAuthKey": {"type": "apiKey", "in": "header", "name": "X-Auth-Key"},
            },
        },
    }
