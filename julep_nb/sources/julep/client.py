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

import asyncio
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from julep_nb._version import __version__
from julep_nb.live.sync import running_loop
from julep_nb.sources.julep._http import (
    MAX_RETRY_AFTER,
    body_json,
    first_error,
    http_error,
    parse_model,
    retry_after,
)
from julep_nb.sources.julep.config import (
    NOT_GIVEN,
    Settings,
    _NotGiven,
    mask_key,
    redact,
    resolve_settings,
)
from julep_nb.sources.julep.errors import APIError, ConfigError, InputError, TransportError
from julep_nb.sources.julep.models import Agent, Execution, ExecutionStatusEvent, Task, Transition
from julep_nb.sources.julep.paging import check_limit, paginate
from julep_nb.sources.julep.requests import (
    CreateAgentRequest,
    ResumeExecutionRequest,
    StopExecutionRequest,
    TaskTokenResumeRequest,
)
from julep_nb.sources.julep.sse import DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT
from julep_nb.sources.julep.streams import ModelStream, parse_status_event, parse_transition
from julep_nb.sources.julep.taskspec import encode_json, parse_task

__all__ = ["Client", "ModelStream"]

MAX_BACKOFF: Final = 8.0

Retry = Literal["auto", "idempotent", "once"]
M = TypeVar("M", bound=pydantic.BaseModel)


class Client:
    """Async client for Julep executions (hosted Julep, self-hosted, or the local server)."""

    def __init__(
        self,
        base_url: str | None | _NotGiven = NOT_GIVEN,
        api_key: str | None = None,
        environment: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        settings: Settings | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be at least 1 (requests in flight), not {max_concurrency!r}"
            )
        self.settings = settings or resolve_settings(
            base_url=base_url, api_key=api_key, environment=environment
        )
        self.max_retries = max_retries
        self.backoff = backoff
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._transport = transport
        # httpx connections belong to the loop that opened them, so each event loop
        # gets its own pool: a script's successive asyncio.run() calls, or a
        # private loop in a thread beside the kernel's, never share sockets.
        self._pools: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        # Requests (not streams) in flight per loop: past a few dozen queued at once,
        # httpcore's pool spends more CPU rescanning its queue than sending.
        self.max_concurrency = max_concurrency
        self._gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._task_update_method = "PUT"

    @property
    def base_url(self) -> str | None:
        """The server's base URL (``None`` until the embedded server has started)."""
        return self.settings.base_url

    def __repr__(self) -> str:
        where = self.settings.base_url or "(embedded local server)"
        return f"Client(base_url={where!r}, api_key={mask_key(self.settings.api_key)!r})"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the shared local server keeps running)."""
        loop = running_loop()
        http = self._pools.pop(loop, None) if loop is not None else None
        self._pools.clear()  # pools of other loops cannot be closed from this one
        if http is not None:
            await http.aclose()

    async def ensure_base_url(self) -> str:
        """The base URL; a client with none configured refuses to guess."""
        if self.settings.base_url is None:
            raise ConfigError(
                "No Julep server is configured: set JULEP_BASE_URL (and JULEP_API_KEY), "
                "or pass base_url=... . julep_nb.Client() starts the embedded local "
                "server when nothing is configured."
            )
        return self.settings.base_url

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

    # ------------------------------------------------------------ plumbing

    async def http_ready(self) -> httpx.AsyncClient:
        """:meth:`http` once the base URL is known (the local server started)."""
        await self.ensure_base_url()
        return self.http()

    def http(self) -> httpx.AsyncClient:
        """The httpx client for the running event loop (created on first use)."""
        loop = asyncio.get_running_loop()
        http = self._pools.get(loop)
        if http is None:
            for dead in [old for old in self._pools if old.is_closed()]:
                del self._pools[dead]  # its sockets died with their loop
                self._gates.pop(dead, None)
            headers = {"Accept": "application/json", "User-Agent": f"julep_nb/{__version__}"}
            if self.settings.api_key:
                headers["Authorization"] = f"Bearer {self.settings.api_key}"
            self._gates[loop] = asyncio.Semaphore(self.max_concurrency)
            http = self._pools[loop] = httpx.AsyncClient(
                base_url=self.settings.base_url or "",
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                # Each live watcher holds one streaming connection, so the pool must not
                # cap them at httpx's default of 100; keep few idle ones, since httpcore
                # scans every pooled connection on each request.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
            )
        return http

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: Retry = "auto",
    ) -> Any:
        """Send a request (with retries) and return its JSON body (``None`` if empty)."""
        http = await self.http_ready()
        gate = self._gates[asyncio.get_running_loop()]  # made with the loop's pool
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        policy = retry if retry != "auto" else ("once" if method == "POST" else "idempotent")
        attempt = 0
        while True:
            try:
                async with gate:  # held for the exchange only, not for a retry's wait
                    response = await http.request(
                        method, path, json=json, content=content, params=params, headers=headers
                    )
            except httpx.TransportError as exc:
                if attempt < self.max_retries and _may_resend(exc, policy):
                    attempt += 1
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                raise self._unreachable(exc, method, path, policy) from exc
            if response.is_success:
                return body_json(response, self.settings.api_key)
            wait = retry_after(response.headers)
            if (
                attempt < self.max_retries
                and policy != "once"
                and (response.status_code in (408, 429) or response.status_code >= 500)
                and (wait is None or wait <= MAX_RETRY_AFTER)
            ):
                attempt += 1
                await asyncio.sleep(self._delay(attempt, wait))
                continue
            raise http_error(response, response.content, self.settings.api_key)

    async def _list(
        self, model: type[M], path: str, limit: int | None, params: dict[str, Any]
    ) -> list[M]:
        check_limit(limit)

        async def fetch(size: int, offset: int) -> Sequence[M]:
            data = await self._json("GET", path, params={**params, "limit": size, "offset": offset})
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise self._unexpected(path, "a list response without 'items'", data)
            return [parse_model(model, item, model.__name__) for item in items]

        return [item async for item in paginate(fetch, limit=limit)]

    def _delay(self, attempt: int, floor: float | None) -> float:
        ceiling = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), floor or 0.0)

    def _unreachable(
        self, exc: httpx.TransportError, method: str, path: str, policy: str
    ) -> TransportError:
        key = self.settings.api_key
        url = redact(f"{self.settings.base_url}{path}", key)
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        maybe = " The request may have been applied." if sent and policy == "once" else ""
        return TransportError(
            f"Could not reach the Julep server at {redact(str(self.settings.base_url), key)} "
            f"({method} {url} failed with {redact(what, key)}).{maybe} "
            "Is the server running? Set JULEP_BASE_URL (or pass base_url=...) to point at it."
        )

    def _unexpected(self, path: str, what: str, data: Any) -> APIError:
        url = redact(f"{self.settings.base_url}{path}", self.settings.api_key)
        snippet = redact(json.dumps(data, default=str)[:200], self.settings.api_key)
        return APIError(f"Unexpected response: {what}: {snippet}", status=200, url=url, body=data)


# ---------------------------------------------------------------------- helpers


def _q(segment: str) -> str:
    if not isinstance(segment, str) or not segment:
        raise InputError(f"An id must be a non-empty string, got {segment!r}.")
    return quote(segment, safe="")


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a dict (a JSON object), got {type(value).__name__}.")
    return dict(value)


def _direction(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise InputError(f"direction must be 'asc' or 'desc', got {direction!r}.")
    return direction


def _may_resend(exc: httpx.TransportError, policy: str) -> bool:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True  # nothing reached the server: safe even for a POST
    transient = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    return policy != "once" and isinstance(exc, transient)
