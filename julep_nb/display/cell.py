"""Send a live view's messages as part of the cell that runs now.

ipykernel (7.x, and 6.x since output from threads was routed to its cell) keeps the
parent of outgoing messages in context variables, and an asyncio task keeps the
context it was created in: a watcher started by cell 3 would send every update as
cell 3's, forever. A frontend does not mind, but headless executors (nbclient,
``jupyter nbconvert --execute``, papermill) record only the messages of the cell
they are running, so a notebook executed by them would keep the panel's first,
``queued`` state. :func:`in_running_cell` runs a view update in the context of the
newest cell instead, captured by an IPython ``pre_run_cell`` hook: an execution
that ends while a later cell runs (``await h``, or any awaiting cell) reaches the
saved notebook.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["follow_cells", "in_running_cell"]

T = TypeVar("T")

_FLAG = "_julep_nb_follows_cells"
_latest: contextvars.Context | None = None  # the context of the newest cell


def _capture(_info: Any = None) -> None:
    global _latest
    _latest = contextvars.copy_context()


def follow_cells(shell: Any) -> None:
    """Start tracking ``shell``'s cells (idempotent); the current one counts at once."""
    if shell is None:
        return
    if not getattr(shell, _FLAG, False):
        shell.events.register("pre_run_cell", _capture)
        setattr(shell, _FLAG, True)
    if _latest is None:
        _capture()


def in_running_cell(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with the newest cell as the parent of what it sends."""
    context = _latest
    if context is None:
        return fn(*args)
    # A copy: the captured context may be entered already (a nested update).
    return context.copy().run(fn, *args)
