"""Pushed event streams of the local server: fan-out hub and SSE generators.

A store listener hands every committed transition to :class:`Hub`, which puts it
in the bounded queue of each open stream of that execution. No polling: a stream
wakes only when something was committed (or to send a keep-alive comment).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from julep_nb.local.store import Store
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    Transition,
    TransitionType,
    status_for,
)
from julep_nb.sources.julep.models import error_text as error_message

__all__ = [
    "PING_INTERVAL",
    "QUEUE_SIZE",
    "Hub",
    "Subscription",
    "ended_status_body",
    "format_sse",
    "status_events",
    "transition_events",
]

PING_INTERVAL: Final = 15.0
# Events buffered per stream client; beyond that the client re-reads from the store.
QUEUE_SIZE: Final = 256
_FINAL_TYPES: Final = frozenset(
    {TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED}
)


def format_sse(data: str | None = None, *, id: int | str | None = None, comment: str = "") -> bytes:
    """One SSE event (``id:`` then ``data:`` lines) or, without data, one comment."""
    if data is None:
        return f": {comment}\n\n".encode()
    head = "" if id is None else f"id: {id}\n"
    # A newline inside data would end the field; every line gets its own "data:".
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"{head}{body}\n".encode()


class Subscription:
    """One open stream's view of an execution's committed transitions.

    Events arrive through a bounded queue so a slow client never blocks a commit;
    when the queue overflows the next batch is re-read from the store by sequence
    number, so nothing is lost or reordered.
    """

    def __init__(self, store: Store, execution_id: str, maxsize: int) -> None:
        self.store, self.execution_id = store, execution_id
        self.queue: asyncio.Queue[tuple[int, Transition] | None] = asyncio.Queue(maxsize)
        self.reread = True  # the first batch comes from the store (replay)
        self.closed = False

    def offer(self, seq: int, transition: Transition) -> None:
        """Called on the loop thread for every commit of this execution."""
        try:
            self.queue.put_nowait((seq, transition))
        except asyncio.QueueFull:
            self.reread = True

    def close(self) -> None:
        self.closed = True
        try:
            self.queue.put_nowait(None)  # wake a waiting reader
        except asyncio.QueueFull:
            pass  # its reader is busy, and will see `closed`

    async def next_batch(self, seen: int, timeout: float) -> list[tuple[int, Transition]] | None:
        """Transitions after ``seen`` in order; ``None`` after ``timeout`` s of quiet."""
        while not self.closed:
            if self.reread:
                self.reread = False
                self._drain()
                batch = self.store.transitions_after(self.execution_id, seen)
                if batch:
                    return batch
            batch = [e for e in self._drain() if e[0] > seen]
            if batch:
                return batch
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout)
            except asyncio.TimeoutError:
                return None
            batch = [e for e in (first, *self._drain()) if e is not None and e[0] > seen]
            if batch and not self.reread:
                return batch
        return []

    def _drain(self) -> list[tuple[int, Transition]]:
        items = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                items.append(item)
        return items


class Hub:
    """Fans committed transitions out to the open streams of each execution.

    The store calls :meth:`_on_commit` on the committing thread; events hop to
    the server loop with ``call_soon_threadsafe`` unless they are already on it.
    """

    def __init__(self, store: Store, *, queue_size: int = QUEUE_SIZE) -> None:
        self.store = store
        self.queue_size = queue_size
        self._subs: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start listening to the store; events are delivered on ``loop``."""
        self._loop, self._thread = loop, threading.get_ident()
        self._unsubscribe = self.store.add_listener(self._on_commit, wants=self._subs.__contains__)

    def detach(self) -> None:
        """Stop listening to the store."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def close_all(self) -> None:
        """End every open stream (server shutdown); call on the loop thread."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    def _on_commit(self, transition: Transition, seq: int) -> None:
        if self._loop is None or transition.execution_id not in self._subs:
            return
        if threading.get_ident() == self._thread:
            self._dispatch(transition, seq)
        else:
            self._loop.call_soon_threadsafe(self._dispatch, transition, seq)

    def _dispatch(self, transition: Transition, seq: int) -> None:
        for sub in tuple(self._subs.get(transition.execution_id, ())):
            sub.offer(seq, transition)

    @contextmanager
    def subscribe(self, execution_id: str) -> Iterator[Subscription]:
        """A subscription to one execution, removed on exit."""
        sub = Subscription(self.store, execution_id, self.queue_size)
        self._subs.setdefault(execution_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(execution_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[execution_id]


def ended_status_body(store: Store, execution_id: str) -> bytes | None:
    """The whole ``status.stream`` of an execution that has ended (its one event), read
    once and without a model; ``None`` while it runs (then stream :func:`status_events`).

    ``NotFound`` for an unknown execution.
    """
    text, status = store.get_execution_json(execution_id)
    if not status.is_terminal:
        return None
    return format_sse(_status_text(text, execution_id))


async def status_events(
    hub: Hub, execution_id: str, *, ping_interval: float = PING_INTERVAL
) -> AsyncIterator[bytes]:
    """``status.stream``: the execution now, then one event per status change; no ``id:``.

    Ends after a terminal status. Each event is the Execution's JSON plus ``execution_id``.
    """
    with hub.subscribe(execution_id) as sub:
        # Read after subscribing: nothing committed in between can be missed.
        execution = hub.store.get_execution(execution_id)
        seen = execution.transition_count or 0
        sub.reread = False  # that read is current; every later commit is in the queue
        yield format_sse(_status_json(execution.to_wire()))
        status = execution.status
        while not status.is_terminal and not sub.closed:
            batch = await sub.next_batch(seen, ping_interval)
            if batch is None:
                yield format_sse(comment="ping")
                continue
            # One write per batch: events committed together leave together.
            out = []
            for seq, transition in batch:
                seen = seq
                new_status = status_for(transition.type)
                if new_status is not status:
                    status = new_status
                    out.append(format_sse(_status_json(_as_of(execution, seq, transition))))
            if out:
                yield b"".join(out)


async def transition_events(
    hub: Hub, execution_id: str, *, after: int = 0, ping_interval: float = PING_INTERVAL
) -> AsyncIterator[bytes]:
    """``transitions.stream``: every transition after sequence number ``after``, with ``id:``.

    Ends after the execution's final transition (finish, error or cancelled).
    """
    with hub.subscribe(execution_id) as sub:
        execution = hub.store.get_execution(execution_id)
        # A replay that starts at or after the final transition has nothing to wait for.
        done = execution.status.is_terminal and after >= (execution.transition_count or 0)
        seen = after
        while not done and not sub.closed:
            batch = await sub.next_batch(seen, ping_interval)
            if batch is None:
                yield format_sse(comment="ping")
                continue
            out = []
            for seq, transition in batch:
                seen = seq
                out.append(format_sse(transition.model_dump_json(), id=seq))
                done = done or transition.type in _FINAL_TYPES
            if out:
                yield b"".join(out)


def _status_json(fields: dict[str, Any]) -> str:
    return _status_text(json.dumps(fields, separators=(",", ":")), fields["id"])


def _status_text(execution: str, execution_id: str) -> str:
    """A status event's JSON: the execution's (a JSON object), then ``execution_id``."""
    return f'{execution[:-1]},"execution_id":{json.dumps(execution_id)}}}'


def _as_of(base: Execution, seq: int, transition: Transition) -> dict[str, Any]:
    """The execution as of ``transition``, built from the event without another read."""
    status = status_for(transition.type)
    error = error_message(transition.output) if status is ExecutionStatus.FAILED else None
    wire = base.to_wire()
    wire.update(
        status=status.value,
        output=transition.model_dump(mode="json")["output"],
        error=error,
        transition_count=seq,
        updated_at=transition.created_at.isoformat(),
    )
    return wire
