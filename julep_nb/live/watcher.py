"""The watcher: follows one execution and keeps an :class:`ExecutionState` current.

It is the one stateful, asynchronous part of the live layer. It runs as a task on
the running event loop (the kernel's, in Jupyter), so cells stay free while it works::

    watcher = start_watcher(source, execution_id)        # julep_nb.live.registry
    watcher.subscribe(lambda state: print(state.status))
    final = await watcher.wait()

It knows executions only through :class:`~julep_nb.live.source.ExecutionSource` and
its errors only through :mod:`julep_nb.live.errors`:

1. a snapshot, so that an execution that ended before anyone watched is complete at
   once (subscribers see the snapshot and its timeline together);
2. the source's live stream, reopened from its cursor when it ends early, until the
   execution is terminal; when the source has no usable stream
   (:class:`StreamUnavailable`, or one that keeps closing with nothing to say, or
   an unreachable service), polling, fast while things change, backing off to a cap;
3. on a terminal status, one last snapshot from the cursor, unless the stream
   proved that nothing is missing.

Refused credentials or an unknown execution stop it at once, with :attr:`Watcher.error`
set and re-raised by :meth:`Watcher.wait`. Subscribers get every change (a view paces
itself); equal-looking states are not delivered twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from julep_nb.live.errors import (
    SourceNotFound,
    SourceUnauthorized,
    SourceUnreachable,
    StreamBroken,
    StreamUnavailable,
)
from julep_nb.live.events import Event, HasLiveEvent
from julep_nb.live.source import ExecutionSource, Snapshot
from julep_nb.live.state import ExecutionState, reduce
from julep_nb.live.turns import turns_for

__all__ = ["POLLING", "Subscriber", "Watcher"]

logger = logging.getLogger(__name__)

POLLING = "polling"

POLL_MIN_INTERVAL = 0.1  # seconds between polls while the execution is changing
POLL_MAX_INTERVAL = 2.0  # cap of the back-off while nothing changes
POLL_BACKOFF = 1.5
MAX_POLL_FAILURES = 5  # consecutive failed polls before the watcher gives up
MAX_QUIET_REOPENS = 3  # a stream that keeps closing without news is not usable
SLOW_SUBSCRIBER = 0.1  # seconds; a callback slower than this is logged
SETTLE_TIMEOUT = 2.0  # seconds wait() gives views to show the final state

# Errors after which nothing can be watched: the next strategy would fail the same way.
_FATAL = (SourceUnauthorized, SourceNotFound)

# A subscriber may return an awaitable for a terminal state: done once its view shows it.
Subscriber = Callable[[ExecutionState], "Awaitable[object] | None"]


@dataclass(slots=True)
class _Subscriber:
    callback: Subscriber
    delivered: ExecutionState | None = None
    failures: int = 0
    slow: bool = False  # already warned about


class Watcher:
    """Follows one execution; :attr:`state` is always the newest known state."""

    def __init__(
        self,
        source: ExecutionSource,
        execution_id: str,
        *,
        initial: ExecutionState | None = None,
    ) -> None:
        self.source = source
        self.execution_id = execution_id
        self.state: ExecutionState = initial or ExecutionState(
            execution_id=execution_id, source=source.name
        )
        self.strategy: str | None = None  # the stream's name, or "polling"
        self.done = False
        self.error: BaseException | None = None
        self.replaced_by: Watcher | None = None  # set when the registry replaced this one
        self._cursor: Any = None
        self._complete = False  # the stream proved that no entry is missing
        self._cancelled = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[int, _Subscriber] = {}
        self._ids = itertools.count()
        self._holding = False  # True while catching up: publish snapshot + entries at once
        self._settling: list[asyncio.Future[Any]] = []  # views still to show the end

    def __repr__(self) -> str:
        return (
            f"<Watcher {self.execution_id} status={self.state.status.value} "
            f"strategy={self.strategy} done={self.done}>"
        )

    # ------------------------------------------------------------------ public

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the watcher runs (or ran) on; None before :meth:`start`."""
        return self._loop

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(state)`` on each change.

        The final state is always delivered; a subscriber added after the watcher
        stopped receives it at once, and one also hears when the watcher stops on an
        error. A callback that shows the final state later (a paced view) returns an
        awaitable for it, and :meth:`wait` waits for that too. Returns a function that
        unsubscribes.
        """
        token = next(self._ids)
        subscriber = _Subscriber(callback)
        self._subscribers[token] = subscriber
        if self.done:
            self._deliver(subscriber, self.state)

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    def start(self) -> asyncio.Task[None]:
        """Start following on the running loop (idempotent)."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(
                self._run(), name=f"julep_nb watcher {self.execution_id}"
            )
        return self._task

    async def wait(self) -> ExecutionState:
        """The terminal state; re-raises the error that stopped the watcher.

        Raises :class:`asyncio.CancelledError` when the watcher was cancelled before the
        execution ended; a watcher replaced in the registry waits for its replacement.
        """
        if self._task is None and not self._cancelled:
            self.start()
        task = self._task
        if task is not None and not task.done():
            if self._loop is not asyncio.get_running_loop():
                raise RuntimeError(
                    f"the watcher of execution {self.execution_id} runs on another event "
                    "loop; wait for it there, or start a new watcher on this one"
                )
            # asyncio.wait: cancelling this waiter (a timeout) leaves the watcher running.
            await asyncio.wait({task})
        await self._settle()
        if self.error is not None:
            raise self.error
        if self.state.is_terminal:
            return self.state
        if self.replaced_by is not None:
            return await self.replaced_by.wait()
        raise asyncio.CancelledError(
            f"the watcher of execution {self.execution_id} was cancelled "
            f"while it was {self.state.status.value}"
        )

    async def updates(self) -> AsyncIterator[ExecutionState]:
        """The states subscribers get (the newest when several came), until it stops."""
        changed = asyncio.Event()
        latest: list[ExecutionState] = []

        def on_state(state: ExecutionState) -> None:
            latest[:] = [state]
            changed.set()

        unsubscribe = self.subscribe(on_state)
        if self._task is not None:
            # The last state may have gone out before the watcher stopped; the end of
            # the task is what says nothing more will come.
            self._task.add_done_callback(lambda _task: changed.set())
        try:
            while True:
                if latest:
                    yield latest.pop()
                elif self.done:
                    return
                else:
                    changed.clear()
                    await changed.wait()
        finally:
            unsubscribe()

    def cancel(self) -> None:
        """Stop following (the execution itself is not cancelled)."""
        self._cancelled = True
        if self._task is None:
            self.done = True
        elif not self._task.done():
            self._task.cancel()

    # ------------------------------------------------------------------ the task

    async def _run(self) -> None:
        try:
            await self._catch_up()
            if not self.state.is_terminal:
                await self._follow()
            await self._finish()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the watcher must end, and say why, whatever happened
            self.error = exc
            # Not a warning: it reaches the user through wait(), updates() and the panel,
            # and a warning would print into whichever cell happens to be running.
            logger.info("stopped watching execution %s: %s", self.execution_id, exc)
        finally:
            self.done = True
            self._emit(force=self.error is not None)  # a stop on an error is news too

    async def _catch_up(self) -> None:
        # Subscribers see the snapshot and its entries together: publishing the report
        # alone would show e.g. "awaiting_input" with an empty timeline.
        self._holding = True
        try:
            self._take(await self.source.snapshot(self.execution_id))
        finally:
            self._holding = False
        self._emit()

    async def _follow(self) -> None:
        quiet, last = 0, None  # streams of the same kind in a row that said nothing
        while not self.state.is_terminal:
            try:
                news = await self._stream_once()
            except _FATAL:
                raise
            except (StreamUnavailable, SourceUnreachable) as exc:
                logger.info("execution %s: no live stream (%s); polling", self.execution_id, exc)
                return await self._poll()
            except StreamBroken as exc:
                logger.info("execution %s: stream broke (%s); reopening", self.execution_id, exc)
                news = False
            if news:
                quiet = 0
            else:
                quiet = quiet + 1 if self.strategy == last else 1
            last = self.strategy
            if quiet >= MAX_QUIET_REOPENS:
                logger.info(
                    "execution %s: the %s closed %d times without news; polling",
                    self.execution_id,
                    self.strategy,
                    quiet,
                )
                return await self._poll()

    async def _stream_once(self) -> bool:
        """Read one stream until it ends or the execution is terminal; True if it spoke."""
        stream = self.source.follow(self.execution_id, cursor=self._cursor)
        news = False
        turns = turns_for(asyncio.get_running_loop())
        try:
            self.strategy = stream.name
            async for event in stream:
                await turns.take()  # a crowd of watchers (or a burst) spreads over turns
                news = True
                self.strategy = stream.name  # a source may change how it streams
                self._apply(event)
                self._cursor = stream.cursor
                if self.state.is_terminal:
                    self._complete = stream.complete
                    break
        finally:
            self._cursor = stream.cursor
            await stream.aclose()
        return news

    async def _poll(self) -> None:
        self.strategy = POLLING
        interval = POLL_MIN_INTERVAL
        failures = 0
        while True:
            before = _fingerprint(self.state)
            try:
                self._take(await self.source.poll(self.execution_id, cursor=self._cursor))
                failures = 0
            except SourceUnreachable as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                logger.info("poll %d of execution %s failed: %s", failures, self.execution_id, exc)
            if self.state.is_terminal:
                return
            if failures == 0 and _fingerprint(self.state) != before:
                interval = POLL_MIN_INTERVAL
            else:
                interval = min(interval * POLL_BACKOFF, POLL_MAX_INTERVAL)
            await asyncio.sleep(interval)

    async def _finish(self) -> None:
        """One last snapshot from the cursor, unless the stream proved it complete."""
        if self._complete:
            return
        try:
            self._take(await self.source.snapshot(self.execution_id, cursor=self._cursor))
        except (StreamBroken, SourceUnreachable) as exc:
            # The state is already terminal; a failed refinement is not worth an error.
            logger.info("final snapshot of execution %s failed: %s", self.execution_id, exc)

    # ------------------------------------------------------------------ state + subscribers

    def _take(self, snapshot: Snapshot) -> None:
        self._apply_all(snapshot.events)
        self._cursor = snapshot.cursor

    def _apply(self, event: Event | HasLiveEvent) -> None:
        self._apply_all((event,))

    def _apply_all(self, events: Iterable[Event | HasLiveEvent]) -> None:
        before = self.state
        state = before
        for event in events:
            state = reduce(state, event)
        self.state = state
        if state is not before and _fingerprint(state) != _fingerprint(before):
            self._emit()

    def _emit(self, *, force: bool = False) -> None:
        """Deliver the state to subscribers that have not seen it (``force``: all)."""
        if self._holding:
            return
        state = self.state
        for subscriber in list(self._subscribers.values()):
            if force or subscriber.delivered is not state:
                self._deliver(subscriber, state)

    async def _settle(self) -> None:
        """Give the views a moment to show the final state (see :meth:`subscribe`)."""
        pending = [f for f in self._settling if not f.done()]
        self._settling = pending
        if pending and all(f.get_loop() is asyncio.get_running_loop() for f in pending):
            await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)

    def _deliver(self, subscriber: _Subscriber, state: ExecutionState) -> None:
        subscriber.delivered = state
        started = time.perf_counter()
        try:
            shown = subscriber.callback(state)
            if shown is not None and state.is_terminal:
                self._settling.append(asyncio.ensure_future(shown))
        except Exception:
            # A broken view must not stop the watcher; say so once with the traceback.
            subscriber.failures += 1
            logger.log(
                logging.WARNING if subscriber.failures == 1 else logging.DEBUG,
                "a subscriber of execution %s raised (%d times so far)",
                self.execution_id,
                subscriber.failures,
                exc_info=True,
            )
        elapsed = time.perf_counter() - started
        if elapsed > SLOW_SUBSCRIBER and not subscriber.slow:
            subscriber.slow = True
            logger.warning(
                "a subscriber of execution %s took %.0f ms; it delays every watcher on this loop",
                self.execution_id,
                elapsed * 1000,
            )


def _fingerprint(state: ExecutionState) -> tuple[Any, ...]:
    """What a view shows changing; equal fingerprints are not worth a re-render."""
    latest = state.latest_entry
    return (
        state.status,
        latest.id if latest else None,
        state.entry_count,
        state.reported_error,
        state.updated_at,
        state.running,
    )
