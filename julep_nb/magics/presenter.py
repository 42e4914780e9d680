"""How a subcommand hands a live execution to the notebook: panel, ``-o``, ``--wait``.

``run``, ``resume``, ``watch`` and the cell form all end here: the panel is shown
(or, without a frontend, a line of text), the handle is recorded as started by the
running cell (re-running the cell stops it), stored in ``-o VAR``, and waited for
with ``--wait``.
"""

from __future__ import annotations

import argparse
import asyncio

from julep_nb.connect import source_for
from julep_nb.display.panel import ExecutionPanel, show
from julep_nb.live.handle import ExecutionHandle
from julep_nb.magics.errors import CommandError
from julep_nb.magics.session import Session

__all__ = ["attach", "present", "started"]


def attach(session: Session, execution_id: str, *, start: bool = True) -> ExecutionHandle:
    """A handle on ``execution_id`` from the session's source; watching unless ``start=False``."""
    handle = ExecutionHandle(
        execution_id, source=source_for(session.client()), key=session.cell.key
    )
    if start:
        session.run(started(handle))
    return handle


async def started(handle: ExecutionHandle) -> None:
    """Start watching on the running loop, where the watcher keeps running after the cell."""
    handle.start()


def present(session: Session, handle: ExecutionHandle, args: argparse.Namespace) -> ExecutionHandle:
    """Show the panel, record the handle, store ``-o VAR``, wait if asked; the handle."""
    view = session.view
    mode = args.panel or view.panel
    shown = False
    if mode != "none":
        panel = show(
            handle,
            mode=mode,
            timeline_limit=view.timeline_limit,
            refresh_rate=view.refresh_rate,
            initial=False,  # without a frontend, the result line shows the start
        )
        shown = isinstance(panel, ExecutionPanel)
    session.cell.started.append(handle)
    if shown:
        session.cell.shown.append(handle)
    session.store(args.out, handle)
    if args.wait:
        wait(session, handle)
    return handle


def wait(session: Session, handle: ExecutionHandle) -> None:
    """Block until ``handle`` is terminal, on the session's loop (where its watcher runs)."""

    async def final() -> None:
        await handle

    try:
        session.run(final())
    except asyncio.CancelledError:
        raise CommandError(
            f"Stopped waiting: the watcher of execution {handle.id} was cancelled while it "
            f"was {handle.status.value}. `await h` starts a new one."
        ) from None
