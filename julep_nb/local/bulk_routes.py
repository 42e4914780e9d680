"""julep_nb's extension routes on the embedded server, all under ``/julep_nb/``.

Julep's API has no route under ``/julep_nb/``, so these can never shadow or change
one of its routes; a client asks for them only where ``GET /julep_nb/extensions``
says they exist (the Julep client probes loopback servers only, once).

- ``GET /julep_nb/extensions``: ``{"server": "julep_nb", "version", "extensions":
  ["bulk_create_executions"]}``.
- ``POST /julep_nb/tasks/{task_id}/executions/bulk`` with ``{"items": [{"input",
  "metadata"?, "idempotency_key"?}, …]}`` (at most ``MAX_BULK_ITEMS``): one execution per
  item, as ``POST /tasks/{task_id}/executions`` makes one. The answer, once every row
  is committed, is ``{"items": [Execution, …], "replayed": [positions]}`` in the
  request's order: an item whose idempotency key was seen before (in an earlier
  request or earlier in this one) gets the execution first made with it, and its
  position is listed in ``replayed``. 201 when at least one was created, else 200.
  A bad item (its shape, or its input against the task's ``input_schema``) refuses
  the whole request with a message naming it (``items[3].input['x']: …``), and
  nothing is created. Executions made together are created in one transaction, with
  strictly increasing ``created_at`` in item order.

A batch against the embedded server creates its executions here: a request through
httpx costs the client about as much CPU as the server spends on a whole execution,
so one request per execution cannot keep up with the server (docs/performance.md).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import pydantic
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from julep_nb._version import __version__
from julep_nb.local.bodies import json_response, json_text_response, read_model
from julep_nb.local.input_check import check_inputs
from julep_nb.local.rows import execution_json, execution_wire
from julep_nb.local.store import Store
from julep_nb.sources.julep.requests import (
    BULK_CREATE,
    MAX_BULK_ITEMS,
    BulkCreateExecutionsRequest,
)

__all__ = ["BULK_CREATE_ROUTE", "EXTENSIONS_ROUTE", "bulk_routes"]

EXTENSIONS_ROUTE = "/julep_nb/extensions"
BULK_CREATE_ROUTE = "/julep_nb/tasks/{task_id}/executions/bulk"


class _Starts(Protocol):
    def start(self, execution_id: str, *, execution: dict[str, Any] | None = None) -> None: ...


async def _bulk_body(request: Request) -> BulkCreateExecutionsRequest:
    """The request body, or a 422 naming the first bad item and field."""
    try:
        return await read_model(request, BulkCreateExecutionsRequest)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = [str(p) for p in first["loc"]]
        if len(loc) >= 2 and loc[0] == "items" and loc[1].isdigit():
            where = f"items[{loc[1]}]" + "".join(f".{p}" for p in loc[2:])
        else:
            where = ".".join(loc) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        hint = (
            f"; send at most {MAX_BULK_ITEMS} items per request"
            if "too_long" in first["type"]
            else ""
        )
        raise HTTPException(
            422, f"Invalid bulk create: {where}: {first['msg']}{more}{hint}; nothing was created"
        ) from None


def bulk_routes(store: Store, engine: _Starts) -> list[Route]:
    """The extension routes over ``store``; ``engine`` starts the executions made."""

    async def extensions(request: Request) -> Response:
        return json_response(
            {"server": "julep_nb", "version": __version__, "extensions": [BULK_CREATE]}
        )

    async def create_many(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        schema = store.input_schema(task_id)  # NotFound for an unknown task
        body = await _bulk_body(request)
        try:
            inputs = ((f"items[{i}].input", item.input) for i, item in enumerate(body.items))
            check_inputs(task_id, schema, inputs)
        except HTTPException as exc:
            raise HTTPException(exc.status_code, f"{exc.detail}; nothing was created") from None
        made = store.create_rows(
            task_id, [(item.input, item.metadata, item.idempotency_key) for item in body.items]
        )
        for row, created in made:
            if created:
                engine.start(row[0], execution=execution_wire(row))
        await store.committed()  # the rows joined the loop turn's commit group
        replayed = [i for i, (_, created) in enumerate(made) if not created]
        status = 201 if len(replayed) < len(made) else 200
        items = ",".join(execution_json(row) for row, _ in made)
        answer = f'{{"items":[{items}],"replayed":{json.dumps(replayed)}}}'  # rows' own JSON
        return json_text_response(answer, status)

    return [
        Route(BULK_CREATE_ROUTE, create_many, methods=["POST"]),
        Route(EXTENSIONS_ROUTE, extensions, methods=["GET"]),
    ]
