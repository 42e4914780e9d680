"""Running the client's coroutines from synchronous magics, on the kernel's loop.

Magics are plain functions, but the client is async and the watchers must keep
running after the magic returns. Everything therefore runs on ONE loop per
process, the loop IPython itself uses for top-level ``await``
(:func:`IPython.core.async_helpers.get_asyncio_loop`):

* In a Jupyter kernel (ipykernel) that loop is running while the cell executes.
  Watchers are tasks on it and keep running between cells; a magic that must wait
  for a result re-enters the loop with ``nest_asyncio2`` (applied once, lazily,
  to that loop only). ``nest_asyncio`` (without the 2) is never used: it drops
  queued cells and widget messages under ipykernel 7.
* In terminal IPython, or a plain ``InteractiveShell``, nothing runs between
  cells: the magic runs the same persistent loop until its coroutine is done.
  Watchers advance whenever that loop runs again: during a later magic, an
  ``await h`` cell, or continuously with ``%gui asyncio`` (the terminal then
  runs its prompt on this loop). Because ``await h`` runs on the same loop,
  a handle started by one cell can be awaited in the next.

A background thread with its own loop was rejected: ``await h`` in a cell runs on
IPython's loop, and futures cannot be awaited across loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from IPython.core.async_helpers import get_asyncio_loop

from julep_nb.live import sync as live_sync

__all__ = ["kernel_loop", "run_sync"]

T = TypeVar("T")


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The loop this process runs IPython's ``await`` on (running in a kernel)."""
    loop: asyncio.AbstractEventLoop = get_asyncio_loop()
    return loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the kernel loop and return its result.

    An interrupt (Ctrl-C, "Interrupt kernel") cancels ``coro`` and re-raises, so
    nothing is left half-done in the background.
    """
    return live_sync.run_sync(coro, loop=kernel_loop())
