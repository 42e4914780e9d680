"""The update driver: when a live view shows a new state, so a burst never floods it.

The watcher hands a view every change, as fast as they come (10,000 transitions a
second, if the service sends them). The driver is where a view's pacing lives:

- it coalesces: while an update waits for its slot, a newer state replaces it, so
  the view shows the newest state, never a backlog;
- it paces with :class:`~julep_nb.display.pacing.MessagePacer`, counting the widget
  messages each update really sent, so the view sends at most ``refresh_rate`` of
  them in any one second;
- for a terminal state it hands the watcher a future that is done once the view
  shows it (``await handle`` returns after the final panel, which headless
  executors need), then *settles* the view from the next slot on (controls
  disabled), in paced steps like any update;
- while nothing changes it re-shows the same state every ``tick`` seconds, so the
  elapsed time moves, on slots of its own phase (views made together tick apart);
- with an event loop, the render itself runs when the loop's
  :class:`~julep_nb.display.frames.Frames` serves it: in budgeted slices shared by
  every view on the loop, a final state first;
- every update runs as part of the cell that runs now (:func:`in_running_cell`).

Updates may be handed in from any thread; they hop onto the loop captured when the
driver was made (the kernel's).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from julep_nb.display.cell import in_running_cell
from julep_nb.display.frames import Frames, frames_for
from julep_nb.display.pacing import MessagePacer
from julep_nb.live.state import ExecutionState
from julep_nb.live.sync import running_loop

__all__ = ["PacedView", "UpdateDriver"]


class PacedView(Protocol):
    """What the driver needs from a view: show a state, and say what it costs."""

    def expected_messages(self, state: ExecutionState) -> int:
        """How many messages showing ``state`` will send (an estimate, made before)."""
        ...

    def apply(self, state: ExecutionState) -> int:
        """Show ``state``; how many messages that sent."""
        ...

    def settle_messages(self, state: ExecutionState) -> int:
        """How many messages the next :meth:`settle` step will send (0: at rest)."""
        ...

    def settle(self, state: ExecutionState) -> int:
        """After the terminal ``state`` is shown: one step towards rest; messages sent."""
        ...

    def ticks(self) -> bool:
        """Whether the clock is worth re-rendering (False stops the ticking)."""
        ...


class UpdateDriver:
    """Shows the newest state on ``view``, at most ``refresh_rate`` messages a second."""

    def __init__(
        self,
        view: PacedView,
        *,
        refresh_rate: float,
        tick: float | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.view = view
        self.loop = loop  # None: no event loop (a script): every update goes at once
        self.frames: Frames | None = frames_for(loop) if loop is not None else None
        self.tick = tick
        self._phase = self.frames.phase() if self.frames is not None and tick else 0.0
        self.pacer = MessagePacer(refresh_rate)  # on the loop's clock
        self.state: ExecutionState | None = None  # what the view shows
        self.updates = 0  # updates applied, each one batch of messages
        self.messages = 0  # messages sent so far (the settling included)
        self.finished = False  # a terminal state was shown
        self._pending: ExecutionState | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._final_shown: asyncio.Future[None] | None = None

    def start(self, state: ExecutionState) -> None:
        """Show ``state`` now (the first render), then keep the clock moving."""
        self._show(state)

    def update(self, state: ExecutionState) -> asyncio.Future[None] | None:
        """Show ``state``: at once, or when the message budget allows (the newest wins).

        For a terminal state it returns a future that is done once the view shows it:
        the watcher makes ``await handle`` wait for it, so the code after the ``await``
        (and a headless executor, which stops listening after the last cell) sees the
        final view.
        """
        loop = self.loop
        if loop is not None and running_loop() is not loop:
            loop.call_soon_threadsafe(self.update, state)
            return None
        self._pending = state
        if loop is None:
            self._flush()
            return None
        final = state.is_terminal
        if final and self._final_shown is None:
            self._final_shown = loop.create_future()
        self._schedule(loop, final=final)
        return self._final_shown if final else None

    def close(self) -> None:
        """Drop what is pending and stop ticking (a scheduled settling still happens)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.frames is not None:
            self.frames.cancel(self._flush)
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    # ------------------------------------------------------------------ pacing

    def _schedule(self, loop: asyncio.AbstractEventLoop, *, final: bool) -> None:
        """Have the pending update rendered when its slot comes (if it is not on its way).

        ``final``: the pending state is terminal.
        """
        assert self.frames is not None
        if self.frames.pending(self._flush):  # queued: it will take the newest state
            if final:
                self.frames.request(self._flush, urgent=True)  # ...and a final state goes first
            return
        if self._timer is not None:  # a trailing update is due; it takes the newest state
            return
        # Optimistic (one message): this runs for every change the watcher hands in, so
        # it stays O(1); _flush checks what the update will really cost.
        self._arm(loop, self.pacer.due())

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        delay = due - loop.time()
        if delay <= 0:
            self._request()
        else:
            self._timer = loop.call_later(delay, self._request)

    def _request(self) -> None:
        """The update's slot came: render it in the loop's next frame slice."""
        assert self.frames is not None
        self._timer = None
        final = self._pending is not None and self._pending.is_terminal
        self.frames.request(self._flush, urgent=final)

    def _due(self) -> float:
        """When the pending update may go, on the loop's clock."""
        pending = self._pending
        expected = self.view.expected_messages(pending) if pending is not None else 1
        return self.pacer.due(expected)

    def _flush(self) -> None:
        """Show the pending update, if its slot has come (the frames run this)."""
        loop = self.loop
        if self._pending is None:
            return
        if loop is not None:
            due = self._due()
            if due > loop.time() + 0.001:  # it sends more than one message: wait for them
                self._arm(loop, due)
                return
        state, self._pending = self._pending, None
        in_running_cell(self._show, state)

    def _show(self, state: ExecutionState) -> None:
        first = self.updates == 0
        self.state = state
        sent = self.view.apply(state)
        self.messages += sent
        self.updates += 1
        loop = self.loop
        if loop is not None:
            self.pacer.applied(loop.time(), sent)
        if not state.is_terminal or self.finished:
            self._schedule_tick()
            return
        self.finished = True
        self.close()
        if self._final_shown is not None and not self._final_shown.done():
            self._final_shown.set_result(None)
        if loop is None or first:  # nothing was shown before: at rest at once
            self._settle(state, paced=False)
        else:  # paced updates, so the final state goes out alone and at once
            self._settle_later(state)

    def _settle_later(self, state: ExecutionState) -> None:
        assert self.loop is not None and self.frames is not None
        delay = self.pacer.due(max(self.view.settle_messages(state), 1)) - self.loop.time()
        self.loop.call_later(max(delay, 0.0), self.frames.request, self._settle_now)

    def _settle_now(self) -> None:
        """The next settling step, of the final state shown, as the running cell's."""
        assert self.state is not None
        in_running_cell(self._settle, self.state)

    def _settle(self, state: ExecutionState, *, paced: bool = True) -> None:
        """One settling step; the next one is paced like any update (or follows at once)."""
        while True:
            sent = self.view.settle(state)
            self.messages += sent
            if self.loop is not None:
                self.pacer.applied(self.loop.time(), sent)
            if not self.view.settle_messages(state):
                return
            if paced:
                return self._settle_later(state)

    # ------------------------------------------------------------------ the clock

    def _schedule_tick(self) -> None:
        """Arm the ticker, unless it is armed (or there is nothing to tick for)."""
        if self._ticker is None and self.tick and self.frames is not None and not self.finished:
            slot = self.frames.next_slot(self.tick, self._phase)
            self._ticker = self.frames.loop.call_at(slot, self._on_tick)

    def _on_tick(self) -> None:
        """Show the same state again if nothing was shown for a tick: the clock moved."""
        self._ticker = None
        if self.finished or not self.tick or not self.view.ticks():
            return  # e.g. a stopped watcher: its error is shown, the clock would mislead
        assert self.loop is not None
        state = self.state
        quiet = self.loop.time() - self.pacer.last_apply >= 0.9 * self.tick
        if quiet and self._pending is None and state is not None and state.created_at is not None:
            self.update(state)
        self._schedule_tick()
