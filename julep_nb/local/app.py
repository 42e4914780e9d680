"""The local server's ASGI app: Julep v1 routes over the store and the engine.

Usage::

    app = create_app(Store("julep.db"), Engine(store), api_key=None)

Routes, status codes and error bodies follow the Julep v1 server (see
``openapi.json``). Streams push on change: a store listener hands every
committed transition to :class:`Hub`, which fans it out to the open streams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pydantic
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from julep_nb.local.auth import APIKeyMiddleware, error_body
from julep_nb.local.bodies import (
    MAX_BODY_BYTES,
    json_response,
    json_text_response,
    read_body,
    read_model,
)
from julep_nb.local.bulk_routes import bulk_routes
from julep_nb.local.errors import LocalError, TaskInvalid
from julep_nb.local.input_check import check_input
from julep_nb.local.openapi import MAX_PAGE, openapi_document
from julep_nb.local.rows import execution_json, execution_wire
from julep_nb.local.sse_response import SSE_HEADERS, EventStreamResponse
from julep_nb.local.store import Store
from julep_nb.local.streams import (
    PING_INTERVAL,
    Hub,
    ended_status_body,
    status_events,
    transition_events,
)
from julep_nb.local.tool_routes import agent_tool_routes
from julep_nb.sources.julep.models import ExecutionStatus
from julep_nb.sources.julep.requests import (
    CreateAgentRequest,
    CreateExecutionRequest,
    CreateTaskRequest,
    ResumeExecutionRequest,
    StopExecutionRequest,
    TaskTokenResumeRequest,
)

__all__ = ["MAX_BODY_BYTES", "EngineLike", "create_app"]

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """What the app needs from the step interpreter (``julep_nb.local.engine.Engine``)."""

    def validate_task(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def start(self, execution_id: str, *, execution: dict[str, Any] | None = None) -> None: ...
    async def resume(self, execution_id: str, input: dict[str, Any]) -> None: ...
    async def resume_with_token(self, task_token: str, input: dict[str, Any]) -> None: ...
    async def cancel(self, execution_id: str, reason: str | None = None) -> None: ...
    async def recover(self) -> None: ...
    async def aclose(self) -> None: ...


# ---------------------------------------------------------------------- request helpers


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(422, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise HTTPException(422, f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(request: Request, name: str, default: str, choices: Iterable[str]) -> str:
    value = request.query_params.get(name, default)
    allowed = tuple(choices)
    if value not in allowed:
        raise HTTPException(422, f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _page(request: Request, default_direction: str = "desc") -> dict[str, Any]:
    return {
        "limit": _int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE),
        "offset": _int_param(request, "offset", 0, 0, 2**62),
        "direction": _choice(request, "direction", default_direction, ("asc", "desc")),
    }


def _items(models: Iterable[pydantic.BaseModel]) -> Response:
    return json_response({"items": [m.model_dump(mode="json") for m in models]})


# ---------------------------------------------------------------------- the app


def create_app(
    store: Store,
    engine: EngineLike,
    *,
    api_key: str | None = None,
    ping_interval: float = PING_INTERVAL,
) -> Starlette:
    """The Julep-compatible ASGI app over ``store`` and ``engine``.

    With ``api_key``, every route but ``/healthz`` requires it.
    """
    hub = Hub(store)
    routes = _Routes(store, engine, hub, ping_interval)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hub.attach(loop)
        store.group_commits(loop)
        try:
            await engine.recover()
            yield
        finally:
            hub.close_all()
            hub.detach()
            await engine.aclose()
            store.group_commits(None)

    app = Starlette(
        routes=routes.table(),
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _on_error,
            LocalError: _on_error,
            pydantic.ValidationError: _on_error,
            Exception: _on_error,  # 500; starlette re-raises it afterwards, so it is logged
        },
    )
    app.state.hub = hub
    app.state.store = store
    if api_key:
        app.add_middleware(APIKeyMiddleware, api_key=api_key, open_paths=("/healthz",))
    return app


async def _on_error(request: Request, exc: Exception) -> Response:
    """Every error as Julep's body: ``{"error": {"message", "code", "type"}}``.

    The one place where the local server's errors become HTTP answers.
    """
    if isinstance(exc, HTTPException):
        return json_response(
            error_body(str(exc.detail), exc.status_code), exc.status_code, exc.headers
        )
    if isinstance(exc, TaskInvalid):
        body = error_body(
            f"Task specification is invalid: {exc}", 400, code=exc.code, type=exc.wire_type
        )
        body["error"]["details"] = [{"location": exc.location, "message": str(exc)}]
        return json_response(body, 400)
    if isinstance(exc, LocalError) and exc.status < 500:
        body = error_body(exc.message, exc.status, code=exc.code, type=exc.wire_type)
        return json_response(body, exc.status)
    if isinstance(exc, pydantic.ValidationError):
        details = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
        body = error_body("Validation error", 422, code="validation_error", type="validation_error")
        body["error"]["details"] = details
        return json_response(body, 422)
    if isinstance(exc, LocalError):  # others are re-raised by starlette, and logged there
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    message = f"Internal server error ({type(exc).__name__}); see the server log"
    return json_response(error_body(message, 500, type="server_error"), 500)


class _Routes:
    """The endpoint functions; small, one per route."""

    def __init__(self, store: Store, engine: EngineLike, hub: Hub, ping_interval: float) -> None:
        self.store, self.engine, self.hub = store, engine, hub
        self.ping_interval = ping_interval

    def table(self) -> list[Route]:
        # Starlette tries routes in order: the ones every execution uses come first.
        return [
            Route("/tasks/{task_id}/executions", self.create_execution, methods=["POST"]),
            Route("/executions/{execution_id}/status.stream", self.status_stream, methods=["GET"]),
            Route(
                "/executions/{execution_id}/transitions.stream",
                self.transitions_stream,
                methods=["GET"],
            ),
            Route("/executions/{execution_id}", self.get_execution, methods=["GET"]),
            Route("/tasks/{task_id}/executions", self.list_executions, methods=["GET"]),
            Route("/executions/{execution_id}/transitions", self.list_transitions, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/agents", self.create_agent, methods=["POST"]),
            Route("/agents/{agent_id}", self.get_agent, methods=["GET"]),
            Route("/agents/{agent_id}/tasks", self.create_task, methods=["POST"]),
            Route("/agents/{agent_id}/tasks", self.list_tasks, methods=["GET"]),
            Route("/agents/{agent_id}/tasks/{task_id}", self.put_task, methods=["POST", "PUT"]),
            Route("/tasks/{task_id}", self.get_task, methods=["GET"]),
            Route("/executions/resume", self.resume_with_token, methods=["POST"]),
            Route("/executions/{execution_id}", self.update_execution, methods=["PUT"]),
            Route(
                "/executions/{execution_id}/transitions/{transition_id}",
                self.get_transition,
                methods=["GET"],
            ),
            *agent_tool_routes(self.store.agent_tools, _page),
            *bulk_routes(self.store, self.engine),
        ]

    # -- meta

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi(self, request: Request) -> Response:
        return json_response(openapi_document())

    # -- agents and tasks

    async def create_agent(self, request: Request) -> Response:
        data = await read_model(request, CreateAgentRequest)
        agent = self.store.create_agent(data.model_dump(exclude_unset=True))
        return json_response(agent.to_wire(), 201)

    async def get_agent(self, request: Request) -> Response:
        return json_response(self.store.get_agent(request.path_params["agent_id"]).to_wire())

    def _task_spec(self, raw: Any) -> dict[str, Any]:
        data = CreateTaskRequest.model_validate(raw)
        if data.input_schema is not None:
            import jsonschema  # lazily: see input_check

            try:
                jsonschema.validators.validator_for(data.input_schema).check_schema(
                    data.input_schema
                )
            except jsonschema.exceptions.SchemaError as exc:
                raise HTTPException(400, f"Invalid input schema: {exc.message}") from None
        return self.engine.validate_task(data.model_dump(mode="json", exclude_unset=True))

    async def create_task(self, request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        spec = self._task_spec(await read_body(request, yaml_ok=True))
        return json_response(self.store.create_task(agent_id, spec).to_wire(), 201)

    async def put_task(self, request: Request) -> Response:
        agent_id, task_id = request.path_params["agent_id"], request.path_params["task_id"]
        spec = self._task_spec(await read_body(request, yaml_ok=True))
        self.store.get_agent(agent_id)
        task = self.store.update_task(task_id, spec, agent_id=agent_id)
        return json_response(task.to_wire(), 201)

    async def get_task(self, request: Request) -> Response:
        return json_response(self.store.get_task(request.path_params["task_id"]).to_wire())

    async def list_tasks(self, request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        page = _page(request)
        _choice(request, "sort_by", "created_at", ("created_at", "updated_at"))
        self.store.get_agent(agent_id)
        return _items(self.store.list_tasks(agent_id, **page))

    # -- executions

    async def create_execution(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        schema = self.store.input_schema(task_id)  # NotFound for an unknown task
        data = await read_model(request, CreateExecutionRequest)
        check_input(task_id, schema, data.input)
        key = request.headers.get("idempotency-key")
        [(row, created)] = self.store.create_rows(task_id, [(data.input, data.metadata, key)])
        if created:
            self.engine.start(row[0], execution=execution_wire(row))
        await self.store.committed()  # the row may share the loop turn's commit
        if not created:
            return json_text_response(execution_json(row), 200, {"Idempotent-Replayed": "true"})
        return json_text_response(execution_json(row), 201)

    async def list_executions(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        page = _page(request)
        sort_by = _choice(request, "sort_by", "created_at", ("created_at", "updated_at"))
        self.store.get_task(task_id)
        items = self.store.list_executions_json(task_id, sort_by=sort_by, **page)
        return json_text_response(f'{{"items":[{",".join(items)}]}}')  # the rows' own JSON

    async def get_execution(self, request: Request) -> Response:
        text, _ = self.store.get_execution_json(request.path_params["execution_id"])
        return json_text_response(text)

    async def update_execution(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        raw = await read_body(request)
        self.store.get_execution(execution_id)
        status = raw.get("status") if isinstance(raw, dict) else None
        if status == ExecutionStatus.CANCELLED.value:
            stop = StopExecutionRequest.model_validate(raw)
            await self.engine.cancel(execution_id, stop.reason)
        elif status == ExecutionStatus.RUNNING.value:
            resume = ResumeExecutionRequest.model_validate(raw)
            await self.engine.resume(execution_id, resume.input)
        else:
            raise HTTPException(
                422,
                f"status must be 'cancelled' (cancel) or 'running' (resume with input), "
                f"got {status!r}",
            )
        return json_response(None)

    async def resume_with_token(self, request: Request) -> Response:
        data = await read_model(request, TaskTokenResumeRequest)
        await self.engine.resume_with_token(data.task_token, data.input)
        return json_response(None)

    # -- transitions

    async def list_transitions(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        page = _page(request)  # desc by default, as Julep
        _choice(request, "sort_by", "created_at", ("created_at", "updated_at"))
        scope_id = request.query_params.get("scope_id")
        items = self.store.list_transitions(execution_id, scope_id=scope_id, **page)
        return _items(items)

    async def get_transition(self, request: Request) -> Response:
        params = request.path_params
        transition = self.store.get_transition(params["execution_id"], params["transition_id"])
        return json_response(transition.to_wire())

    # -- streams

    async def status_stream(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        ended = ended_status_body(self.store, execution_id)
        if ended is not None:  # nothing left to wait for: the stream is one event
            return Response(ended, media_type="text/event-stream", headers=SSE_HEADERS)
        events = status_events(self.hub, execution_id, ping_interval=self.ping_interval)
        return EventStreamResponse(events)

    async def transitions_stream(self, request: Request) -> Response:
        execution = self.store.get_execution(request.path_params["execution_id"])
        token = request.headers.get("last-event-id") or request.query_params.get("next_page_token")
        try:
            after = int(token) if token else 0
        except ValueError:
            raise HTTPException(
                400, f"Last-Event-ID / next_page_token must be a transition number, got {token!r}"
            ) from None
        events = transition_events(
            self.hub, execution.id, after=after, ping_interval=self.ping_interval
        )
        return EventStreamResponse(events)
