"""Thand's execution-management API (``thand-io/agent``, server mode) as a live source.

Usage::

    source = ThandSource("http://127.0.0.1:8080/api/v1", token="…")   # bearer
    source = ThandSource(url, token="…", auth="api-key")             # X-API-Key
    await source.list()
    handle = await source.start("request-access", {"role": "admin"})
    await handle.signal("approve", {"approved": True}); await handle.cancel()

Routes (JSON unless ``Accept`` asks for HTML): ``GET /executions``, ``POST /execution``
``{workflow, input}``, ``GET /execution/{id}``, ``GET /execution/{id}/cancel`` and
``/terminate``, ``GET /execution/{id}/signal?input=<encoded signal>``. Thand's code and
its published API reference show different shapes (``executions`` items with ``id``,
``run``, ``started_at``, ``history`` of task names vs flat ``workflow_id``, ``run_id``,
``start_time``, ``history`` of ``{event_type, timestamp}``); both are read. Errors
``{code, title, message}`` map onto the :class:`~julep_nb.live.errors.SourceError`
tree. Thand does not stream: :meth:`ThandSource.follow` raises
:class:`~julep_nb.live.errors.StreamUnavailable` and the watcher polls, fast while
things change and slower while they do not. The token is never shown.
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import httpx

from julep_nb.live.errors import (
    ActionRefused,
    SourceError,
    SourceNotFound,
    SourceUnauthorized,
    SourceUnreachable,
    StreamUnavailable,
)
from julep_nb.live.events import Capability, Event, ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import EventStream, Snapshot, SourceBase
from julep_nb.sources.summaries import ExecutionSummaries, ExecutionSummary

__all__ = ["ThandSource", "encode_signal", "thand_status"]

S = ExecutionStatus
SOURCE: Final = "Thand"
TIMEOUT: Final = 30.0
SIGNAL_TYPE: Final = "workflow_signal"  # the encoded wrapper's type for a signal

# Serverless-Workflow phases (running) and Temporal statuses without underscores (closed).
_STATUSES: dict[str, ExecutionStatus] = {
    "PENDING": S.QUEUED,
    "RUNNING": S.RUNNING,
    "WAITING": S.AWAITING_INPUT,
    "SUSPENDED": S.AWAITING_INPUT,
    "CANCELLED": S.CANCELLED,
    "CANCELED": S.CANCELLED,
    "FAULTED": S.FAILED,
    "FAILED": S.FAILED,
    "COMPLETED": S.SUCCEEDED,
    "TERMINATED": S.TERMINATED,
    "CONTINUEDASNEW": S.CONTINUED_AS_NEW,
    "TIMEDOUT": S.TIMED_OUT,
}


def thand_status(value: Any) -> ExecutionStatus:
    """A Thand status in either form (``"WAITING"``, ``"running"``, ``"TIMED_OUT"``)."""
    key = str(value or "").upper().replace("_", "").replace(" ", "")
    key = key.removeprefix("WORKFLOWEXECUTIONSTATUS")
    return _STATUSES.get(key, S.RUNNING)


def encode_signal(name: str, payload: Any = None) -> str:
    """A signal as Thand decodes it: a CloudEvent in ``{type, data}``, zlib, base64.

    For a Thand server that encrypts its signals, pass the encoded string Thand gave
    you as the payload of :meth:`ThandSource.signal` instead.
    """
    event = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "julep_nb", "type": name,
        "datacontenttype": "application/json", "data": payload,
    }  # fmt: skip
    wrapper = json.dumps({"type": SIGNAL_TYPE, "data": event}, separators=(",", ":"))
    return base64.b64encode(zlib.compress(wrapper.encode())).decode("ascii")


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _execution(body: Any) -> dict[str, Any]:
    """The execution object of a details answer, whichever shape it has."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("execution") or body.get("workflow")
    if isinstance(inner, dict) and _first(inner, "id", "workflow_id", "status"):
        return inner
    return body


class ThandSource(SourceBase):
    """Thand executions over its REST API: cancel, terminate, signal; polled."""

    name = SOURCE
    filterable = False  # Thand's list takes no query
    capabilities = frozenset({Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL})

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        auth: Literal["bearer", "api-key"] = "bearer",
        timeout: float = TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization" if auth == "bearer" else "X-API-Key"] = (
                f"Bearer {token}" if auth == "bearer" else token
            )
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:  # never the token
        return f"ThandSource({self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ThandSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ HTTP

    async def _get(self, path: str, what: str, **params: Any) -> Any:
        return await self._request("GET", path, what, params=params or None)

    async def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SourceUnreachable(
                f"Thand at {self.base_url} is not reachable ({type(exc).__name__}) while "
                f"trying to {what}: check the URL and that the server runs."
            ) from exc
        if response.status_code >= 400:
            raise _error(response, what)
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(
                f"Thand answered {what} with something that is not JSON "
                f"({response.headers.get('content-type', 'no content type')})."
            ) from exc

    # ------------------------------------------------------------------ listing, starting

    async def list(self, query: str | None = None, *, limit: int = 100) -> ExecutionSummaries:
        """The executions Thand lists for these credentials (Thand takes no filter)."""
        if query is not None:
            raise ActionRefused(
                f"{self.name} cannot filter its list of executions (got the query {query!r}): "
                "list them all, without a query."
            )
        body = await self._get("/executions", "list executions")
        found = body.get("executions") or body.get("workflows") if isinstance(body, dict) else body
        items = found if isinstance(found, list) else []
        return ExecutionSummaries([_summary(i) for i in items[:limit]], source=SOURCE)

    async def start(
        self, workflow: str, input: Mapping[str, Any] | None = None, *, key: str | None = None
    ) -> ExecutionHandle:
        """``POST /execution``; returns a watching handle."""
        body = await self._request(
            "POST", "/execution", f"start workflow {workflow!r}",
            json={"workflow": workflow, "input": dict(input or {})},
        )  # fmt: skip
        execution_id = _first(body, "workflow_id", "id") if isinstance(body, dict) else None
        if not execution_id:
            raise SourceError(f"Thand started workflow {workflow!r} but sent no workflow_id.")
        handle = ExecutionHandle(str(execution_id), source=self, key=key)
        handle.start()
        return handle

    # ------------------------------------------------------------------ reading

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        body = await self._get(f"/execution/{execution_id}", f"read execution {execution_id!r}")
        events = _events(execution_id, _execution(body))
        return Snapshot(tuple(events), cursor=len(events))

    poll = snapshot

    def follow(self, execution_id: str, *, cursor: Any = None) -> EventStream:
        raise StreamUnavailable("Thand has no live stream: polling")

    # ------------------------------------------------------------------ actions

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        await self._get(f"/execution/{execution_id}/cancel", f"cancel {execution_id!r}")

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None:
        await self._get(f"/execution/{execution_id}/terminate", f"terminate {execution_id!r}")

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        """Send ``name`` with ``payload`` (a string payload is sent as Thand encoded it)."""
        encoded = payload if isinstance(payload, str) else encode_signal(name, payload)
        await self._get(
            f"/execution/{execution_id}/signal", f"signal {name!r} to {execution_id!r}",
            input=encoded,
        )  # fmt: skip


def _error(response: httpx.Response, what: str) -> SourceError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = ""
    if isinstance(body, dict):
        detail = str(_first(body, "message", "title", "error") or "")
    code = response.status_code
    message = f"Thand refused to {what} (HTTP {code}{': ' + detail if detail else ''})"
    if code in (401, 403):
        hint = "check the token" if code == 401 else "only the owner of an execution can act on it"
        return SourceUnauthorized(f"{message}: {hint}.")
    if code == 404:
        return SourceNotFound(f"{message}: check the execution id.")
    if code in (409, 412, 422):
        return ActionRefused(f"{message}.")
    if code in (502, 503, 504, 429):
        return SourceUnreachable(f"{message}: retry later.")
    return SourceError(f"{message}.")


def _summary(item: Mapping[str, Any]) -> ExecutionSummary:
    kind = item.get("workflow_type")
    name = kind.get("name") if isinstance(kind, dict) else _first(item, "name", "workflow")
    return ExecutionSummary(
        id=str(_first(item, "id", "workflow_id") or ""), status=thand_status(item.get("status")),
        name=name, started_at=_time(_first(item, "started_at", "start_time")),
        closed_at=_time(_first(item, "finished_at", "close_time")),
        run_id=_first(item, "run", "run_id"),
        detail=_first(item, "user", "task_queue", "role"),
    )  # fmt: skip


def _events(execution_id: str, data: Mapping[str, Any]) -> list[Event]:
    status = thand_status(data.get("status"))
    started = _time(_first(data, "started_at", "start_time"))
    error = _first(data, "error", "reason") if status in (S.FAILED, S.TERMINATED) else None
    report = StatusReport(
        execution_id=execution_id, status=status, source=SOURCE,
        name=_first(data, "name", "workflow"), input=data.get("input"),
        output=data.get("output"), has_output="output" in data, created_at=started,
        error=str(error) if error else None,
        metadata={k: data[k] for k in ("run", "run_id", "user", "role", "task") if data.get(k)},
    )  # fmt: skip
    events: list[Event] = [report]
    history = data.get("history") or []
    for index, item in enumerate(history):
        events.append(_history_entry(execution_id, index, item, started))
    return events


def _history_entry(
    execution_id: str, index: int, item: Any, started: datetime | None
) -> TimelineEntry:
    # The code's history is task names; the reference's, {event_type, timestamp}.
    if isinstance(item, Mapping):
        label = str(_first(item, "event_type", "name", "task") or "event")
        at = _time(item.get("timestamp")) or started
    else:
        label, at = str(item), started
    return TimelineEntry(
        id=f"{execution_id}/{index:06d}", kind="task", label=label,
        at=at or datetime.fromtimestamp(0).astimezone(), status=S.SUCCEEDED,
    )  # fmt: skip
