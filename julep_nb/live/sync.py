"""Running the live layer's coroutines from synchronous code: one bridge, one policy.

- With a ``loop`` given (the magics pass IPython's own loop), the coroutine runs on
  it; with none, on the running loop if there is one, else on a private loop that
  is closed afterwards (like :func:`asyncio.run`, for scripts).
- A loop that is already running (a Jupyter cell) is re-entered with
  ``nest_asyncio2``, applied once, lazily, to that loop only, so watchers on it keep
  running while the caller blocks. ``nest_asyncio`` (without the 2) is never used: it
  drops queued cells and widget messages under ipykernel 7.
- An interrupt cancels the coroutine and re-raises, so nothing is left half-done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync", "running_loop"]

T = TypeVar("T")

_nested: set[int] = set()  # id()s of the loops nest_asyncio2 has patched


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _allow_reentry(loop: asyncio.AbstractEventLoop) -> None:
    if id(loop) in _nested:
        return
    import nest_asyncio2  # only now: it patches the loop it is given

    nest_asyncio2.apply(loop)
    _nested.add(id(loop))


def run_sync(coro: Coroutine[Any, Any, T], *, loop: asyncio.AbstractEventLoop | None = None) -> T:
    """Run ``coro`` to completion and return its result (see the module docstring)."""
    loop = loop or running_loop()
    if loop is None:
        return asyncio.run(coro)
    if loop.is_running():
        _allow_reentry(loop)
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
        raise
