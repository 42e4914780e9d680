"""BatchHandle: many executions of one task, started with bounded concurrency, followed live.

The handle is neutral: a *starter* (the Julep one is in ``julep_nb/batch/``) creates
input ``i``'s execution, idempotently, and a :class:`~julep_nb.live.batch.follow.Follower`
reports its states; the handle does the rest on the running loop: at most
``concurrency`` executions in flight (a slot is free again once its execution ends or
awaits input, so a batch of executions that all pause never stalls), counts by
status, the final states in input order, cancel, and a retry of the failures.

Views do not subscribe to each execution: they :meth:`BatchHandle.subscribe` to the
batch, hear that *something* changed, and read the counters when their pacing allows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from julep_nb.live.batch.follow import Follower
from julep_nb.live.batch.tables import batch_records, records_dataframe
from julep_nb.live.events import ExecutionStatus
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.state import ExecutionState

__all__ = ["BatchHandle", "Listener", "Starter"]

logger = logging.getLogger(__name__)

S = ExecutionStatus
Starter = Callable[[int, Mapping[str, Any]], Awaitable[ExecutionState]]
"""Create input ``i``'s execution (the same one however often it is called); its state."""
Again = Callable[[list[dict[str, Any]], list[str]], "BatchHandle"]
"""A new, unstarted batch of the same task over some inputs (for ``retry_failed``)."""
Listener = Callable[["BatchHandle"], "Awaitable[object] | None"]

SETTLE_TIMEOUT = 2.0  # seconds ``await batch`` gives views to show the end
_RUNNING: set[asyncio.Task[Any]] = set()  # asyncio keeps only weak references to tasks


class BatchHandle:
    """A batch of executions: ``await`` it for the final states, in input order."""

    def __init__(
        self,
        inputs: Sequence[Mapping[str, Any]],
        *,
        start: Starter,
        follower: Follower,
        columns: Sequence[str],
        concurrency: int = 16,
        again: Again | None = None,
        name: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(
                f"concurrency must be at least 1 (executions in flight), not {concurrency!r}"
            )
        self.inputs = [dict(row) for row in inputs]
        self.columns = list(columns)
        self.concurrency = concurrency
        self.name = name
        self._start = start
        self._follower = follower
        self._again = again
        n = len(self.inputs)
        self._ids: list[str | None] = [None] * n  # None: not created (yet)
        self._latest: list[ExecutionState | None] = [None] * n
        self._handles: dict[int, ExecutionHandle] = {}  # made on demand
        self._final: list[ExecutionState | None] = [None] * n
        self._status: list[ExecutionStatus | None] = [None] * n  # None: not started
        self._counts: Counter[ExecutionStatus] = Counter()
        self._problems: dict[int, str] = {}  # input -> why it never ran / was not followed
        self._failed: list[int] = []  # inputs that ended failed, in the order they did
        self._waiting: dict[int, None] = {}  # inputs awaiting input now (ordered set)
        self._slots_held: set[int] = set()
        self._listeners: list[Listener] = []
        self._settling: list[asyncio.Future[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: asyncio.Task[None] | None = None
        self._launches: set[asyncio.Task[None]] = set()
        self._finished: asyncio.Event | None = None
        self._cancelling = False
        self._stopped = False  # see stop()
        self.started_at: float | None = None  # time.monotonic() of start()
        self.finished_at: float | None = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{s.value}={c}" for s, c in sorted(self.status_counts.items()))
        return f"<BatchHandle {len(self)} inputs done={self.done} {counts}>"

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> ExecutionHandle:
        """A handle on input ``index``'s execution (LookupError if it has none)."""
        index = range(len(self))[index]
        handle = self._handles.get(index)
        if handle is None:
            execution_id = self._ids[index]
            if execution_id is None:
                why = self._problems.get(index) or "not started yet"
                raise LookupError(f"input {index} has no execution: {why}")
            handle = self._follower.handle(self._state(index))
            self._handles[index] = handle
        return handle

    @property
    def execution_ids(self) -> list[str | None]:
        """Each input's execution id, None for inputs without one (yet)."""
        return list(self._ids)

    @property
    def states(self) -> list[ExecutionState]:
        """Each input's newest state, in input order (a stand-in for inputs not started)."""
        return [self._state(i) for i in range(len(self))]

    def _state(self, index: int) -> ExecutionState:
        state = self._final[index] or self._latest[index]
        if state is not None:
            return state
        return ExecutionState(execution_id="", input=self.inputs[index])

    @property
    def status_counts(self) -> dict[ExecutionStatus, int]:
        """Status -> how many inputs are in it (inputs not started count as queued)."""
        counts = dict(self._counts)
        pending = self.pending
        if pending:
            counts[S.QUEUED] = counts.get(S.QUEUED, 0) + pending
        return {status: n for status, n in counts.items() if n}

    @property
    def pending(self) -> int:
        """Inputs whose execution was not created yet."""
        return len(self) - sum(self._counts.values())

    @property
    def finished(self) -> int:
        """Inputs that reached a final state."""
        return sum(n for status, n in self._counts.items() if status.is_terminal)

    @property
    def done(self) -> bool:
        """Every input has reached a final state."""
        return self.finished == len(self)

    @property
    def failures(self) -> list[int]:
        """Inputs whose execution failed (or never started), in the order they did."""
        return list(self._failed)

    @property
    def waiting(self) -> list[int]:
        """Inputs whose execution awaits input now, in input order."""
        return sorted(self._waiting)

    def problem(self, index: int) -> str | None:
        """Why input ``index`` never ran, or stopped being followed, if it did."""
        return self._problems.get(index)

    def elapsed(self) -> float:
        """Seconds since the batch started (until it finished)."""
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    def throughput(self) -> float | None:
        """Executions finished per second so far (None before the first)."""
        elapsed, finished = self.elapsed(), self.finished
        return finished / elapsed if finished and elapsed > 0 else None

    def eta(self) -> float | None:
        """Seconds until the batch is done at the current throughput (None: unknown)."""
        rate = self.throughput()
        if self.done:
            return 0.0
        return (len(self) - self.finished) / rate if rate else None

    def to_records(self) -> tuple[list[dict[str, Any]], list[str]]:
        """``(records, columns)``: what :meth:`to_dataframe` holds, without pandas."""
        return batch_records(self.inputs, self.states, self.columns)

    def to_dataframe(self) -> Any:
        """One row per input: its columns, status, output (dict spread), error, duration_s,
        execution_id (needs pandas)."""
        records, columns = self.to_records()
        return records_dataframe(records, columns)

    # ------------------------------------------------------------------ running

    def start(self) -> BatchHandle:
        """Start on the running loop (idempotent); returns the handle."""
        if self._driver is None:
            self._loop = asyncio.get_running_loop()
            self._finished = asyncio.Event()
            self.started_at = time.monotonic()
            self._driver = self._spawn(self._drive())
            self._check_done()
        return self

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
        return task

    async def _drive(self) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        for index in range(len(self)):
            await slots.acquire()
            if self._cancelling or self._stopped:
                slots.release()
                break
            self._slots_held.add(index)
            launch = self._spawn(self._launch(index, slots))
            self._launches.add(launch)
            launch.add_done_callback(self._launches.discard)

    async def _launch(self, index: int, slots: asyncio.Semaphore) -> None:
        try:
            state = await self._start(index, self.inputs[index])
        except asyncio.CancelledError:
            self._release(index, slots)
            raise
        except Exception as exc:  # the service refused this input: it fails alone
            self._release(index, slots)
            message = f"not started: {type(exc).__name__}: {exc}"
            failed = ExecutionState(
                execution_id="", input=self.inputs[index], reported_status=S.FAILED,
                reported_error=message,
            )  # fmt: skip
            self._settle_state(index, failed, problem=message)
            return
        self._ids[index] = state.execution_id

        def on_state(new: ExecutionState) -> None:
            self._on_state(index, new, slots)

        def on_lost(new: ExecutionState, why: str) -> None:
            self._release(index, slots)
            self._settle_state(index, new, problem=why)

        self._on_state(index, state, slots)
        if not state.is_terminal:
            self._follower.follow(state, on_state=on_state, on_lost=on_lost)

    def _release(self, index: int, slots: asyncio.Semaphore) -> None:
        if index in self._slots_held:
            self._slots_held.discard(index)
            slots.release()

    def _on_state(self, index: int, state: ExecutionState, slots: asyncio.Semaphore) -> None:
        if self._final[index] is not None:
            return
        self._latest[index] = state
        status = state.status
        if status.is_terminal or status is S.AWAITING_INPUT:
            self._release(index, slots)
        if status is S.AWAITING_INPUT:
            self._waiting[index] = None
        else:
            self._waiting.pop(index, None)
        if status.is_terminal:
            self._settle_state(index, state)
            return
        self._set_status(index, status)
        self._changed()

    def _set_status(self, index: int, status: ExecutionStatus) -> None:
        before = self._status[index]
        if before is status:
            return
        if before is not None:
            self._counts[before] -= 1
        self._counts[status] += 1
        self._status[index] = status

    def _settle_state(
        self, index: int, state: ExecutionState, *, problem: str | None = None
    ) -> None:
        """Record input ``index``'s final state (``problem``: why it is not a real end)."""
        if self._final[index] is not None:
            return
        if problem is not None:
            self._problems[index] = problem
            if not state.is_terminal:  # not followed to the end: counted as failed
                state = replace(state, reported_status=S.FAILED, reported_error=problem)
        self._final[index] = state
        self._waiting.pop(index, None)
        self._set_status(index, state.status)
        if state.status is S.FAILED:
            self._failed.append(index)
        self._changed()
        self._check_done()

    def _check_done(self) -> None:
        if self.done and self._finished is not None and not self._finished.is_set():
            self.finished_at = time.monotonic()
            self._finished.set()
            self._changed()

    # ------------------------------------------------------------------ views

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(batch)`` after changes (cheap: read the batch when it suits you).

        Once the batch is done the listener may return an awaitable, done once its view
        shows the end; ``await batch`` waits for it. Returns an unsubscribe function.
        """
        self._listeners.append(listener)
        if self.done:
            self._notify(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        for listener in list(self._listeners):
            self._notify(listener)

    def _notify(self, listener: Listener) -> None:
        try:
            shown = listener(self)
        except Exception:  # a broken view must not break the batch
            logger.warning("a batch listener raised", exc_info=True)
            return
        if shown is not None and self.done:
            self._settling.append(asyncio.ensure_future(shown))

    # ------------------------------------------------------------------ waiting

    async def _wait(self) -> list[ExecutionState]:
        if self._finished is None:
            self.start()
        assert self._finished is not None
        await self._finished.wait()
        pending = [f for f in self._settling if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=SETTLE_TIMEOUT)
        self._follower.close()
        return self.states

    def __await__(self) -> Generator[Any, None, list[ExecutionState]]:
        """``await batch``: every input's final state, in input order."""
        return self._wait().__await__()

    # ------------------------------------------------------------------ actions

    async def cancel(self, *, reason: str | None = None) -> None:
        """Start nothing more and cancel every execution still going; returns once all ended.

        Inputs not started yet end ``cancelled``, without an execution.
        """
        self._cancelling = True
        if self._launches:  # creations in flight: their executions must be cancelled too
            await asyncio.gather(*list(self._launches), return_exceptions=True)
        for index in range(len(self)):
            if self._ids[index] is None and self._final[index] is None:
                stopped = ExecutionState(
                    execution_id="", input=self.inputs[index], reported_status=S.CANCELLED,
                )  # fmt: skip
                self._settle_state(index, stopped, problem="cancelled before it started")
        going = [i for i in range(len(self)) if self._final[i] is None and self._ids[i]]
        why = reason or "batch cancelled"
        results = await asyncio.gather(
            *(self._follower.cancel(self._state(i), reason=why) for i in going),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        if self._finished is not None:
            await self._finished.wait()

    @property
    def watching(self) -> bool:
        """The batch is still starting or following executions (it is not done)."""
        return self._driver is not None and not self.done

    def stop(self, *, reason: str = "the batch was stopped") -> None:
        """Start nothing more, without cancelling anything (the cell was run again).

        Inputs not started end ``cancelled``, without an execution; the executions
        already started go on, and are followed to their end.
        """
        if self._stopped or self.done:
            return
        self._stopped = True
        if self._driver is not None:
            self._driver.cancel()  # it may be waiting for a free slot
        for index in range(len(self)):
            started = self._ids[index] is not None or index in self._slots_held
            if not started and self._final[index] is None:
                stopped = ExecutionState(
                    execution_id="", input=self.inputs[index], reported_status=S.CANCELLED,
                )  # fmt: skip
                self._settle_state(index, stopped, problem=f"not started: {reason}")

    async def retry_failed(self) -> BatchHandle:
        """A new batch (started) over the inputs that failed or were cancelled."""
        if self._again is None:
            raise RuntimeError("this batch cannot be retried: it was built without a starter")
        again = [i for i in range(len(self)) if self._state(i).status in (S.FAILED, S.CANCELLED)]
        batch = self._again([self.inputs[i] for i in again], self.columns)
        batch.source_rows = again
        return batch.start()

    source_rows: list[int] | None = None
    """For a retry: the input positions of the batch it retries."""
