"""ExecutionHandle: one execution, live, from Python, whatever service runs it.

Usage::

    handle = await julep_nb.run(task_id, {"topic": "otters"})   # starts watching
    handle.status                      # updates while the cell is idle
    state = await handle               # the final ExecutionState
    handle.output                      # the result, as a Python value
    await handle.cancel(reason="enough")   # or terminate / signal / query / resume,
    handle.capabilities                    # where the source offers them

    handle.wait(timeout=60)                # synchronous code (scripts, --wait)

The handle owns no I/O of its own: a :class:`~julep_nb.live.watcher.Watcher` on the
running loop keeps :attr:`ExecutionHandle.state` current, and the actions go to the
handle's :class:`~julep_nb.live.source.ExecutionSource`.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from typing import Any

from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.registry import start_watcher
from julep_nb.live.source import ExecutionSource, unsupported
from julep_nb.live.state import ExecutionState, TimelineRow
from julep_nb.live.sync import run_sync, running_loop
from julep_nb.live.watcher import Subscriber, Watcher

__all__ = ["ExecutionHandle", "set_html_renderer"]

HtmlRenderer = Callable[[ExecutionState], str]
_html_renderer: HtmlRenderer | None = None


def set_html_renderer(renderer: HtmlRenderer | None) -> None:
    """How handles render as HTML (the package installs the display layer's card)."""
    global _html_renderer
    _html_renderer = renderer


class ExecutionHandle:
    """A live execution: its state, its result, and the actions its source offers."""

    def __init__(
        self,
        execution_id: str,
        *,
        source: ExecutionSource,
        key: str | None = None,
        initial: ExecutionState | None = None,
    ) -> None:
        self.id = execution_id
        self.source = source
        self._key = key
        self._state = initial or ExecutionState(execution_id=execution_id, source=source.name)
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
        """The newest known state."""
        watcher = self.watcher
        return watcher.state if watcher is not None else self._state

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The actions this execution's source offers."""
        return frozenset(self.source.capabilities)

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
    def timeline(self) -> list[TimelineRow]:
        """Every timeline row so far, with durations."""
        return self.state.timeline()

    @property
    def transitions(self) -> Sequence[Any]:
        """The source's own records of the timeline (Julep ``Transition``s)."""
        return self.state.transitions

    @property
    def watching(self) -> bool:
        """A watcher is following the execution now."""
        watcher = self.watcher
        return watcher is not None and not watcher.done

    @property
    def watch_error(self) -> BaseException | None:
        """What stopped the watcher before the end (refused key, unknown id…), if anything."""
        watcher = self.watcher
        return watcher.error if watcher is not None else None

    def __repr__(self) -> str:
        state = self.state
        return (
            f"<ExecutionHandle id={self.id!r} source={self.source.name!r} "
            f"task={state.task_id!r} status={state.status.value!r} "
            f"entries={state.entry_count}>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """``text/plain`` and a static, escaped ``text/html`` card of the current state."""
        renderer = _html_renderer
        rich = renderer(self.state) if renderer else f"<pre>{html.escape(repr(self))}</pre>"
        bundle = {"text/plain": repr(self), "text/html": rich}
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    # ------------------------------------------------------------------ watching

    def start(self) -> Watcher:
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
        watcher = start_watcher(self.source, self.id, key=self._key, initial=self._state)
        self._watcher = watcher
        for token, callback in self._callbacks.items():
            self._unsubscribers[token] = watcher.subscribe(callback)
        return watcher

    def start_if_running(self) -> ExecutionHandle:
        """Start watching when an event loop runs (a notebook cell), else on the first wait."""
        if running_loop() is not None:
            self.start()
        return self

    def stop(self) -> None:
        """Stop watching (the execution itself goes on)."""
        watcher = self.watcher
        if watcher is not None:
            watcher.cancel()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(state)`` on each change; returns an unsubscribe function.

        The subscription follows the handle across watcher restarts; a callback also
        hears when the watcher stops on an error (see :attr:`watch_error`).
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
        """The current state, then each change until the execution ends."""
        watcher: Watcher | None = self.start()
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
        watcher = self.start()
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
        """Block until the execution ends; for synchronous code (see ``live/sync.py``).

        Inside a running loop (a Jupyter cell) this re-enters that loop, so the watcher
        keeps running; ``await handle`` is better there.
        """
        return run_sync(self._wait(timeout))

    # ------------------------------------------------------------------ actions

    def _require(self, capability: Capability) -> None:
        if capability not in self.source.capabilities:
            raise unsupported(self.source, capability, execution_id=self.id)

    async def cancel(self, *, reason: str | None = None) -> None:
        """Ask the service to stop the execution (it may clean up first)."""
        self._require(Capability.CANCEL)
        await self.source.cancel(self.id, reason=reason)

    async def terminate(self, *, reason: str | None = None) -> None:
        """Stop the execution at once, recording ``reason``."""
        self._require(Capability.TERMINATE)
        await self.source.terminate(self.id, reason=reason)

    async def signal(self, name: str, payload: Any = None) -> None:
        """Send the execution the signal ``name`` with ``payload``."""
        self._require(Capability.SIGNAL)
        await self.source.signal(self.id, name, payload)

    async def query(self, name: str, *args: Any) -> Any:
        """Ask the execution the query ``name``; its answer."""
        self._require(Capability.QUERY)
        return await self.source.query(self.id, name, *args)

    async def resume(self, input: Mapping[str, Any]) -> None:
        """Answer an execution that awaits input (refused, nothing sent, otherwise)."""
        self._require(Capability.RESUME)
        if not isinstance(input, Mapping):
            raise TypeError(
                f"Resume input must be a dict (a JSON object), got {type(input).__name__}."
            )
        await self.source.resume(self.id, dict(input))
