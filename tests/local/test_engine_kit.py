"""Helpers of the engine tests (no tests here): a real Store + Engine, and loopback HTTP.

``Kit`` waits for executions through the store's commit listener (no polling),
always under a timeout.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from julep_nb.local.engine import Engine
from julep_nb.local.model import ChatModel
from julep_nb.local.store import Store
from julep_nb.sources.julep.models import Execution, ExecutionStatus, Transition

S = ExecutionStatus
TERMINAL = (S.SUCCEEDED, S.FAILED, S.CANCELLED)
PAUSED = (S.AWAITING_INPUT, *TERMINAL)


class Kit:
    """A Store, an Engine over it and an agent; closed by ``async with``."""

    def __init__(self, db: str | None = None, *, model: ChatModel | None = None) -> None:
        self.store = Store(db)
        self.engine = Engine(self.store, model=model)
        self.agent_id = self.store.create_agent({"name": "engine-tests"}).id

    async def __aenter__(self) -> Kit:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.aclose()
        self.store.close()

    def task(self, spec: dict[str, Any]) -> str:
        """Validate and store a task (name added); returns its id."""
        body = self.engine.validate_task({"name": "t", **spec})
        return self.store.create_task(self.agent_id, body).id

    async def start(self, spec: dict[str, Any] | str, input: dict[str, Any] | None = None) -> str:
        task_id = spec if isinstance(spec, str) else self.task(spec)
        execution, _ = self.store.create_execution(task_id, input or {})
        self.engine.start(execution.id)
        return execution.id

    async def run(
        self,
        spec: dict[str, Any] | str,
        input: dict[str, Any] | None = None,
        *,
        until: Iterable[S] = PAUSED,
        timeout: float = 5.0,
    ) -> Execution:
        """Start an execution and wait until it pauses or ends."""
        execution_id = await self.start(spec, input)
        return await self.until(execution_id, until, timeout=timeout)

    async def until(
        self, execution_id: str, statuses: Iterable[S] = PAUSED, *, timeout: float = 5.0
    ) -> Execution:
        """Wait (pushed by the store's listener) until the execution reaches a status."""
        wanted = set(statuses)
        changed = asyncio.Event()

        def on_commit(transition: Transition, seq: int) -> None:
            if transition.execution_id == execution_id:
                changed.set()

        remove = self.store.add_listener(on_commit)

        async def watch() -> Execution:
            while True:
                execution = self.store.get_execution(execution_id)
                if execution.status in wanted:
                    return execution
                changed.clear()
                await changed.wait()

        try:
            return await asyncio.wait_for(watch(), timeout)
        finally:
            remove()

    def transitions(self, execution_id: str) -> list[Transition]:
        return self.store.list_transitions(execution_id, limit=1000)

    def kinds(self, execution_id: str) -> list[str]:
        """``"type:workflow[step]"`` of every transition, in order."""
        return [
            f"{t.type.value}:{t.current.workflow}[{t.current.step}]"
            for t in self.transitions(execution_id)
        ]


# ---------------------------------------------------------------------------- loopback HTTP


class Recorder:
    """Requests a loopback server received, and the function that answers them."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, Any]]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.url = ""


@contextmanager
def http_server(answer: Callable[[dict[str, Any]], tuple[int, Any]]) -> Iterator[Recorder]:
    """A real HTTP server on 127.0.0.1:<free port>; ``answer(request) -> (status, json)``."""
    recorder = Recorder(answer)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(raw) if raw else None,
            }
            recorder.requests.append(request)
            status, body = recorder.answer(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
