"""The panel's controls: one small class per action a source offers.

A control is a few widgets (a button in the column beside the header, and a body
in the drawer below it: a confirmation, a form, its error line) and how they follow
the execution's state. The panel builds one for each capability of the handle, so a
source without ``terminate`` shows no Terminate button (see :func:`build_controls`).

A control's body is built the first time it is needed: its button opens it, an
error or a note must be shown, or code reads one of its widgets (a :class:`BodyPart`).
Until then the control is its button alone: a panel whose drawer nobody opened
holds no widget models for it (200 panels in one kernel would otherwise hold ~19,000,
most never shown, and the garbage collector walks them all).

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
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from julep_nb.display.panel.view import error_html, widget_tree
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.state import ExecutionState
from julep_nb.live.sync import running_loop
from julep_nb.sources.julep.errors import InputError

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.display.panel.view import Drawer
    from julep_nb.live.handle import ExecutionHandle

__all__ = [
    "ActionControl",
    "BodyPart",
    "CancelControl",
    "Control",
    "Request",
    "TerminateControl",
    "make_button",
    "note_html",
    "on_loop",
    "close_all",
    "set_traits",
]

Request = Callable[[], Awaitable[Any]]
NOTE_STYLE = "color:var(--jp-ui-font-color2,#616161);"
BUTTON_LAYOUT = {"width": "auto", "min_width": "110px"}
W = TypeVar("W")


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
    body: ipywidgets.Widget | None = None  # in the drawer below the header, once built
    settled = False  # put at rest after the execution ended

    def sync(self, state: ExecutionState) -> None:
        """Follow a newly shown state."""

    def expected_messages(self, state: ExecutionState) -> int:
        """Messages :meth:`sync` will send for ``state``."""
        return 0

    def models(self) -> tuple[Any, ...]:
        """What :meth:`sync` and :meth:`settle` may change, one entry per widget model.

        Always as many entries (None for a widget not built yet), so the panel can
        compare them before and after a change.
        """
        return ()

    def settle(self, state: ExecutionState) -> None:
        """The execution ended (``state`` is terminal): put the control at rest."""
        self.settled = True

    def settle_messages(self, state: ExecutionState) -> int:
        """Messages :meth:`settle` will send."""
        return 0


class BodyPart(Generic[W]):
    """A widget of a control's body: reading it before the body exists builds the body.

    :meth:`ActionControl.make_body` assigns the widget to the instance, which then
    shadows this descriptor (as :func:`functools.cached_property` does).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, control: None, owner: Any = None) -> BodyPart[W]: ...

    @overload
    def __get__(self, control: ActionControl, owner: Any = None) -> W: ...

    def __get__(self, control: ActionControl | None, owner: Any = None) -> BodyPart[W] | W:
        if control is None:
            return self
        control.build()
        return control.__dict__[self.name]


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
    ``InputError`` is shown and nothing is sent), what their body holds
    (:meth:`make_body`) and how their widgets look while a request is in flight
    (:meth:`show_busy`).
    """

    verb: ClassVar[str]  # the button's word, and the action's in messages: "Cancel"
    keeps_busy: ClassVar[bool] = False  # after success: wait for the end (cancel, terminate)
    ends_in: ClassVar[tuple[ExecutionStatus, str] | None] = None  # status, the button's word then
    face: ClassVar[tuple[str, str, str]]  # the button: description, icon, tooltip
    button: ipywidgets.Button
    message: BodyPart[ipywidgets.HTML] = BodyPart()  # the error (or note) line, in the body

    def __init__(
        self,
        handle: ExecutionHandle,
        *,
        loop: asyncio.AbstractEventLoop | None,
        drawer: Drawer | None = None,
    ) -> None:
        self.handle = handle
        self.loop = loop  # the kernel's, captured when the panel was built
        self.drawer = drawer  # where the body goes once it is built
        self.requests = 0  # requests started
        self.task: asyncio.Future[None] | None = None  # the request in flight, or the last
        self.busy = False
        self.error: str | None = None  # what the error line shows, as text
        self.button = make_button(*self.face)
        self.button.on_click(self.pressed)

    # ------------------------------------------------------------------ subclasses

    def pressed(self, _widget: Any = None) -> None:
        """The button's callback (any thread); by default it sends the action."""
        self.clicked()

    def request(self) -> Request:
        """What to send, from the control's inputs (InputError: nothing is sent)."""
        raise NotImplementedError

    def make_body(self) -> ipywidgets.Widget:
        """The body's widgets, around :attr:`message` (assign each :class:`BodyPart`)."""
        return self.message

    def show_busy(self, busy: bool) -> None:
        """Show that a request is (or no longer is) in flight."""

    def succeeded(self, result: Any) -> None:
        """The request went through; ``result`` is what the action returned."""

    # ------------------------------------------------------------------ the body

    @property
    def built(self) -> bool:
        """The body exists (until it is needed, the control is its button alone)."""
        return self.body is not None

    def build(self) -> ipywidgets.Widget:
        """The body: made and put in the drawer the first time it is needed."""
        if self.body is None:
            import ipywidgets as w

            self.message = w.HTML(error_html(self.error) if self.error else "")
            self.body = self.make_body()
            if self.drawer is not None:
                self.drawer.put(self.capability, self.body)
        return self.body

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
        if self.built:
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
        """Show ``text`` (escaped) on the error line, building the body if need be."""
        self.error = text
        self.message.value = error_html(text)

    # ------------------------------------------------------------------ at rest

    def final_look(self, state: ExecutionState) -> tuple[bool, str]:
        """The button once the execution ended: disabled, saying how it ended if it did."""
        ended = self.ends_in is not None and state.status is self.ends_in[0]
        return True, self.ends_in[1] if ended and self.ends_in else self.verb

    def models(self) -> tuple[Any, ...]:
        message = self.message.value if self.built else None
        return ((self.button.disabled, self.button.description), message)

    def settle(self, state: ExecutionState) -> None:
        self.settled = True
        disabled, description = self.final_look(state)
        set_traits(self.button, disabled=disabled, description=description)

    def settle_messages(self, state: ExecutionState) -> int:
        look = (self.button.disabled, self.button.description)
        return int(look != self.final_look(state))


class CancelControl(ActionControl):
    """Cancel: ask the service to stop the execution (it may clean up first).

    Its body is its error line alone, built when a failure must be shown.
    """

    capability = Capability.CANCEL
    verb = "Cancel"
    keeps_busy = True
    ends_in = (ExecutionStatus.CANCELLED, "Cancelled")
    face = ("Cancel", "stop", "Cancel the execution")

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
    face = ("Terminate", "ban", "Stop the execution at once (asks first)")
    reason: BodyPart[ipywidgets.Text] = BodyPart()
    confirm_button: BodyPart[ipywidgets.Button] = BodyPart()
    keep_button: BodyPart[ipywidgets.Button] = BodyPart()
    confirm: BodyPart[ipywidgets.VBox] = BodyPart()  # the confirmation (hidden until asked)

    def make_body(self) -> ipywidgets.Widget:
        import ipywidgets as w

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
        return w.VBox([self.confirm, self.message])

    @property
    def asking(self) -> bool:
        """The confirmation is open."""
        return self.built and self.confirm.layout.display != "none"

    def pressed(self, _widget: Any = None) -> None:
        on_loop(self.loop, self.ask)

    def _keep_clicked(self, _widget: Any = None) -> None:
        on_loop(self.loop, lambda: self._show_confirm(False))

    def ask(self) -> None:
        """On the loop: open (or close again) the confirmation; nothing is sent yet."""
        if not (self.busy or self.settled):
            self._show_confirm(not self.asking)

    def _show_confirm(self, shown: bool) -> None:
        if shown or self.built:  # a confirmation never built is closed already
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
        asked = self.confirm.layout.display if self.built else None
        return (*super().models(), asked)

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


def close_all(widget: Any) -> None:
    """Close ``widget``, its children and their layouts and styles: every model it opened.

    ``Widget.close`` closes that one model only; a replaced field or form would leave its
    layout, style and children open in the kernel and the frontend until the kernel ends.
    """
    for found in widget_tree(widget):
        for part in ("layout", "style"):
            inner = getattr(found, part, None)
            if inner is not None and hasattr(inner, "close"):
                inner.close()
        found.close()
