"""One live panel for a whole batch: progress by status, rates, failures, waits, Cancel all.

Usage::

    batch = await julep_nb.run_many(task_id, df)
    show_batch(batch)          # updates while the kernel runs other cells
    await batch                # returns once the panel shows the end

The panel never follows executions itself: it hears from the
:class:`~julep_nb.live.batch.BatchHandle` that something changed and re-renders
when its :class:`~julep_nb.display.pacing.MessagePacer` allows, so it sends at most
``refresh_rate`` widget messages in any second whatever the batch's size; the render
itself runs in the loop's :class:`~julep_nb.display.frames.Frames`, with every other
live view's. It is
displayed as one bundle with a ``display_id``; when the batch is done the display is
updated with the final static HTML (:func:`render_batch`), which is what a saved
notebook, nbconvert and GitHub show. Each execution awaiting input gets an *Open*
button that shows its own panel (with the resume form) below.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from julep_nb.display._format import esc, one_line
from julep_nb.display.batch_panel.html import MAX_LISTED, render_batch, render_batch_text
from julep_nb.display.cell import follow_cells, in_running_cell
from julep_nb.display.frames import frames_for
from julep_nb.display.pacing import MessagePacer
from julep_nb.display.panel import show as show_execution
from julep_nb.live.sync import running_loop

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.live.batch.handle import BatchHandle

__all__ = ["BatchPanel", "show_batch"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Updates are paced 20% below refresh_rate: the kernel decides when to send, but a busy
# kernel (a server thread holding the GIL) may flush them in bunches; the margin keeps
# what a frontend receives in any second at refresh_rate or below.
PACING_MARGIN = 1.25


class BatchPanel:
    """The live widgets of one batch, paced (see the module docstring)."""

    def __init__(
        self,
        batch: BatchHandle,
        *,
        refresh_rate: float = 10.0,
        widgets: bool = True,
        tick: float | None = 1.0,
    ) -> None:
        self.batch = batch
        self.refresh_rate = refresh_rate
        self.tick = tick
        self._loop = running_loop()
        self._frames = frames_for(self._loop) if self._loop is not None else None
        self._phase = self._frames.phase() if self._frames is not None and tick else 0.0
        self._pacer = MessagePacer(refresh_rate / PACING_MARGIN)
        self._timer: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self.messages = 0  # widget messages (or display updates) sent so far
        self.updates = 0
        self.cancel_task: asyncio.Task[None] | None = None
        self.opened: dict[int, Any] = {}  # input -> the execution panel opened for it
        self._finished = False
        self._final_shown: asyncio.Future[None] | None = None
        self._on_final: list[Callable[[], None]] = []
        self._on_update: list[Callable[[], None]] = []
        self.widget: ipywidgets.VBox | None = None
        self._waiting_for: tuple[int, ...] = ()
        if widgets:
            self._build()
        self._apply()
        if self._loop is not None:
            self._pacer.applied(self._loop.time(), self.messages)
        self._unsubscribe: Callable[[], None] | None = None
        if not self._finished:
            self._unsubscribe = batch.subscribe(self.changed)
            self._schedule_tick()

    def _build(self) -> None:
        import ipywidgets as w

        self.live = w.HTML()
        self.cancel_button = w.Button(
            description="Cancel all", icon="stop", tooltip="Cancel every execution of the batch"
        )
        self.cancel_button.on_click(self._cancel_clicked)
        self.message = w.HTML()
        self.waiting_box = w.VBox([])
        self.opened_area = w.Output()
        self.widget = w.VBox(
            [self.live, w.HBox([self.cancel_button, self.message]), self.waiting_box,
             self.opened_area],
            layout=w.Layout(max_width="1000px"),
        )  # fmt: skip

    # ------------------------------------------------------------------ updates

    def changed(self, _batch: Any = None) -> asyncio.Future[None] | None:
        """The batch changed: re-render when the pacing allows; a future for the end."""
        loop = self._loop
        if loop is None:
            self._apply()
            return None
        if running_loop() is not loop:
            loop.call_soon_threadsafe(self.changed)
            return None
        if self.batch.done and self._final_shown is None:
            self._final_shown = loop.create_future()
        if self._timer is None and not self._finished:
            delay = self._pacer.due(self._expected()) - loop.time()
            self._timer = loop.call_later(max(delay, 0.0), self._request)
        return self._final_shown if self.batch.done else None

    def _expected(self) -> int:
        """Widget messages the next update sends: the HTML, the waits, the button at the end."""
        if self.widget is None:
            return 1
        waits = tuple(self.batch.waiting[:MAX_LISTED]) != self._waiting_for
        return 1 + waits + self.batch.done

    def _request(self) -> None:
        """The update's slot came: render it in the loop's next frame slice (the end first)."""
        assert self._frames is not None
        self._frames.request(self._flush, urgent=self.batch.done)

    def _flush(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is not None and self._pacer.due(self._expected()) > loop.time() + 0.001:
            self.changed()  # it now needs more messages than planned: wait for them
            return
        before = self.messages
        in_running_cell(self._apply)
        if self._loop is not None:
            self._pacer.applied(self._loop.time(), self.messages - before)
            if not self._finished and self.batch.done:
                self.changed()  # the end came after this render began: show it too

    def _apply(self) -> None:
        if self._finished:
            return
        done = self.batch.done
        if self.widget is not None:
            html = render_batch(self.batch, waiting=False)
            if html != self.live.value:
                self.live.value = html
                self.messages += 1
            self.messages += self._sync_waiting()
            if done and not self.cancel_button.disabled:
                self.cancel_button.disabled = True
                self.messages += 1
        else:
            self.messages += 1
        self.updates += 1
        for hook in list(self._on_update):
            hook()
        if done:
            self._finish()

    def _finish(self) -> None:
        self._finished = True
        for hook in list(self._on_final):
            hook()
        self.close()
        if self._final_shown is not None and not self._final_shown.done():
            self._final_shown.set_result(None)

    def _sync_waiting(self) -> int:
        """One row (text + Open) per execution awaiting input; messages sent."""
        waiting = tuple(self.batch.waiting[:MAX_LISTED])
        if waiting == self._waiting_for:
            return 0
        import ipywidgets as w

        self._waiting_for = waiting
        states = self.batch.states
        rows = []
        for i in waiting:
            label = w.HTML(
                f"<b>#{i}</b> asks: <code>{esc(one_line(states[i].waiting_info, 100))}</code>"
            )
            button = w.Button(description="Open", tooltip=f"Show execution {i} to answer it")
            button.on_click(lambda _b, i=i: self._open_clicked(i))
            rows.append(w.HBox([button, label]))
        self.waiting_box.children = tuple(rows)
        return 1

    def _schedule_tick(self) -> None:
        if self.tick and self._frames is not None and not self._finished:
            slot = self._frames.next_slot(self.tick, self._phase)
            self._ticker = self._frames.loop.call_at(slot, self._on_tick)

    def _on_tick(self) -> None:
        """Elapsed time and ETA move even when nothing else does."""
        self._ticker = None
        if self._finished:
            return
        self.changed()
        self._schedule_tick()

    # ------------------------------------------------------------------ buttons

    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or running_loop() is loop:
            fn()
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nothing to do
            loop.call_soon_threadsafe(fn)

    def _open_clicked(self, index: int) -> None:
        self._on_loop(lambda: self.open(index))

    def open(self, index: int) -> Any:
        """Show input ``index``'s execution panel (with its resume form) below the batch."""
        if index in self.opened:
            return self.opened[index]
        handle = self.batch[index]
        if self.widget is None:
            panel = show_execution(handle)
        else:
            with self.opened_area:
                panel = show_execution(handle)
        self.opened[index] = panel
        return panel

    def _cancel_clicked(self, _button: Any = None) -> None:
        self._on_loop(self._start_cancel)

    def _start_cancel(self) -> None:
        if self.cancel_task is not None or self.batch.done or self._loop is None:
            return
        if self.widget is not None:
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelling…"
        self.cancel_task = self._loop.create_task(self._cancel())

    async def _cancel(self) -> None:
        try:
            await self.batch.cancel()
        except Exception as error:  # shown next to the button; the user may retry
            self.cancel_task = None
            if self.widget is not None:
                self.message.value = (
                    f'<span style="color:#c62828;">Cancel failed: {esc(type(error).__name__)}: '
                    f"{esc(error)}</span>"
                )
                self.cancel_button.description = "Cancel all"
                self.cancel_button.disabled = self.batch.done

    # ------------------------------------------------------------------ hooks

    def on_final(self, hook: Callable[[], None]) -> None:
        self._on_final.append(hook)

    def on_update(self, hook: Callable[[], None]) -> None:
        self._on_update.append(hook)

    def close(self) -> None:
        """Stop following the batch (the widgets keep the last render)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for timer in (self._timer, self._ticker):
            if timer is not None:
                timer.cancel()
        self._timer = self._ticker = None
        if self._frames is not None:
            self._frames.cancel(self._flush)

    def bundle(self) -> dict[str, Any]:
        """The display bundle: widget view (when any) + static HTML + text."""
        out: dict[str, Any] = {
            "text/plain": render_batch_text(self.batch),
            "text/html": render_batch(self.batch),
        }
        if self.widget is not None and not self._finished:
            out[WIDGET_MIME] = {
                "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id,
            }  # fmt: skip
        return out

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.bundle()


def _kernel_shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def show_batch(
    batch: BatchHandle,
    *,
    mode: str = "auto",
    refresh_rate: float = 10.0,
    display_id: str | None = None,
    tick: float | None = 1.0,
) -> BatchPanel | None:
    """Display a live panel for ``batch``; returns it (None for ``mode="none"``).

    ``mode``: ``auto`` (widgets in a kernel with ipywidgets), ``widget``, ``html``
    (static HTML re-rendered at ``refresh_rate``) or ``none``. Without a kernel the
    batch's final line of text is printed when it is done.
    """
    if mode not in ("auto", "widget", "html", "none"):
        raise ValueError(f"panel mode must be one of auto, widget, html, none; got {mode!r}")
    if mode == "none":
        return None
    shell = _kernel_shell()
    if shell is None:
        panel = BatchPanel(batch, refresh_rate=refresh_rate, widgets=False, tick=None)
        panel.on_final(lambda: print(render_batch_text(batch)))
        return panel
    from IPython.display import display, update_display

    follow_cells(shell)
    try:
        import ipywidgets  # noqa: F401

        widgets = mode in ("auto", "widget")
    except ImportError:
        widgets = False
    panel = BatchPanel(batch, refresh_rate=refresh_rate, widgets=widgets, tick=tick)
    target = display_id or f"julep-nb-batch-{uuid.uuid4().hex[:12]}"

    def refresh() -> None:
        update_display(panel.bundle(), raw=True, display_id=target)

    display(panel.bundle(), raw=True, display_id=target)
    if widgets:
        panel.on_final(refresh)
    else:
        panel.on_update(refresh)
    return panel
