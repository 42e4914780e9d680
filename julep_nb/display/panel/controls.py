"""The panel's controls: one small class per action a source offers.

A control is a few widgets (a button in the column beside the header, and a body
in the drawer below it: a confirmation, a form, its error line) and how they follow
the execution's state. The panel builds one for each capability of the handle, so a
source without ``terminate`` shows no Terminate button (see :func:`build_controls`).

Every action control works the same way (:class:`ActionControl`):

- a click may arrive on another thread (ipykernel 7.0–7.3 runs widget callbacks on a
  subshell thread): it hops to the kernel's loop before touching anything;
- the control's inputs are read first; a problem is shown and nothing is sent;
- one request at a time, however many clicks;
- a failure (``ActionRefused``, ``ActionUnsupported``, ``SourceError``…) is shown next
  to the control, escaped, and the control can be used again;
- after a terminal status the panel *settles* the controls (disabled, the button
  saying how it ended), in paced steps after the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from html import escape
from typing import TYPE_CHECKING, Any, ClassVar

from julep_nb.display.panel.view import error_html
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.state import ExecutionState
from julep_nb.live.sync import running_loop
from julep_nb.sources.julep.errors import InputError

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.live.handle import ExecutionHandle

__all__ = [
    "ActionControl",
    "CancelControl",
    "Control",
    "Request",
    "TerminateControl",
    "make_button",
    "note_html",
    "on_loop",
    "set_traits",
]

Request = Callable[[], Awaitable[Any]]
NOTE_STYLE = "color:var(--jp-ui-font-color2,#616161);"
BUTTON_LAYOUT = {"width": "auto", "min_width": "110px"}


def on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], None]) -> None:
    """``fn()`` on ``loop``: at once when already there, else handed over thread-safely."""
    if loop is None or running_loop() is loop:
        fn()
        return
    with contextlib.suppress(RuntimeError):  # a closed loop: the kernel is gone
        loop.call_soon_threadsafe(fn)


def note_html(text: str) -> str:
    """A muted, escaped line (``text`` may come from the service)."""
    return f'<span style="{NOTE_STYLE}">{escape(text)}</span>'


class Control:
    """One control of the panel: its widgets, and how they follow the state."""

    capability: ClassVar[Capability]
    button: ipywidgets.Button | None = None  # in the column beside the header
    body: ipywidgets.Widget | None = None  # in the drawer below the header
    settled = False  # put at rest after the execution ended

    def sync(self, state: ExecutionState) -> None:
        """Follow a newly shown state."""

    def expected_messages(self, state: ExecutionState) -> int:
        """Messages :meth:`sync` will send for ``state``."""
        return 0

    def models(self) -> tuple[Any, ...]:
        """What :meth:`sync` and :meth:`settle` may change, one entry per widget model."""
        return ()

    def settle(self, state: ExecutionState) -> None:
        """The execution ended (``state`` is terminal): put the control at rest."""
        self.settled = True

    def settle_messages(self, state: ExecutionState) -> int:
        """Messages :meth:`settle` will send."""
        return 0


def make_button(description: str, icon: str, tooltip: str, **style: Any) -> ipywidgets.Button:
    """A button of the panel's controls (they share one size)."""
    import ipywidgets as w

    return w.Button(
        description=description,
        icon=icon,
        tooltip=tooltip,
        layout=w.Layout(**BUTTON_LAYOUT),
        **style,
    )


class ActionControl(Control):
    """A control that sends one action at a time and shows how it went.

    Subclasses say what to send (:meth:`request`, reading their inputs: an
    ``InputError`` is shown and nothing is sent) and how their widgets look while a
    request is in flight (:meth:`show_busy`).
    """

    verb: ClassVar[str]  # the button's word, and the action's in messages: "Cancel"
    keeps_busy: ClassVar[bool] = False  # after success: wait for the end (cancel, terminate)
    ends_in: ClassVar[tuple[ExecutionStatus, str] | None] = None  # status, the button's word then
    button: ipywidgets.Button

    def __init__(self, handle: ExecutionHandle, *, loop: asyncio.AbstractEventLoop | None) -> None:
        import ipywidgets as w

        self.handle = handle
        self.loop = loop  # the kernel's, captured when the panel was built
        self.message = w.HTML()  # the control's error (or note) line
        self.requests = 0  # requests started
        self.task: asyncio.Future[None] | None = None  # the request in flight, or the last
        self.busy = False
        self.error: str | None = None  # what the error line shows, as text

    # ------------------------------------------------------------------ subclasses

    def request(self) -> Request:
        """What to send, from the control's inputs (InputError: nothing is sent)."""
        raise NotImplementedError

    def show_busy(self, busy: bool) -> None:
        """Show that a request is (or no longer is) in flight."""

    def succeeded(self, result: Any) -> None:
        """The request went through; ``result`` is what the action returned."""

    # ------------------------------------------------------------------ sending

    def clicked(self, _widget: Any = None) -> None:
        """A button callback (any thread): start a request on the loop."""
        on_loop(self.loop, self.start)

    def start(self) -> None:
        """On the loop: read the inputs, then send exactly one request."""
        if self.busy or self.settled:
            return
        try:
            call = self.request()
        except InputError as error:
            self.show_error(str(error))
            return
        self.busy = True
        self.requests += 1
        self.error = None
        self.message.value = ""
        self.show_busy(True)
        if self.loop is None:  # no event loop anywhere (a script): send synchronously
            asyncio.run(self._send(call))
            return
        self.task = self.loop.create_task(self._send(call))

    async def _send(self, call: Request) -> None:
        try:
            result = await call()
        except Exception as error:  # shown next to the control; the user may retry
            self.busy = False
            self.show_error(f"{self.verb} failed: {type(error).__name__}: {error}")
            if not self.settled:
                self.show_busy(False)
            return
        self.busy = self.keeps_busy and not self.settled
        if not (self.busy or self.settled):
            self.show_busy(False)
        self.succeeded(result)

    def show_error(self, text: str) -> None:
        self.error = text
        self.message.value = error_html(text)

    # ------------------------------------------------------------------ at rest

    def final_look(self, state: ExecutionState) -> tuple[bool, str]:
        """The button once the execution ended: disabled, saying how it ended if it did."""
        ended = self.ends_in is not None and state.status is self.ends_in[0]
        return True, self.ends_in[1] if ended and self.ends_in else self.verb

    def models(self) -> tuple[Any, ...]:
        return ((self.button.disabled, self.button.description), self.message.value)

    def settle(self, state: ExecutionState) -> None:
        self.settled = True
        disabled, description = self.final_look(state)
        set_traits(self.button, disabled=disabled, description=description)

    def settle_messages(self, state: ExecutionState) -> int:
        look = (self.button.disabled, self.button.description)
        return int(look != self.final_look(state))


class CancelControl(ActionControl):
    """Cancel: ask the service to stop the execution (it may clean up first)."""

    capability = Capability.CANCEL
    verb = "Cancel"
    keeps_busy = True
    ends_in = (ExecutionStatus.CANCELLED, "Cancelled")

    def __init__(self, handle: ExecutionHandle, *, loop: asyncio.AbstractEventLoop | None) -> None:
        super().__init__(handle, loop=loop)
        self.button = make_button("Cancel", "stop", "Cancel the execution")
        self.button.on_click(self.clicked)
        self.body = self.message

    def request(self) -> Request:
        return self.handle.cancel

    def show_busy(self, busy: bool) -> None:
        set_traits(self.button, disabled=busy, description="Cancelling…" if busy else "Cancel")


class TerminateControl(ActionControl):
    """Terminate: stop the execution at once, after a confirmation, with a reason."""

    capability = Capability.TERMINATE
    verb = "Terminate"
    keeps_busy = True
    ends_in = (ExecutionStatus.TERMINATED, "Terminated")

    def __init__(self, handle: ExecutionHandle, *, loop: asyncio.AbstractEventLoop | None) -> None:
        import ipywidgets as w

        super().__init__(handle, loop=loop)
        self.button = make_button("Terminate", "ban", "Stop the execution at once (asks first)")
        self.button.on_click(self._ask_clicked)
        self.reason = w.Text(
            placeholder="reason (optional)",
            layout=w.Layout(flex="1 1 auto", max_width="420px"),
        )
        self.confirm_button = make_button(
            "Terminate now", "ban", "Terminate the execution", button_style="danger"
        )
        self.confirm_button.on_click(self.clicked)
        self.keep_button = make_button("Keep running", "", "Close this without terminating")
        self.keep_button.on_click(self._keep_clicked)
        prompt = w.HTML(note_html("Terminate at once? The execution cannot clean up."))
        self.confirm = w.VBox(
            [prompt, w.HBox([self.reason, self.confirm_button, self.keep_button])],
            layout=w.Layout(display="none"),
        )
        self.body = w.VBox([self.confirm, self.message])

    @property
    def asking(self) -> bool:
        """The confirmation is open."""
        return self.confirm.layout.display != "none"

    def _ask_clicked(self, _widget: Any = None) -> None:
        on_loop(self.loop, self.ask)

    def _keep_clicked(self, _widget: Any = None) -> None:
        on_loop(self.loop, lambda: self._show_confirm(False))

    def ask(self) -> None:
        """On the loop: open (or close again) the confirmation; nothing is sent yet."""
        if not (self.busy or self.settled):
            self._show_confirm(not self.asking)

    def _show_confirm(self, shown: bool) -> None:
        self.confirm.layout.display = None if shown else "none"

    def request(self) -> Request:
        reason = self.reason.value.strip() or None

        async def terminate() -> None:
            await self.handle.terminate(reason=reason)

        return terminate

    def show_busy(self, busy: bool) -> None:
        set_traits(self.button, disabled=busy, description="Terminating…" if busy else "Terminate")
        self._show_confirm(not busy)  # a failure leaves it open: one click to retry

    def models(self) -> tuple[Any, ...]:
        return (*super().models(), self.confirm.layout.display)

    def settle(self, state: ExecutionState) -> None:
        super().settle(state)
        self._show_confirm(False)

    def settle_messages(self, state: ExecutionState) -> int:
        return super().settle_messages(state) + int(self.asking)


def set_traits(widget: Any, **values: Any) -> None:
    """Set several traits of ``widget`` in one message."""
    with widget.hold_sync():
        for name, value in values.items():
            setattr(widget, name, value)
