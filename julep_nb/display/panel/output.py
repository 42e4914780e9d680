"""Putting a panel on the page: :func:`show`, and :class:`TextPanel` without a frontend.

In a kernel the panel is displayed as one bundle with a ``display_id`` (widget view +
``text/html`` + ``text/plain``); on a terminal status the display is updated with the
final static HTML, so a saved notebook, nbconvert and GitHub show the final
timeline. Without widgets (``mode="html"``) the static HTML is re-rendered at the
refresh rate instead. Without a frontend (a script, terminal IPython) the state is
written as text, now and once at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from julep_nb.display.cell import follow_cells
from julep_nb.display.html import render_text
from julep_nb.display.panel.execution import ExecutionPanel, bundle_for

if TYPE_CHECKING:
    from julep_nb.live.handle import ExecutionHandle
    from julep_nb.live.state import ExecutionState

__all__ = ["MODES", "TextPanel", "show"]

MODES = ("auto", "widget", "html", "none")


class TextPanel:
    """The panel without a frontend: the state as text, now and once at the end."""

    def __init__(self, handle: ExecutionHandle, *, write: Callable[[str], None], initial: bool):
        self.handle = handle
        self._write = write
        self.final: ExecutionState | None = None  # the terminal state, once written
        self._unsubscribe: Callable[[], None] | None = None
        state = handle.state
        if initial and state.created_at is not None and not state.is_terminal:
            write(render_text(state))
        self.update(state)
        if self.final is None:
            self._unsubscribe = handle.subscribe(self.update)
            if self.final is not None:  # delivered at once: the watcher had ended
                self.close()

    def update(self, state: ExecutionState) -> None:
        """Write the state once it is terminal (only the first terminal state)."""
        if state.is_terminal and self.final is None:
            self.final = state
            self._write(render_text(state))
            self.close()

    def close(self) -> None:
        """Stop following the handle."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def _display_text(text: str) -> None:
    from IPython.display import display

    display({"text/plain": text}, raw=True)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def show(
    handle: ExecutionHandle,
    *,
    mode: str = "auto",
    timeline_limit: int = 50,
    refresh_rate: float = 10.0,
    display_id: str | None = None,
    tick: float | None = 1.0,
    initial: bool = True,
) -> ExecutionPanel | TextPanel | None:
    """Display a live panel for ``handle``; returns it (None when nothing stays live).

    ``mode``: ``auto`` (widgets in a kernel with ipywidgets, else static HTML),
    ``widget``, ``html`` (static HTML re-rendered at ``refresh_rate``) or ``none``.
    ``tick``: seconds between re-renders of the elapsed time while nothing else changes
    (None: never). Without a frontend (a script, terminal IPython) it prints a line of
    text now (unless ``initial`` is false or nothing is known yet) and one when the
    execution ends, whichever cell or ``await`` is running then.
    """
    if mode not in MODES:
        raise ValueError(f"panel mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "none":
        return None
    shell = _shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        # Scripts and terminal IPython: no frontend to update, so a line of text now
        # (when the state is known) and the final state when the execution ends.
        return TextPanel(handle, write=print if shell is None else _display_text, initial=initial)
    from IPython.display import display, update_display

    follow_cells(shell)
    widgets = mode in ("auto", "widget") and _has_widgets()
    panel = ExecutionPanel(
        handle,
        timeline_limit=timeline_limit,
        refresh_rate=refresh_rate,
        widgets=widgets,
        tick=tick,
    )
    target = display_id or f"julep-nb-{handle.id}-{uuid.uuid4().hex[:8]}"

    def refresh(state: ExecutionState) -> None:
        update_display(bundle_for(panel, state), raw=True, display_id=target)

    display(bundle_for(panel, panel.state), raw=True, display_id=target)
    if widgets:
        panel.on_final(refresh)
    else:
        panel.on_update(refresh)
    return panel
