"""ExecutionHandle: one execution, live, from Python.

Usage::

    handle = await julep_nb.run(task_id, {"topic": "otters"})   # starts watching
    handle.status                      # updates while the cell is idle
    state = await handle               # the final ExecutionState
    handle.output                      # the result, as a Python value

    handle = julep_nb.watch(execution_id)   # attach to one that already runs
    handle.wait(timeout=60)                 # synchronous code (scripts, --wait)

The handle owns no I/O of its own: a :class:`~julep_nb.live.watcher.Watcher` on the
running loop keeps :attr:`ExecutionHandle.state` current.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from julep_nb.sources.julep.errors import ConflictError, InputError
from julep_nb.sources.julep.models import Execution, ExecutionStatus, Transition
from julep_nb.live.registry import start_watcher
from julep_nb.live.source import ExecutionSource
from julep_nb.live.state import ExecutionState, reduce
from julep_nb.live.watcher import Subscriber, Watcher

if TYPE_CHECKING:
    from julep_nb.sources.julep.client import Client

__all__ = ["ExecutionHandle", "default_client", "run", "watch"]

T = TypeVar("T")


class ExecutionStarter(ExecutionSource, Protocol):
    """An :class:`ExecutionSource` that can also start executions (what :func:`run` needs)."""

    async def create_execution(
        self,
        task_id: str,
        input: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Execution:
        """Start an execution of ``task_id``."""
        ...


class ExecutionHandle:
    """A live execution: its state, its result, and cancel / resume."""

    def __init__(
        self,
        execution_id: str,
        *,
        client: ExecutionSource,
        key: str | None = None,
        max_rate: float = 10.0,
        initial: ExecutionState | None = None,
    ) -> None:
        self.id = execution_id
        self.client = client
        self._key = key
        self._max_rate = max_rate
        self._state = initial or ExecutionState(execution_id=execution_id)
        self._watcher: Watcher | None = None
        self._callbacks: dict[int, Subscriber] = {}
        self._unsubscribers: dict[int, Callable[[], None]] = {}
        self._next_token = 0

    # ------------------------------------------------------------------ state

    @property
    def watcher(self) -> Watcher | None:
        """The watcher following this execution (None until one was started)."""
        watcher = self._watcher
        while watcher is not None and watcher.replaced_by is not None:
            watcher = watcher.replaced_by
        return watcher

    @property
    def state(self) -> ExecutionState:
        """The newest known state (not rate-limited)."""
        watcher = self.watcher
        return watcher.state if watcher is not None else self._state

    @property
    def task_id(self) -> str | None:
        return self.state.task_id

    @property
    def status(self) -> ExecutionStatus:
        return self.state.status

    @property
    def output(self) -> Any:
        """The latest output: the result once succeeded, the question while waiting."""
        return self.state.output

    @property
    def error(self) -> str | None:
        return self.state.error

    @property
    def transitions(self) -> Sequence[Transition]:
        return self.state.transitions

    def __repr__(self) -> str:
        state = self.state
        return (
            f"<ExecutionHandle id={self.id!r} task={state.task_id!r} "
            f"status={state.status.value!r} transitions={state.transition_count}>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """``text/plain`` and a static, escaped ``text/html`` card of the current state."""
        try:
            from julep_nb.display.html import render_execution
        except ImportError:  # the display layer is optional for the live layer
            rich = f"<pre>{html.escape(repr(self))}</pre>"
        else:
            rich = render_execution(self.state)
        bundle = {"text/plain": repr(self), "text/html": rich}
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    # ------------------------------------------------------------------ watching

    def _ensure_watcher(self) -> Watcher:
        """The watcher on the running loop, starting (or restarting) one when needed.

        A watcher that stopped short of a terminal status (a failure, a cancel, a
        previous ``wait()``'s private loop that is gone) is replaced, so each new
        ``await`` tries again from the newest state.
        """
        loop = asyncio.get_running_loop()
        current = self.watcher
        if current is not None:
            usable = current.state.is_terminal or (current.loop is loop and not current.done)
            if usable:
                return current
            self._state = current.state
        watcher = start_watcher(
            self.client, self.id, key=self._key, max_rate=self._max_rate, initial=self._state
        )
        self._watcher = watcher
        for token, callback in self._callbacks.items():
            self._unsubscribers[token] = watcher.subscribe(callback)
        return watcher

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(state)`` on changes (coalesced); returns an unsubscribe function.

        The subscription follows the handle across watcher restarts.
        """
        token = self._next_token
        self._next_token += 1
        self._callbacks[token] = callback
        watcher = self.watcher
        if watcher is not None:
            self._unsubscribers[token] = watcher.subscribe(callback)

        def unsubscribe() -> None:
            self._callbacks.pop(token, None)
            stop = self._unsubscribers.pop(token, None)
            if stop is not None:
                stop()

        return unsubscribe

    async def updates(self) -> AsyncIterator[ExecutionState]:
        """The current state, then each (coalesced) change until the execution ends."""
        watcher: Watcher | None = self._ensure_watcher()
        last = self.state
        yield last
        while watcher is not None:
            async for state in watcher.updates():
                if state is not last:
                    last = state
                    yield state
            if watcher.error is not None:
                raise watcher.error
            watcher = None if last.is_terminal else watcher.replaced_by

    async def _wait(self, timeout: float | None) -> ExecutionState:
        watcher = self._ensure_watcher()
        if timeout is None:
            return await watcher.wait()
        try:
            return await asyncio.wait_for(watcher.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"Execution {self.id} is still {self.status.value} after {timeout} s. "
                "Wait again, or stop it with handle.cancel()."
            ) from None

    def __await__(self) -> Generator[Any, None, ExecutionState]:
        """``await handle``: the final state (re-raises what stopped the watcher)."""
        return self._wait(None).__await__()

    def wait(self, timeout: float | None = None) -> ExecutionState:
        """Block until the execution ends; for synchronous code.

        With no event loop running this runs a private one (like ``asyncio.run``).
        Inside a running loop (a Jupyter cell) it re-enters that loop with
        ``nest_asyncio2``, so the watcher keeps running; ``await handle`` is better there.
        """
        return _run_sync(self._wait(timeout))

    # ------------------------------------------------------------------ steering

    async def cancel(self, reason: str | None = None) -> None:
        """Ask the server to cancel the execution; the watcher shows the result."""
        await self.client.cancel(self.id, reason)

    async def resume(self, input: dict[str, Any]) -> None:
        """Answer an ``awaiting_input`` execution (ConflictError when it is not waiting)."""
        if not isinstance(input, Mapping):
            raise InputError(
                f"Resume input must be a dict (a JSON object), got {type(input).__name__}."
            )
        status = self.state.status
        if status is not ExecutionStatus.AWAITING_INPUT:
            # Our view may be behind the server (no watcher yet): ask before refusing.
            status = reduce(self.state, await self.client.get_execution(self.id)).status
        if status is not ExecutionStatus.AWAITING_INPUT:
            raise ConflictError(
                f"Execution {self.id} is {status.value}, not awaiting_input: there is nothing "
                "to resume. Resume it once handle.status is 'awaiting_input'.",
                status=409,
                code="not_awaiting_input",
            )
        await self.client.resume(self.id, dict(input))


# ---------------------------------------------------------------------- sync bridge


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        # A private loop, closed afterwards; the watcher and the client's connection
        # pool belong to it and are rebuilt on the next wait().
        return asyncio.run(coro)
    import nest_asyncio2  # only now: it patches asyncio for the whole process

    nest_asyncio2.apply(loop)
    return loop.run_until_complete(coro)


# ---------------------------------------------------------------------- entry points

_default_lock = threading.Lock()
_default: Client | None = None


def default_client() -> Client:
    """The process-wide :class:`~julep_nb.sources.julep.client.Client` built from the environment.

    With nothing configured it talks to the embedded local server.
    """
    global _default
    with _default_lock:
        if _default is None:
            from julep_nb.sources.julep.client import Client

            _default = Client()
        return _default


async def run(
    task_id: str,
    input: dict[str, Any] | None = None,
    *,
    client: ExecutionStarter | None = None,
    metadata: dict[str, Any] | None = None,
    key: str | None = None,
    max_rate: float = 10.0,
) -> ExecutionHandle:
    """Start an execution of ``task_id`` and watch it; ``await`` the handle for the result."""
    source: ExecutionStarter = client if client is not None else default_client()
    execution = await source.create_execution(task_id, input or {}, metadata=metadata)
    handle = ExecutionHandle(
        execution.id, client=source, key=key, max_rate=max_rate, initial=reduce(None, execution)
    )
    handle._ensure_watcher()
    return handle


def watch(
    execution_id: str,
    *,
    client: ExecutionSource | None = None,
    key: str | None = None,
    max_rate: float = 10.0,
) -> ExecutionHandle:
    """A handle on an existing execution; watching starts now if a loop runs, else on wait."""
    source: ExecutionSource = client if client is not None else default_client()
    handle = ExecutionHandle(execution_id, client=source, key=key, max_rate=max_rate)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return handle
    handle._ensure_watcher()
    return handle
