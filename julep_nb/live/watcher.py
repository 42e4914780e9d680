"""The watcher: follows one execution and keeps an :class:`ExecutionState` current.

It is the one stateful, asynchronous part of the live layer. It runs as a task on
the running event loop (the kernel's, in Jupyter), so cells stay free while it works::

    watcher = start_watcher(client, execution_id)        # julep_nb.live.registry
    watcher.subscribe(lambda state: print(state.status))
    final = await watcher.wait()

It first takes a snapshot (``get_execution``, then ``list_transitions`` when there
are any), so an execution that finished before anyone watched is complete at once.
Then it follows the first strategy that works, falling down the list when a stream
turns out unusable (:class:`StreamError`, a refused or unreachable endpoint):

1. ``transitions-stream``: JSON transitions as they are committed; a reopened
   stream resumes from the last SSE id it reached;
2. ``status-stream``: status events, each change followed by a pull of the new
   transitions (the real server's transitions stream sends Python reprs and misses
   child-workflow transitions, so this is what drives against hosted Julep);
3. ``polling``: snapshot + pull, fast while things change, backing off to a cap.

Transitions are deduplicated by id (:func:`~julep_nb.live.state.reduce`), so replays
and overlapping pulls never duplicate one. On a terminal status it takes one last
snapshot and, if transitions are still missing, one full pull — unless the stream's
numbered ids already proved the timeline complete — then stops. A rejected key
(:class:`AuthError`) or an unknown execution stops it at once, with
:attr:`Watcher.error` set and re-raised by :meth:`Watcher.wait`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from julep_nb.sources.julep.errors import (
    APIError,
    AuthError,
    RateLimitError,
    ServerError,
    StreamError,
    TransportError,
)
from julep_nb.sources.julep.models import Transition
from julep_nb.live.source import ExecutionSource
from julep_nb.live.state import Event, ExecutionState, reduce

__all__ = [
    "POLLING",
    "STATUS_STREAM",
    "TRANSITIONS_STREAM",
    "Subscriber",
    "Watcher",
]

logger = logging.getLogger(__name__)

TRANSITIONS_STREAM = "transitions-stream"
STATUS_STREAM = "status-stream"
POLLING = "polling"

POLL_MIN_INTERVAL = 0.1  # seconds between polls while the execution is changing
POLL_MAX_INTERVAL = 2.0  # cap of the back-off while nothing changes
POLL_BACKOFF = 1.5
MAX_POLL_FAILURES = 5  # consecutive unreachable/5xx polls before the watcher gives up
MAX_QUIET_REOPENS = 3  # a stream that keeps closing without news is treated as unusable
PULL_MARGIN = 8  # extra rows asked for in an incremental pull, for concurrent commits
PULL_PAGE = 100  # the servers' largest page
SLOW_SUBSCRIBER = 0.1  # seconds; a callback slower than this is logged
SETTLE_TIMEOUT = 2.0  # seconds wait() gives views to show the final state

# Errors after which a stream is abandoned for the next strategy (not the watcher):
# besides StreamError, an unreachable server and any refusal but AuthError (a server
# without the endpoint answers 404 or 405 for a stream of an execution it just served).
_STREAM_FAILURES = (StreamError, TransportError, APIError)
# Errors a poll survives (a few times in a row).
_TRANSIENT = (TransportError, ServerError, RateLimitError)


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
        max_rate: float = 10.0,
        initial: ExecutionState | None = None,
    ) -> None:
        if max_rate <= 0:
            raise ValueError(f"max_rate must be positive (updates per second), not {max_rate!r}")
        self.source = source
        self.execution_id = execution_id
        self.max_rate = max_rate
        self.state: ExecutionState = initial or ExecutionState(execution_id=execution_id)
        self.strategy: str | None = None
        self.done = False
        self.error: BaseException | None = None
        self.replaced_by: Watcher | None = None  # set when the registry replaced this one
        self._cancelled = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[int, _Subscriber] = {}
        self._ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._holding = False  # True while catching up: publish snapshot + transitions at once
        self._last_emit = float("-inf")
        self._complete = False  # the stream proved that no transition is missing
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
        """Call ``callback(state)`` on changes, at most ``max_rate`` times a second.

        The final state is always delivered; a subscriber added after the watcher
        stopped receives it at once. A callback that shows the final state later (a
        paced view) returns an awaitable for it, and :meth:`wait` waits for that too.
        Returns a function that unsubscribes.
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

    async def _settle(self) -> None:
        """Give the views a moment to show the final state (see :meth:`subscribe`)."""
        pending = [f for f in self._settling if not f.done()]
        self._settling = pending
        if pending and all(f.get_loop() is asyncio.get_running_loop() for f in pending):
            await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)

    async def updates(self) -> AsyncIterator[ExecutionState]:
        """The states subscribers get (coalesced), until the watcher stops."""
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
            self._flush()

    async def _catch_up(self) -> None:
        # Subscribers see the snapshot and its transitions together: publishing the
        # snapshot alone would show e.g. "awaiting_input" with an empty timeline.
        self._holding = True
        try:
            execution = await self.source.get_execution(self.execution_id)
            self._apply(execution)
            if execution.transition_count != 0:  # None: the server did not say
                await self._pull()
        finally:
            self._holding = False
        self._publish()

    async def _follow(self) -> None:
        strategies = (
            (TRANSITIONS_STREAM, self._follow_transitions),
            (STATUS_STREAM, self._follow_status),
            (POLLING, self._poll),
        )
        for name, follow in strategies:
            self.strategy = name
            try:
                await follow()
                return
            except AuthError:
                raise  # the next strategy would be refused too
            except _STREAM_FAILURES as exc:
                if name == POLLING:
                    raise
                logger.info(
                    "execution %s: %s unusable (%s); falling back", self.execution_id, name, exc
                )
            # Whatever the broken stream missed, before the next strategy starts.
            await self._pull()
            if self.state.is_terminal:
                return

    async def _follow_transitions(self) -> None:
        quiet = 0
        # SSE ids are the server's own cursor (the local server numbers transitions),
        # so the first connection replays from the start (dedup by id makes that exact)
        # and a reopened one resumes from the id the last connection reached.
        resume_from: str | None = None
        while True:
            stream = self.source.stream_transitions(self.execution_id, last_event_id=resume_from)
            news = False
            try:
                async for item in stream:
                    news = True
                    self._apply(self._as_transition(item))
                    if self.state.is_terminal:
                        self._complete = _numbered_up_to(stream, self.state.seen_count)
                        return
            finally:
                resume_from = getattr(stream, "last_event_id", None) or resume_from
                await _aclose(stream)
            quiet = self._after_close(quiet, news, TRANSITIONS_STREAM)
            await self._pull()
            if self.state.is_terminal:
                return

    async def _follow_status(self) -> None:
        quiet = 0
        while True:
            stream = self.source.stream_status(self.execution_id)
            news = False
            try:
                async for event in stream:
                    news = True
                    before = self.state
                    self._apply(event)
                    count = event.transition_count
                    known = self.state.seen_count
                    if count is None or count > known or event.status != before.status:
                        await self._pull()
                    # Terminal: stop even if the server never closes the stream.
                    if self.state.is_terminal:
                        return
            finally:
                await _aclose(stream)
            quiet = self._after_close(quiet, news, STATUS_STREAM)
            await self._pull()
            if self.state.is_terminal:
                return

    def _after_close(self, quiet: int, news: bool, name: str) -> int:
        """Count streams that closed with nothing to say; too many means unusable."""
        quiet = 0 if news else quiet + 1
        if quiet >= MAX_QUIET_REOPENS:
            raise StreamError(
                f"the {name} of execution {self.execution_id} closed {quiet} times in a row "
                "without an event before the execution ended"
            )
        return quiet

    async def _poll(self) -> None:
        interval = POLL_MIN_INTERVAL
        failures = 0
        while True:
            before = _fingerprint(self.state)
            try:
                self._apply(await self.source.get_execution(self.execution_id))
                await self._pull()
                failures = 0
            except _TRANSIENT as exc:
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
        """One last snapshot, and a full pull if transitions are still missing."""
        if self._complete:
            return
        try:
            state = self.state
            known = state.seen_count
            if not (state.reported_status.is_terminal and state.reported_transition_count):
                self._apply(await self.source.get_execution(self.execution_id))
            reported = self.state.reported_transition_count
            if reported == 0 or reported > known:
                self._apply_all(await self.source.list_transitions(self.execution_id))
        except _STREAM_FAILURES as exc:
            # The state is already terminal; a failed refinement is not worth an error.
            logger.info("final pull of execution %s failed: %s", self.execution_id, exc)

    async def _pull(self) -> None:
        """Fetch transitions not seen yet: newest first, everything when the gap is large."""
        state = self.state
        known = state.seen_count
        if known == 0:
            self._apply_all(await self.source.list_transitions(self.execution_id))
            return
        expected = max(state.reported_transition_count - known, 0)
        limit = min(expected + PULL_MARGIN, PULL_PAGE)
        newest = await self.source.list_transitions(
            self.execution_id, limit=limit, direction="desc"
        )
        seen_one = any(state.has_transition(t.id) for t in newest)
        if len(newest) >= limit and not seen_one:
            # More are new than one page holds: walk them all (dedup drops the known).
            self._apply_all(await self.source.list_transitions(self.execution_id))
        else:
            self._apply_all(reversed(newest))

    def _as_transition(self, item: Any) -> Transition:
        if isinstance(item, Transition):
            return item
        try:
            return Transition.model_validate(item)
        except PydanticValidationError as exc:
            raise StreamError(
                f"the transitions stream of execution {self.execution_id} sent "
                f"{type(item).__name__} {str(item)[:80]!r}, not a transition"
            ) from exc

    # ------------------------------------------------------------------ state + subscribers

    def _apply(self, event: Event) -> None:
        self._apply_all((event,))

    def _apply_all(self, events: Iterable[Event]) -> None:
        before = self.state
        state = before
        for event in events:
            state = reduce(state, event)
        self.state = state
        if state is not before and _fingerprint(state) != _fingerprint(before):
            self._publish()

    def _publish(self) -> None:
        """Leading edge now, then at most one trailing delivery per period."""
        if self._holding or not self._subscribers or self._timer is not None or self._loop is None:
            return
        delay = self._last_emit + 1.0 / self.max_rate - self._loop.time()
        if delay <= 0:
            self._emit()
        else:
            self._timer = self._loop.call_later(delay, self._emit)

    def _emit(self) -> None:
        self._timer = None
        if self._loop is not None:
            self._last_emit = self._loop.time()
        state = self.state
        for subscriber in list(self._subscribers.values()):
            if subscriber.delivered is not state:
                self._deliver(subscriber, state)

    def _flush(self) -> None:
        """Deliver the final state now, whatever the rate limit says."""
        if self._timer is not None:
            self._timer.cancel()
        self._emit()

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
    latest = state.latest_transition
    return (
        state.status,
        latest.id if latest else None,
        state.transition_count,
        state.reported_error,
        state.updated_at,
    )


def _numbered_up_to(stream: Any, count: int) -> bool:
    """Whether the stream's SSE ids number its events 1..``count`` (the local server's).

    Then the ``count`` distinct transitions held are all there are, and the final
    snapshot can be skipped (with hundreds of watchers ending at once, it is most of
    their closing cost).
    """
    last_id = getattr(stream, "last_event_id", None)
    return isinstance(last_id, str) and last_id.isdigit() and int(last_id) == count


async def _aclose(stream: AsyncIterator[Any]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


# ---------------------------------------------------------------------- registry

_REGISTRY_NAMES = frozenset({"active_watchers", "start_watcher", "stop_all"})


def __getattr__(name: str) -> Any:
    # The registry lives in julep_nb.live.registry (it imports Watcher from here);
    # its functions are also reachable here, where the watcher contract names them.
    if name in _REGISTRY_NAMES:
        from julep_nb.live import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
