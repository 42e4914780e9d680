"""Routes of the agent-tools resource: ``/agents/{agent_id}/tools[/{tool_id}]``.

As Julep: POST creates (201, the tool), GET lists (``{"items": […]}``), PATCH
merges, PUT replaces, DELETE answers ``{id, deleted_at}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from julep_nb.local.agent_tools import AgentTools
from julep_nb.local.bodies import json_response as _json
from julep_nb.local.bodies import read_body

__all__ = ["agent_tool_routes"]


def agent_tool_routes(tools: AgentTools, page: Any) -> list[Route]:
    """The routes over ``tools``; ``page(request)`` reads limit/offset/direction."""

    async def create(request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        return _json(tools.create(agent_id, await read_body(request)), 201)

    async def listing(request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        return _json({"items": tools.listing(agent_id, **page(request))})

    async def get(request: Request) -> Response:
        params = request.path_params
        return _json(tools.get(params["agent_id"], params["tool_id"]))

    async def change(request: Request) -> Response:
        params = request.path_params
        merge = request.method == "PATCH"
        body = await read_body(request)
        return _json(tools.change(params["agent_id"], params["tool_id"], body, merge=merge))

    async def delete(request: Request) -> Response:
        params = request.path_params
        return _json(tools.delete(params["agent_id"], params["tool_id"]))

    one = "/agents/{agent_id}/tools/{tool_id}"
    return [
        Route("/agents/{agent_id}/tools", create, methods=["POST"]),
        Route("/agents/{agent_id}/tools", listing, methods=["GET"]),
        Route(one, get, methods=["GET"]),
        Route(one, change, methods=["PATCH", "PUT"]),
        Route(one, delete, methods=["DELETE"]),
    ]
