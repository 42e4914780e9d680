"""The live execution panel: ipywidgets built from the pure HTML renderer.

Usage::

    handle = await julep_nb.run(task_id, {"topic": "otters"})
    show(handle)            # the panel updates while the kernel runs other cells

The panel subscribes to its :class:`~julep_nb.live.handle.ExecutionHandle`; every
update happens in that subscription, on the kernel's event loop, so the panel never
keeps the kernel busy. Everything that moves while an execution runs (header, result,
timeline) is one HTML widget, so an update is one widget message, and updates are
paced so that the panel sends at most ``refresh_rate`` widget messages in any one
second: a burst of 10,000 transitions costs the frontend ``refresh_rate`` messages a
second, and the final state is always shown (the Cancel button is disabled one period
after it). While the execution waits for input (and
nothing streams) the timeline moves to a second HTML widget below the resume form, so
the question and the form stay side by side. The panel
is displayed as one bundle with a ``display_id`` (widget view + ``text/html`` +
``text/plain``); on a terminal status the display is updated with the final static
HTML, so a saved notebook, nbconvert and GitHub show the final timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from julep_nb.display._format import bounded_json
from julep_nb.display.cell import follow_cells, in_running_cell
from julep_nb.display.form import ResumeForm
from julep_nb.display.html import (
    render_execution,
    render_gantt,
    render_header,
    render_result,
    render_text,
    render_timeline,
)
from julep_nb.display.pacing import MessagePacer
from julep_nb.live.events import ExecutionStatus
from julep_nb.live.sync import running_loop

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.live.handle import ExecutionHandle
    from julep_nb.live.state import ExecutionState

__all__ = ["MODES", "WIDGET_MIME", "ExecutionPanel", "TextPanel", "show"]

MODES = ("auto", "widget", "html", "none")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ERROR_STYLE = "color:#c62828;white-space:pre-wrap;"
Hook = Callable[["ExecutionState"], None]


def _error_html(text: str) -> str:
    return f'<span style="{ERROR_STYLE}">{escape(text)}</span>'


class ExecutionPanel:
    """A live view of one execution: header, result, timeline, Cancel, resume form."""

    def __init__(
        self,
        handle: ExecutionHandle,
        *,
        timeline_limit: int = 50,
        refresh_rate: float = 10.0,
        widgets: bool = True,
        tick: float | None = 1.0,
    ) -> None:
        self.handle = handle
        self.timeline_limit = timeline_limit
        self.refresh_rate = refresh_rate
        # While the execution runs or waits with nothing new, the header's elapsed time
        # is re-rendered every ``tick`` seconds (None: only when the execution changes).
        self.tick = tick
        self._ticker: asyncio.TimerHandle | None = None
        # Captured now, on the kernel's loop: button clicks may come from another thread.
        self._loop = running_loop()
        self.state: ExecutionState = handle.state  # what the panel shows
        self.updates = 0  # updates applied, each one batch of widget messages
        self.cancel_requests = 0
        self.cancel_task: asyncio.Future[None] | None = None
        self.form: ResumeForm | None = None
        self.widget: ipywidgets.VBox | None = None
        self._pending: ExecutionState | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pacer = MessagePacer(refresh_rate)  # on the loop's clock
        self.messages = 0  # widget messages (or display updates) sent so far
        self._rendered: dict[str, Any] = {}  # part -> what it was last rendered from
        self._html = {"timeline": "", "result": ""}  # parts of the live HTML, as rendered
        self._form_for: tuple[str, str | None] | None = None  # (info, wait transition id)
        self._cancelling = False
        self._finished = False
        self._final_shown: asyncio.Future[None] | None = None  # see update()
        self._on_update: list[Hook] = []
        self._on_final: list[Hook] = []
        if widgets:
            self._build()
        self._unsubscribe: Callable[[], None] | None = None
        self._apply(self.state)
        if not self._finished:
            self._unsubscribe = handle.subscribe(self.update)
            self._schedule_tick()

    # ------------------------------------------------------------------ widgets

    def _build(self) -> None:
        import ipywidgets as w

        # header + result + timeline: what changes with each transition, in one widget
        self.live = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        # the timeline, below the resume form, only while the execution awaits input
        self.timeline_below = w.HTML(layout=w.Layout(display="none"))
        self.message = w.HTML()
        self.cancel_button = w.Button(
            description="Cancel",
            icon="stop",
            tooltip="Cancel the execution",
            layout=w.Layout(flex="0 0 auto", width="auto"),
        )
        self.cancel_button.on_click(self._cancel_clicked)
        self.form_box = w.VBox([])
        border = "1px solid var(--jp-border-color2, #e0e0e0)"
        self.widget = w.VBox(
            [
                w.HBox([self.live, self.cancel_button], layout=w.Layout(align_items="flex-start")),
                self.message,
                self.form_box,
                self.timeline_below,
            ],
            layout=w.Layout(border=border, padding="4px 10px", max_width="1000px"),
        )

    def widgets(self) -> list[ipywidgets.Widget]:
        """Every widget of the panel, the resume form's included."""
        found: list[ipywidgets.Widget] = []
        stack: list[Any] = [self.widget] if self.widget is not None else []
        while stack:
            widget = stack.pop()
            found.append(widget)
            stack.extend(getattr(widget, "children", ()))
        return found

    # ------------------------------------------------------------------ updates

    def update(self, state: ExecutionState) -> asyncio.Future[None] | None:
        """Show ``state``: at once, or when the message budget allows (the newest wins).

        For a terminal state it returns a future that is done once the panel shows it:
        the watcher makes ``await handle`` wait for it, so the code after the ``await``
        (and a headless executor, which stops listening after the last cell) sees the
        final panel.
        """
        loop = self._loop
        if loop is not None and running_loop() is not loop:
            loop.call_soon_threadsafe(self.update, state)
            return None
        self._pending = state
        if loop is None:
            self._flush()
            return None
        if state.is_terminal and self._final_shown is None:
            self._final_shown = loop.create_future()
        if self._timer is None:  # else a trailing update is due; it takes the newest state
            self._schedule(loop)
        return self._final_shown if state.is_terminal else None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        delay = self._due() - loop.time()
        if delay <= 0:
            self._flush()
        else:
            self._timer = loop.call_later(delay, self._flush)

    def _due(self) -> float:
        """When the pending update may go, on the loop's clock (see :class:`MessagePacer`)."""
        pending = self._pending
        return self._pacer.due(self._expected_messages(pending) if pending is not None else 1)

    def _expected_messages(self, state: ExecutionState) -> int:
        """Widget messages an update to ``state`` will send (the live HTML, and the rest)."""
        if self.widget is None:
            return 1  # one display update
        waiting = state.status is ExecutionStatus.AWAITING_INPUT
        return 1 + 2 * (waiting != (self.timeline_below.layout.display is None))  # HTML + layout

    def _schedule_tick(self) -> None:
        if self.tick and self._loop is not None and not self._finished:
            self._ticker = self._loop.call_later(self.tick, self._on_tick)

    def _on_tick(self) -> None:
        """Show the same state again if nothing was shown for a tick: the clock moved."""
        self._ticker = None
        if self._finished or self.tick is None or self.handle.watch_error is not None:
            return  # a stopped watcher: its error is shown, the clock would mislead
        assert self._loop is not None
        quiet = self._loop.time() - self._pacer.last_apply >= 0.9 * self.tick
        if quiet and self._pending is None and self.state.created_at is not None:
            self.update(self.state)
        self._schedule_tick()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        if self._pending is None:
            return
        if loop is not None and self._due() > loop.time() + 0.001:
            self._schedule(loop)  # the pending state now needs more messages than planned
            return
        state, self._pending = self._pending, None
        before = self.messages
        in_running_cell(self._apply, state)
        if loop is not None:
            self._pacer.applied(loop.time(), self.messages - before)

    def _apply(self, state: ExecutionState) -> None:
        self.state = state
        if self.widget is not None:
            before = self._models()
            self._apply_widgets(state)
            self.messages += sum(a != b for a, b in zip(before, self._models(), strict=True))
        else:
            self.messages += 1  # the display update that show() sends
        self.updates += 1
        for hook in list(self._on_update):
            hook(state)
        if state.is_terminal and not self._finished:
            self._finished = True
            for hook in list(self._on_final):
                hook(state)
            self.close()
            if self._final_shown is not None and not self._final_shown.done():
                self._final_shown.set_result(None)

    def _changed(self, part: str, key: Any) -> bool:
        if self._rendered.get(part, object()) == key:
            return False
        self._rendered[part] = key
        return True

    def _models(self) -> tuple[Any, ...]:
        """What an update may change, one entry per widget model (one message each)."""
        below, button = self.timeline_below, self.cancel_button
        return (
            self.live.value,
            below.value,
            below.layout.display,
            (button.disabled, button.description),
            self.message.value,
            self.form_box.children,
        )

    def _apply_widgets(self, state: ExecutionState) -> None:
        latest = state.latest_entry
        latest_id = latest.id if latest is not None else None
        html = self._html
        if self._changed(
            "timeline", (state.seen_count, latest_id, state.running, self.timeline_limit)
        ):
            html["timeline"] = render_gantt(state) + render_timeline(
                state, limit=self.timeline_limit
            )
        if self._changed(
            "result", (state.status, latest_id, state.reported_error, id(state.reported_output))
        ):
            html["result"] = render_result(state)
        top = render_header(state) + html["result"]
        below = self.timeline_below
        with below.hold_sync(), below.layout.hold_sync():
            if state.status is ExecutionStatus.AWAITING_INPUT:  # question, form, timeline
                self.live.value = top
                below.value = html["timeline"]
                below.layout.display = None
            else:
                self.live.value = top + html["timeline"]
                below.value = ""
                below.layout.display = "none"
        if state.is_terminal:
            # The final state goes out at once; the button follows one period later, so
            # the last update is one message like the others (a click meanwhile is a no-op).
            if self._loop is None or self.updates == 0:  # nothing was shown yet
                self._sync_cancel(state)
            else:
                self._loop.call_later(self._pacer.period, in_running_cell, self._sync_cancel, state)
        self._sync_watcher_error()
        self._sync_form(state)

    def _sync_cancel(self, state: ExecutionState) -> None:
        button = self.cancel_button
        with button.hold_sync():
            button.disabled = state.is_terminal or self._cancelling
            if state.is_terminal:
                button.description = (
                    "Cancelled" if state.status is ExecutionStatus.CANCELLED else "Cancel"
                )

    def _sync_watcher_error(self) -> None:
        error = self.handle.watch_error
        if error is not None:
            self.message.value = _error_html(f"Stopped watching: {type(error).__name__}: {error}")

    def _sync_form(self, state: ExecutionState) -> None:
        """A form only while waiting; a new question, or a new wait after a sent answer,
        gets a new form (a form that was answered is spent)."""
        if state.status is not ExecutionStatus.AWAITING_INPUT:
            if self.form is not None:
                self.form = None
                self.form_box.children = ()
            return
        info = state.waiting_info
        latest = state.latest_entry
        waits = latest is not None and latest.status is ExecutionStatus.AWAITING_INPUT
        wait_id = latest.id if waits and latest is not None else None
        question = bounded_json(info, 10_000)[0]
        if self.form is not None and self._form_for is not None:
            same_question = self._form_for[0] == question
            same_wait = not self.form.done or self._form_for[1] in (None, wait_id)
            if same_question and same_wait:
                return
        self._form_for = (question, wait_id)
        self.form = ResumeForm(info, self.handle.resume, loop=self._loop)
        self.form_box.children = (self.form.widget,)

    # ------------------------------------------------------------------ cancel

    def _cancel_clicked(self, _button: Any = None) -> None:
        loop = self._loop
        if loop is None or running_loop() is loop:
            self._start_cancel()
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to cancel
            loop.call_soon_threadsafe(self._start_cancel)

    def _start_cancel(self) -> None:
        """On the loop: exactly one cancel request, however many clicks."""
        if self._cancelling or self.state.is_terminal or self._loop is None:
            return
        self._cancelling = True
        self.cancel_requests += 1
        with self.cancel_button.hold_sync():
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelling…"
        self.message.value = ""
        self.cancel_task = self._loop.create_task(self._cancel())

    async def _cancel(self) -> None:
        try:
            await self.handle.cancel()
        except Exception as error:  # shown next to the button; the user may retry
            self._cancelling = False
            self.message.value = _error_html(f"Cancel failed: {type(error).__name__}: {error}")
            with self.cancel_button.hold_sync():
                self.cancel_button.description = "Cancel"
                self.cancel_button.disabled = self.state.is_terminal

    # ------------------------------------------------------------------ hooks

    def on_update(self, hook: Hook) -> None:
        """Call ``hook(state)`` after each applied (coalesced) update."""
        self._on_update.append(hook)

    def on_final(self, hook: Hook) -> None:
        """Call ``hook(state)`` once, when a terminal state is shown."""
        self._on_final.append(hook)

    def close(self) -> None:
        """Stop following the handle (the widgets keep showing the last state)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return bundle_for(self, self.state)


# --------------------------------------------------------------------------- display


def bundle_for(panel: ExecutionPanel, state: ExecutionState) -> dict[str, Any]:
    """The display bundle: widget view (when any) + static HTML + text."""
    bundle: dict[str, Any] = {
        "text/plain": render_text(state),
        "text/html": render_execution(state, timeline_limit=panel.timeline_limit),
    }
    if panel.widget is not None:
        bundle[WIDGET_MIME] = {
            "version_major": 2,
            "version_minor": 0,
            "model_id": panel.widget.model_id,
        }
    return bundle


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
