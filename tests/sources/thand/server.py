"""A Thand-compatible execution API for the tests, on top of a real Temporal server.

Thand's server (Go, ``thand-io/agent``) cannot be built here, so this small Starlette
app answers its execution routes with the shapes Thand's code sends (``shape="code"``)
or the flatter ones its published API reference shows (``shape="reference"``), its
``{code, title, message}`` errors, and its two ways to authenticate, and does the
work with the Temporal SDK as Thand does.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
import zlib
from datetime import timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from julep_nb.sources.temporal.devserver import free_port
from tests.sources.thand.workflows import EVENT_SIGNAL, TASK_QUERY, AccessRequest

TEMPORAL_STATUS = {  # Temporal's names, uppercased without underscores, as Thand sends them
    s: s.name.replace("_", "") for s in WorkflowExecutionStatus
}


def _error(status: int, title: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "title": title, "message": message}, status_code=status)


def create_app(target: str, *, token: str, task_queue: str, shape: str = "code") -> Starlette:
    clients: list[Client] = []

    async def client() -> Client:
        if not clients:
            clients.append(await Client.connect(target))
        return clients[0]

    def authorized(request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        return bearer == f"Bearer {token}" or request.headers.get("x-api-key") == token

    async def details(workflow_id: str) -> dict[str, Any]:
        handle = (await client()).get_workflow_handle(workflow_id)
        description = await handle.describe()
        closed = description.status is not WorkflowExecutionStatus.RUNNING
        info: dict[str, Any] = {"status": "RUNNING", "task": None, "history": []}
        try:
            info = await handle.query(TASK_QUERY, rpc_timeout=timedelta(seconds=2))
        except Exception:  # Thand falls back on describe() when the query times out
            pass
        output = None
        if description.status is WorkflowExecutionStatus.COMPLETED:
            output = await handle.result()
        status = TEMPORAL_STATUS[description.status] if closed else info["status"]
        return {
            "id": workflow_id, "run": description.run_id, "name": description.workflow_type,
            "started_at": description.start_time.isoformat(),
            "finished_at": description.close_time.isoformat() if description.close_time else None,
            "status": status, "task": info.get("task"), "history": info.get("history", []),
            "user": "tester@example.com", "output": output,
        }  # fmt: skip

    def reference(item: dict[str, Any]) -> dict[str, Any]:
        flat = {
            "workflow_id": item["id"], "run_id": item["run"], "status": item["status"].lower(),
            "start_time": item["started_at"], "task_queue": task_queue, "user": item["user"],
            "workflow_type": {"name": item["name"]},
        }  # fmt: skip
        if "history" in item:
            flat["history"] = [
                {"event_type": name, "timestamp": item["started_at"]} for name in item["history"]
            ]
        return flat

    async def guarded(request: Request, action: Any) -> JSONResponse:
        if not authorized(request):
            return _error(401, "Unauthorized", "missing or invalid credentials")
        try:
            return await action()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return _error(404, "Not Found", "workflow not found")
            return _error(500, "Internal Server Error", "Failed to get workflow state")

    async def list_executions(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            items = []
            async for wf in (await client()).list_workflows(f"TaskQueue = '{task_queue}'"):
                items.append(
                    {"id": wf.id, "run": wf.run_id, "name": wf.workflow_type,
                     "started_at": wf.start_time.isoformat(), "user": "tester@example.com",
                     "status": TEMPORAL_STATUS[wf.status] if wf.status else "RUNNING"}
                )  # fmt: skip
            if shape == "reference":
                items = [reference(i) for i in items]
            return JSONResponse({"executions": items})

        return await guarded(request, act)

    async def create_execution(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            body = await request.json()
            if not isinstance(body, dict) or not body.get("workflow"):
                return _error(400, "Bad Request", "workflow is required")
            handle = await (await client()).start_workflow(
                AccessRequest.run, body.get("input") or {},
                id=f"{body['workflow']}-{uuid.uuid4().hex[:8]}", task_queue=task_queue,
            )  # fmt: skip
            run_id = handle.first_execution_run_id
            return JSONResponse({"workflow_id": handle.id, "run_id": run_id, "status": "running"})

        return await guarded(request, act)

    async def get_execution(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            item = await details(request.path_params["id"])
            if shape == "reference":
                return JSONResponse(reference(item))
            return JSONResponse({"execution": item, "workflow": None})

        return await guarded(request, act)

    async def cancel(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            handle = (await client()).get_workflow_handle(request.path_params["id"])
            await handle.cancel()
            return JSONResponse({"status": "ok", "message": "Workflow cancelled"})

        return await guarded(request, act)

    async def terminate(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            handle = (await client()).get_workflow_handle(request.path_params["id"])
            await handle.terminate(reason="terminated from Thand")
            return JSONResponse({"status": "ok", "message": "Workflow terminated"})

        return await guarded(request, act)

    async def signal(request: Request) -> JSONResponse:
        async def act() -> JSONResponse:
            encoded = request.query_params.get("input", "")
            if not encoded:
                return _error(400, "Bad Request", "Input parameter is required")
            try:
                wrapper = json.loads(zlib.decompress(base64.b64decode(encoded)))
            except Exception:
                return _error(400, "Bad Request", "Failed to decode workflow state")
            if wrapper.get("type") != "workflow_signal":
                return _error(400, "Bad Request", "invalid workflow state type")
            workflow_id = request.path_params["id"]
            handle = (await client()).get_workflow_handle(workflow_id)
            await handle.signal(EVENT_SIGNAL, wrapper["data"])
            if shape == "reference":
                return JSONResponse({"message": "Signal sent", "workflow_id": workflow_id})
            return JSONResponse({"execution": await details(workflow_id)})

        return await guarded(request, act)

    routes = [
        Route("/api/v1/executions", list_executions),
        Route("/api/v1/execution", create_execution, methods=["POST"]),
        Route("/api/v1/execution/{id}", get_execution),
        Route("/api/v1/execution/{id}/cancel", cancel),
        Route("/api/v1/execution/{id}/terminate", terminate),
        Route("/api/v1/execution/{id}/signal", signal),
    ]
    return Starlette(routes=routes)


class ThandServer:
    """The app above served by uvicorn on a loopback port, in a thread."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api/v1"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThandServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the Thand test server did not start")
            threading.Event().wait(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
