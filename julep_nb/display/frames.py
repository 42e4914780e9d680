"""When live views render, so that many of them never hold the kernel's loop for long.

Each view decides *whether* it may send (its
:class:`~julep_nb.display.pacing.MessagePacer`); :class:`Frames` decides *when* in
the loop the render work runs, for every view on that loop together, the way a UI
framework keeps a frame budget:

- a view asks for a render with :meth:`Frames.request`, and the renders run in
  slices, one slice per loop turn, last in the turn (after the callbacks and the I/O
  that were ready when it began); a slice begins no render once it has spent
  :data:`BUDGET` seconds, so whatever arrives meanwhile (a kernel's
  ``execute_request``) waits for one slice at most, not for every view's render;
- renders take at most :data:`DUTY` of the loop's time: after a slice that took ``t``
  seconds the next one begins no sooner than ``t * (1 - DUTY) / DUTY`` later, so the
  kernel keeps time for what else it runs however many views there are (a slice of one
  small render rests for as little);
- a view waiting for its render keeps one place in the queue, and renders its newest
  state when its turn comes: a loaded loop renders each view less often rather than
  falling behind (so with the duty cap, many busy views update less often each);
- urgent renders (a final state, which ``await handle`` waits for) go to the front;
- periodic re-renders (the elapsed-time tick) each get a phase, spread over the period
  by the golden ratio, and fall on fixed slots of the loop's clock
  (:meth:`Frames.phase`, :meth:`Frames.next_slot`): views made together do not tick
  together, and a loop that was blocked for a while does not line them up again.

There is one :class:`Frames` per event loop (:func:`frames_for`).
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BUDGET", "DUTY", "SLOT_GUARD", "FrameStats", "Frames", "frames_for"]

BUDGET = 0.004  # seconds of render work a slice may begin renders in
DUTY = 0.5  # the largest share of the loop's time that renders take while a backlog lasts
GOLDEN = (math.sqrt(5) - 1) / 2  # phases k * GOLDEN (mod 1) stay spread for any count
SLOT_GUARD = 0.001  # seconds: a timer may fire a hair early; its own slot is not "next"

Render = Callable[[], object]


@dataclass
class FrameStats:
    """What the slices did so far (seconds on ``time.perf_counter``)."""

    slices: int = 0
    renders: int = 0
    longest: float = 0.0  # the longest slice
    latest_start: float = 0.0  # the latest a render began, from the start of its slice


class Frames:
    """The render queue of one loop, run in budgeted slices (see the module docstring)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, budget: float = BUDGET, duty: float = DUTY
    ) -> None:
        if not 0 < duty <= 1:
            raise ValueError(f"duty must be in (0, 1], not {duty!r}")
        self.loop = loop
        self.budget = budget
        self.rest = (1 - duty) / duty  # seconds of rest per second of a slice
        self._rested = 0.0  # the loop time before which no slice begins
        self.stats = FrameStats()
        self._queue: OrderedDict[Render, None] = OrderedDict()
        self._slice_handle: asyncio.TimerHandle | None = None
        self._phases = 0

    def request(self, render: Render, *, urgent: bool = False) -> None:
        """Run ``render()`` in a coming slice; once, however often it is requested.

        Requests are served in order; an urgent one goes before all others. Call on the
        loop's thread.
        """
        self._queue[render] = None
        if urgent:
            self._queue.move_to_end(render, last=False)
        if self._slice_handle is None:
            self._next_slice()

    def cancel(self, render: Render) -> None:
        """Drop a requested render that has not run yet."""
        self._queue.pop(render, None)

    def pending(self, render: Render) -> bool:
        """Whether ``render`` is requested and has not run yet."""
        return render in self._queue

    def _slice(self) -> None:
        """Renders until the budget is spent (one at least), then the loop's other work."""
        self._slice_handle = None
        stats = self.stats
        began = time.perf_counter()
        spent, done = 0.0, 0
        while self._queue and (spent < self.budget or not done):
            render, _ = self._queue.popitem(last=False)
            stats.latest_start = max(stats.latest_start, spent)
            try:
                render()
            except Exception as exc:  # one broken view must not starve the others
                self.loop.call_exception_handler(
                    {"message": "a live view's render raised", "exception": exc}
                )
            done += 1
            spent = time.perf_counter() - began
        stats.renders += done
        stats.slices += 1
        stats.longest = max(stats.longest, spent)
        self._rested = self.loop.time() + spent * self.rest
        if self._queue and self._slice_handle is None:
            self._next_slice()

    def _next_slice(self) -> None:
        # A timer, not call_soon: the loop moves due timers to its ready queue after the
        # callbacks and I/O events already there, so a slice runs last in its turn and
        # never ahead of what was waiting when it was asked for.
        at = max(self.loop.time(), self._rested)
        self._slice_handle = self.loop.call_at(at, self._slice)

    # ------------------------------------------------------------------ periodic renders

    def phase(self) -> float:
        """A phase for one more periodic view: a fraction of its period, spread from the others."""
        self._phases += 1
        return (self._phases * GOLDEN) % 1.0

    def next_slot(self, period: float, phase: float) -> float:
        """The loop time of the first slot after now of a view ticking every ``period``."""
        offset = phase * period
        now = self.loop.time() + min(SLOT_GUARD, period / 10)
        return offset + (math.floor((now - offset) / period) + 1) * period


_frames: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Frames] = weakref.WeakKeyDictionary()


def frames_for(loop: asyncio.AbstractEventLoop) -> Frames:
    """The one :class:`Frames` of ``loop``."""
    frames = _frames.get(loop)
    if frames is None:
        frames = _frames[loop] = Frames(loop)
    return frames
