"""A real IPython shell with the extension loaded, pointed at a real local server."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from julep_nb.magics.loop import run_sync
from tests.faults import FaultServer, Request, Responder

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer
    from julep_nb.magics.magics import JulepMagics

TASK_HELLO = """\
name: hello
main:
  - evaluate:
      greeting: $ "Hello, " + steps[0].input["name"]
"""

TASK_WAITER = """\
name: waiter
main:
  - wait_for_input:
      info:
        question: What is the answer?
"""

TASK_SLOW = """\
name: slow
main:
  - sleep:
      seconds: 30
"""


DOCS = Path(__file__).resolve().parents[2] / "docs" / "magics.md"


def docs_block(starting: str) -> str:
    """The fenced code block of docs/magics.md whose text starts with ``starting``."""
    for body in re.findall(r"```[a-z]*\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S):
        if body.startswith(starting):
            return str(body)
    raise AssertionError(f"no block starting with {starting!r} in {DOCS}")


class Shell:
    """A fresh ``InteractiveShell`` whose cells re-raise and whose displays are recorded."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip
        self.displays: list[dict[str, Any]] = []

    @property
    def magics(self) -> JulepMagics:
        magics: JulepMagics = self.ip._julep_magics  # type: ignore[attr-defined]
        return magics

    @property
    def ns(self) -> dict[str, Any]:
        namespace: dict[str, Any] = self.ip.user_ns
        return namespace

    def run(self, source: str, *, cell_id: str | None = None) -> Any:
        """Run a cell; re-raise what it raised; return its value."""
        result = self.ip.run_cell(source, store_history=True, cell_id=cell_id)
        result.raise_error()
        return result.result

    def fails(self, source: str) -> str:
        """Run a cell that must fail with a UsageError; return the message."""
        with pytest.raises(UsageError) as info:
            self.run(source)
        return str(info.value)

    def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the kernel loop until ``predicate()`` (watchers advance meanwhile)."""

        async def poll() -> None:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await asyncio.sleep(0.02)

        run_sync(poll())

    def published(self) -> list[dict[str, Any]]:
        """Every bundle displayed so far (display_pub), newest last."""
        pub = self.ip.display_pub
        assert isinstance(pub, CapturingDisplayPublisher)
        return [output["data"] for output in pub.outputs]


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    """A fresh shell with ``%load_ext julep_nb``; no Julep settings from the environment."""
    monkeypatch.delenv("JULEP_API_KEY", raising=False)
    monkeypatch.delenv("JULEP_BASE_URL", raising=False)
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=config)
    ip.display_pub = CapturingDisplayPublisher()
    shell = Shell(ip)
    shell.run("%load_ext julep_nb")
    try:
        yield shell
    finally:
        with contextlib.suppress(Exception):
            shell.run("%unload_ext julep_nb")
        ip.history_manager.end_session()
        InteractiveShell.clear_instance()


@pytest.fixture
def julep(shell: Shell, local_server: LocalServer) -> Shell:
    """``shell`` pointed at a fresh local server, with the panel off (tests check values)."""
    shell.run(f"%config JulepMagics.base_url = {local_server.base_url!r}")
    shell.run("%config JulepMagics.panel = 'none'")
    return shell


# ---------------------------------------------------------------------- counting proxy


def _forward(base_url: str) -> Callable[[Request, Responder], Any]:
    """A handler that relays each (non-streaming) request to ``base_url``."""

    async def handler(request: Request, reply: Responder) -> None:
        keep = ("content-type", "authorization", "idempotency-key", "accept")
        headers = {k: v for k, v in request.headers.items() if k in keep}
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            answer = await client.request(
                request.method,
                request.path,
                params=request.query,
                content=request.body,
                headers=headers,
            )
        content_type = answer.headers.get("content-type", "application/json")
        await reply.send_raw(answer.status_code, answer.content, {"Content-Type": content_type})

    return handler


@contextlib.contextmanager
def counting_proxy(base_url: str) -> Iterator[FaultServer]:
    """A loopback proxy in front of ``base_url`` that records every request it relays."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FaultServer(_forward(base_url))
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
