"""The async Julep client: one method per endpoint of the v1 executions API.

Usage::

    async with Client(base_url="http://127.0.0.1:8080") as client:
        agent = await client.create_agent(name="nb")
        task = await client.create_task(agent.id, TASK_YAML)
        execution = await client.create_execution(task.id, {"x": 1})
        async for event in client.stream_status(execution.id):
            print(event.status)

Settings resolve as in the official SDK
(:func:`~julep_nb.sources.julep.config.resolve_settings`). This client talks to the
configured server only: choosing the embedded local server when nothing is
configured is :mod:`julep_nb.connect`'s job (``julep_nb.Client``). Failed calls
raise the :mod:`~julep_nb.sources.julep.errors` tree with the server's own message;
idempotent calls are retried with backoff.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import pydantic

from julep_nb.sources.julep._http import (
    first_error,
    parse_model,
)
from julep_nb.sources.julep.backoff import retryable_status
from julep_nb.sources.julep.connection import Connection
from julep_nb.sources.julep.errors import APIError, InputError, SourceUnreachable
from julep_nb.sources.julep.models import Agent, Execution, ExecutionStatusEvent, Task, Transition
from julep_nb.sources.julep.requests import (
    BULK_CREATE,
    MAX_BULK_ITEMS,
    CreateAgentRequest,
    NewExecution,
    ResumeExecutionRequest,
    StopExecutionRequest,
    TaskTokenResumeRequest,
)
from julep_nb.sources.julep.sse import DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT
from julep_nb.sources.julep.streams import ModelStream, parse_status_event, parse_transition
from julep_nb.sources.julep.taskspec import encode_json, parse_task

__all__ = ["BULK_CREATE", "Client", "ModelStream", "NewExecution"]


class Client(Connection):
    """Async client for Julep executions (hosted Julep, self-hosted, or the local server)."""

    # ------------------------------------------------------------ agents, tasks

    async def create_agent(self, name: str, **fields: Any) -> Agent:
        """Create an agent (``POST /agents``)."""
        try:
            body = CreateAgentRequest(name=name, **fields)
        except pydantic.ValidationError as exc:
            raise InputError(f"Invalid agent fields: {first_error(exc)}.") from exc
        data = await self._json(
            "POST", "/agents", json=body.model_dump(mode="json", exclude_unset=True)
        )
        return parse_model(Agent, data, "agent")

    async def create_task(self, agent_id: str, task: str | Mapping[str, Any]) -> Task:
        """Create a task from a YAML string or a dict (``POST /agents/{agent_id}/tasks``)."""
        content = encode_json(parse_task(task))
        data = await self._json("POST", f"/agents/{_q(agent_id)}/tasks", content=content)
        return parse_model(Task, data, "task")

    async def update_task(self, agent_id: str, task_id: str, task: str | Mapping[str, Any]) -> Task:
        """Create or replace the task with id ``task_id``."""
        content = encode_json(parse_task(task))
        path = f"/agents/{_q(agent_id)}/tasks/{_q(task_id)}"
        try:
            data = await self._json(self._task_update_method, path, content=content)
        except APIError as exc:
            if exc.status != 405:
                raise
            # Julep v1 and its SDK use POST here; DESIGN's table (and the local
            # server) use PUT. Try the other one once and remember what worked.
            self._task_update_method = "POST" if self._task_update_method == "PUT" else "PUT"
            data = await self._json(self._task_update_method, path, content=content)
        return parse_model(Task, data, "task")

    async def get_task(self, task_id: str) -> Task:
        """The task ``task_id`` (``GET /tasks/{task_id}``)."""
        return parse_model(Task, await self._json("GET", f"/tasks/{_q(task_id)}"), "task")

    async def list_tasks(self, agent_id: str, *, limit: int | None = None) -> list[Task]:
        """The agent's tasks, newest first; every page unless ``limit`` is given."""
        return await self._list(Task, f"/agents/{_q(agent_id)}/tasks", limit, {})

    # ------------------------------------------------------------ executions

    async def create_execution(
        self,
        task_id: str,
        input: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start an execution; retried safely under one ``Idempotency-Key``."""
        body: dict[str, Any] = {"input": _as_dict(input, "Execution input")}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        data = await self._json(
            "POST",
            f"/tasks/{_q(task_id)}/executions",
            content=encode_json(body),
            headers=headers,
            retry="idempotent",
        )
        return parse_model(Execution, data, "execution")

    async def offers(self, extension: str) -> bool:
        """Whether the server has julep_nb's ``extension`` (e.g. :data:`BULK_CREATE`).

        Asked once per client (``GET /julep_nb/extensions``, see
        ``julep_nb/local/bulk_routes.py``), and only of a server on a loopback address
        unless the client was made with ``extensions=True``: hosted Julep is never asked.
        The question is not retried: an unreachable or busy server (429, 5xx) is asked
        again next time; any other answer is kept.
        """
        if self.extensions is False:
            return False
        if self._extensions is None:
            base = await self.ensure_base_url()
            if self.extensions is None and not _is_loopback(base):
                self._extensions = frozenset()
            else:
                try:
                    data = await self._json("GET", "/julep_nb/extensions", retry="never")
                except SourceUnreachable:  # down now: asked again next time, not waited for
                    return False
                except APIError as exc:  # 404 from Julep, or anything else: none
                    if retryable_status(exc.status):  # busy now: asked again next time
                        return False
                    data = None
                names = data.get("extensions") if isinstance(data, dict) else None
                found = names if isinstance(names, list) else []
                self._extensions = frozenset(n for n in found if isinstance(n, str))
        return extension in self._extensions

    async def create_executions(
        self, task_id: str, items: Sequence[NewExecution]
    ) -> list[Execution]:
        """Start many executions in one request, in order (julep_nb's embedded server only).

        ``POST /julep_nb/tasks/{task_id}/executions/bulk``, an extension route: check
        :meth:`offers` (:data:`BULK_CREATE`) first. Each item may carry its own
        ``idempotency_key`` (one is made for those without), so the request is retried
        safely; a repeated key returns the execution first made with it. A bad item
        refuses the whole request (a ``ValidationError`` naming it) and creates nothing.
        """
        if len(items) > MAX_BULK_ITEMS:
            raise InputError(
                f"{len(items)} executions in one bulk create; send at most {MAX_BULK_ITEMS}."
            )
        body = {
            "items": [
                {**item.to_wire(), "idempotency_key": item.idempotency_key or str(uuid.uuid4())}
                for item in items
            ]
        }
        data = await self._json(
            "POST",
            f"/julep_nb/tasks/{_q(task_id)}/executions/bulk",
            content=encode_json(body),
            retry="idempotent",
        )
        made = data.get("items") if isinstance(data, dict) else None
        if not isinstance(made, list) or len(made) != len(items):
            raise self._unexpected(f"/julep_nb/tasks/{task_id}/executions/bulk", "items", data)
        return [parse_model(Execution, item, "execution") for item in made]

    async def get_execution(self, execution_id: str) -> Execution:
        """The execution ``execution_id``."""
        data = await self._json("GET", f"/executions/{_q(execution_id)}")
        return parse_model(Execution, data, "execution")

    async def list_executions(
        self,
        task_id: str,
        *,
        limit: int | None = None,
        direction: str = "desc",
    ) -> list[Execution]:
        """The task's executions by creation time; every page unless ``limit`` is given."""
        params = {"sort_by": "created_at", "direction": _direction(direction)}
        return await self._list(Execution, f"/tasks/{_q(task_id)}/executions", limit, params)

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        """Cancel the execution (``PUT /executions/{id}`` with status ``cancelled``)."""
        body = StopExecutionRequest(reason=reason).to_wire()
        await self._json("PUT", f"/executions/{_q(execution_id)}", json=body)

    async def resume(self, execution_id: str, input: Mapping[str, Any]) -> None:
        """Answer an ``awaiting_input`` execution; ``input`` becomes the step's output."""
        body = ResumeExecutionRequest(input=_as_dict(input, "Resume input")).to_wire()
        await self._json("PUT", f"/executions/{_q(execution_id)}", json=body)

    async def resume_with_token(self, task_token: str, input: Mapping[str, Any]) -> None:
        """Resume by task token (``POST /executions/resume``), where the server has one."""
        body = TaskTokenResumeRequest(
            task_token=task_token, input=_as_dict(input, "Resume input")
        ).to_wire()
        await self._json("POST", "/executions/resume", json=body)

    # ------------------------------------------------------------ transitions

    async def list_transitions(
        self,
        execution_id: str,
        *,
        limit: int | None = None,
        direction: str = "asc",
        scope_id: str | None = None,
    ) -> list[Transition]:
        """The execution's transitions, oldest first by default; every page unless ``limit``."""
        params: dict[str, Any] = {"direction": _direction(direction)}
        if scope_id is not None:
            params["scope_id"] = scope_id
        path = f"/executions/{_q(execution_id)}/transitions"
        return await self._list(Transition, path, limit, params)

    async def get_transition(self, execution_id: str, transition_id: str) -> Transition:
        """One transition of the execution."""
        path = f"/executions/{_q(execution_id)}/transitions/{_q(transition_id)}"
        return parse_model(Transition, await self._json("GET", path), "transition")

    # ------------------------------------------------------------ streams

    def stream_status(
        self,
        execution_id: str,
        *,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> ModelStream[ExecutionStatusEvent]:
        """Status events until a terminal one (``GET /executions/{id}/status.stream``)."""
        return ModelStream(
            self,
            f"/executions/{_q(execution_id)}/status.stream",
            parse_status_event,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )

    def stream_transitions(
        self,
        execution_id: str,
        *,
        last_event_id: str | None = None,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> ModelStream[Transition]:
        """Transitions until the final one, resuming after ``last_event_id``.

        Raises :class:`StreamError` when the server sends anything but JSON
        transitions (hosted Julep sends Python reprs), so callers can fall back to
        the status stream and :meth:`list_transitions`.
        """
        return ModelStream(
            self,
            f"/executions/{_q(execution_id)}/transitions.stream",
            parse_transition,
            last_event_id=last_event_id,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )


# ---------------------------------------------------------------------- helpers


def _q(segment: str) -> str:
    if not isinstance(segment, str) or not segment:
        raise InputError(f"An id must be a non-empty string, got {segment!r}.")
    return quote(segment, safe="")


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a dict (a JSON object), got {type(value).__name__}.")
    return dict(value)


def _is_loopback(base_url: str) -> bool:
    host = httpx.URL(base_url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _direction(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise InputError(f"direction must be 'asc' or 'desc', got {direction!r}.")
    return direction
