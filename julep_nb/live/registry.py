"""The per-loop registry of running watchers.

A watcher runs as a task on its loop; asyncio keeps only weak references to tasks,
so something must hold the watcher until it stops, and re-running a notebook cell
must replace (not orphan) the watcher its previous run started. The registry is
keyed by loop (weakly: a closed, dropped loop takes its watchers with it) and by
``(execution_id, key)``.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from julep_nb.live.source import ExecutionSource
from julep_nb.live.watcher import Watcher

__all__ = ["active_watchers", "start_watcher", "stop_all"]

_Slot = tuple[str, object]
# Weak on the loop: a closed, dropped loop takes its watchers with it. Strong on the
# watcher: asyncio keeps only weak references to tasks, and a watcher must outlive the
# cell that started it.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Slot, Watcher]] = (
    weakref.WeakKeyDictionary()
)


def start_watcher(
    source: ExecutionSource,
    execution_id: str,
    *,
    key: str | None = None,
    **kwargs: Any,
) -> Watcher:
    """Start a watcher on the running loop and keep it until it stops.

    A watcher started with the same ``(execution_id, key)`` on this loop is cancelled
    and replaced (re-running a cell replaces its view). ``key=None`` never replaces.
    """
    loop = asyncio.get_running_loop()
    watchers = _REGISTRY.setdefault(loop, {})
    slot: _Slot = (execution_id, key if key is not None else object())
    previous = watchers.get(slot)
    if previous is not None and "initial" not in kwargs:
        kwargs["initial"] = previous.state
    watcher = Watcher(source, execution_id, **kwargs)
    if previous is not None:
        previous.replaced_by = watcher
        previous.cancel()

    def forget(_task: asyncio.Task[None]) -> None:
        if watchers.get(slot) is watcher:
            del watchers[slot]

    watchers[slot] = watcher
    watcher.start().add_done_callback(forget)
    return watcher


def active_watchers(loop: asyncio.AbstractEventLoop | None = None) -> list[Watcher]:
    """Watchers still running on ``loop`` (default: the running loop; else every loop)."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return [w for ws in list(_REGISTRY.values()) for w in ws.values()]
    return list(_REGISTRY.get(loop, {}).values())


def stop_all(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Cancel every registered watcher on ``loop`` (default: running loop, else all)."""
    for watcher in active_watchers(loop):
        watcher.cancel()
