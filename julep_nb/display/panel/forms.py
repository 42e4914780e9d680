"""The panel's form controls: Signal, Query, and the resume form's place.

- :class:`SignalControl`: a signal name (a dropdown of the names the source reports
  in ``state.signals``, else free text) and a YAML/JSON payload, parsed before
  anything is sent;
- :class:`QueryControl`: a query name (a dropdown of ``state.queries``, else free
  text) and YAML/JSON arguments; the answer is shown, escaped;
- :class:`ResumeControl`: the resume form of :mod:`julep_nb.display.form`, only while
  the execution awaits input.

Signal and Query are opened from their button beside the header; their form sits
in the drawer below it, built the first time it is opened (or its fields are read).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from julep_nb.display._fields import parse_arguments, parse_value
from julep_nb.display._format import bounded_json, esc
from julep_nb.display._style import PRE
from julep_nb.display.form import ResumeForm
from julep_nb.display.panel.controls import (
    ActionControl,
    BodyPart,
    Control,
    Request,
    close_all,
    make_button,
    note_html,
    on_loop,
    set_traits,
)
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.errors import InputError

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.display.panel.view import Drawer
    from julep_nb.live.handle import ExecutionHandle

__all__ = ["QueryControl", "ResumeControl", "SignalControl"]

ANSWER_CHARS = 20_000
FIELD = {"flex": "1 1 auto", "max_width": "420px"}


class _FormControl(ActionControl):
    """An action with a form in the drawer, opened and closed by its button."""

    busy_word = "Sending…"  # the form's button while a request is in flight
    send = "Send"  # ...and otherwise
    send_button: BodyPart[ipywidgets.Button] = BodyPart()

    def pressed(self, _widget: Any = None) -> None:
        on_loop(self.loop, self.toggle)

    def make_send_button(self, tooltip: str) -> ipywidgets.Button:
        """The form's button (disabled in a form first built after the execution ended)."""
        button = make_button(self.send, self.face[1], tooltip, disabled=self.settled)
        button.on_click(self.clicked)
        return button

    @property
    def opened(self) -> bool:
        """The form is open."""
        return self.body is not None and self.body.layout.display != "none"

    def toggle(self) -> None:
        """On the loop: open the form (building it the first time), or close it."""
        self.build().layout.display = "none" if self.opened else None

    def show_error(self, text: str) -> None:
        super().show_error(text)
        if not self.opened:  # the error line is in the form: show it
            self.toggle()

    def show_busy(self, busy: bool) -> None:
        word = self.busy_word if busy else self.send
        set_traits(self.send_button, disabled=busy, description=word)

    def models(self) -> tuple[Any, ...]:
        send = (self.send_button.disabled, self.send_button.description) if self.built else None
        return (*super().models(), send)

    def settle(self, state: ExecutionState) -> None:
        super().settle(state)
        if self.built:
            set_traits(self.send_button, disabled=True, description=self.send)

    def settle_messages(self, state: ExecutionState) -> int:
        if not self.built:
            return super().settle_messages(state)
        send = (self.send_button.disabled, self.send_button.description)
        return super().settle_messages(state) + int(send != (True, self.send))


class _NamedFormControl(_FormControl):
    """A form whose first field names what to send: a dropdown of the names the source
    reports (:meth:`declared`), else free text; the row holds it and the send button."""

    word = "name"  # what the name names ("signal", "query")
    to = "send"  # what is done with it ("send", "ask")
    name: BodyPart[ipywidgets.Widget] = BodyPart()  # a dropdown of known names, or free text
    row: BodyPart[ipywidgets.HBox] = BodyPart()  # the name, other fields, the send button

    def __init__(
        self,
        handle: ExecutionHandle,
        *,
        loop: asyncio.AbstractEventLoop | None,
        drawer: Drawer | None = None,
    ) -> None:
        super().__init__(handle, loop=loop, drawer=drawer)
        self.declared_names: tuple[str, ...] = ()  # the names the source reports (the state shown)
        self.names: tuple[str, ...] = ()  # the names the dropdown offers (none: free text)

    @staticmethod
    def declared(state: ExecutionState) -> tuple[str, ...]:
        """The names the source reports for this form."""
        raise NotImplementedError

    def row_fields(self) -> tuple[ipywidgets.Widget, ...]:
        """The fields between the name and the send button."""
        return ()

    def make_row(self) -> ipywidgets.HBox:
        import ipywidgets as w

        self.names = self.declared_names
        self.name = self._name_widget(self.names)
        self.row = w.HBox([self.name, *self.row_fields(), self.send_button])
        return self.row

    def _name_widget(self, names: tuple[str, ...], chosen: Any = None) -> ipywidgets.Widget:
        import ipywidgets as w

        layout = w.Layout(**FIELD)
        if names:  # nothing chosen yet: a click on Send must not pick one for the user
            options = [(f"— choose a {self.word} —", ""), *((n, n) for n in names)]
            value = chosen if chosen in names else ""
            return w.Dropdown(options=options, value=value, layout=layout)
        return w.Text(placeholder=f"{self.word} name", layout=layout)

    def chosen_name(self) -> str:
        """The name to send; an :class:`InputError` when none is given."""
        name = (self.name.value or "").strip()
        if not name:
            raise InputError(f"Name the {self.word} to {self.to}; nothing was sent.")
        return name

    def sync(self, state: ExecutionState) -> None:
        names = self.declared_names = self.declared(state)
        if self.built and names != self.names:  # other names: a new field
            old, self.names = self.name, names
            self.name = self._name_widget(names, getattr(old, "value", None))
            self.row.children = (self.name, *self.row.children[1:])
            close_all(old)

    def expected_messages(self, state: ExecutionState) -> int:
        return int(self.built and self.declared(state) != self.names)

    def models(self) -> tuple[Any, ...]:
        return (*super().models(), self.row.children if self.built else None)


class SignalControl(_NamedFormControl):
    """Send the execution a named signal with a YAML/JSON payload."""

    capability = Capability.SIGNAL
    verb = "Signal"
    word = "signal"
    face = ("Signal", "paper-plane", "Send the execution a signal")
    payload: BodyPart[ipywidgets.Textarea] = BodyPart()

    @staticmethod
    def declared(state: ExecutionState) -> tuple[str, ...]:
        return state.signals

    def make_body(self) -> ipywidgets.Widget:
        import ipywidgets as w

        self.payload = w.Textarea(
            placeholder="payload: YAML or JSON, e.g.\nnote: ok",
            rows=3,
            layout=w.Layout(width="100%", max_width="560px"),
        )
        self.send_button = self.make_send_button("Send the signal")
        title = w.HTML(note_html("Signal the execution:"))
        return w.VBox(
            [title, self.make_row(), self.payload, self.message], layout=w.Layout(display="none")
        )

    def request(self) -> Request:
        name = self.chosen_name()
        payload = parse_value(self.payload.value)

        async def signal() -> str:
            await self.handle.signal(name, payload)
            return name

        return signal

    def succeeded(self, result: Any) -> None:
        self.message.value = note_html(f"Sent signal {result}.")


class QueryControl(_NamedFormControl):
    """Ask the execution a named query (nothing changes) and show its answer."""

    capability = Capability.QUERY
    verb = "Query"
    word, to = "query", "ask"
    face = ("Query", "question", "Ask the execution a query")
    busy_word = "Asking…"
    send = "Ask"
    arguments: BodyPart[ipywidgets.Text] = BodyPart()
    answer: BodyPart[ipywidgets.HTML] = BodyPart()  # the last query's answer

    @staticmethod
    def declared(state: ExecutionState) -> tuple[str, ...]:
        return state.queries

    def row_fields(self) -> tuple[ipywidgets.Widget, ...]:
        return (self.arguments,)

    def make_body(self) -> ipywidgets.Widget:
        import ipywidgets as w

        self.arguments = w.Text(
            placeholder="arguments: YAML/JSON list, e.g. [1, x]", layout=w.Layout(**FIELD)
        )
        self.send_button = self.make_send_button("Ask the query")
        self.answer = w.HTML()
        title = w.HTML(note_html("Query the execution:"))
        return w.VBox(
            [title, self.make_row(), self.answer, self.message], layout=w.Layout(display="none")
        )

    def request(self) -> Request:
        name = self.chosen_name()
        arguments = parse_arguments(self.arguments.value)

        async def query() -> tuple[str, Any]:
            return name, await self.handle.query(name, *arguments)

        return query

    def show_busy(self, busy: bool) -> None:
        super().show_busy(busy)
        if busy:
            self.answer.value = ""  # an answer shown is the answer to the last query

    def succeeded(self, result: Any) -> None:
        name, answer = result
        text, cut = bounded_json(answer, ANSWER_CHARS)
        more = " (truncated)" if cut else ""
        self.answer.value = (
            f'{note_html(f"{name} answered{more}:")}<pre style="{PRE}">{esc(text)}</pre>'
        )


class ResumeControl(Control):
    """The resume form, in the panel's form box, only while the execution awaits input.

    A new question, or a new wait after a sent answer, gets a new form (a form that
    was answered is spent).
    """

    capability = Capability.RESUME

    def __init__(
        self,
        handle: ExecutionHandle,
        *,
        loop: asyncio.AbstractEventLoop | None,
        box: ipywidgets.Box,
    ) -> None:
        self.handle = handle
        self.loop = loop
        self.box = box
        self.form: ResumeForm | None = None
        self._form_for: tuple[str, str | None] | None = None  # (question, wait entry id)

    @staticmethod
    def _wait_of(state: ExecutionState) -> tuple[str, str | None]:
        """What the execution waits for: the question (as JSON) and the waiting entry."""
        latest = state.latest_entry
        waits = latest is not None and latest.status is ExecutionStatus.AWAITING_INPUT
        wait_id = latest.id if waits and latest is not None else None
        return bounded_json(state.waiting_info, 10_000)[0], wait_id

    def _needs_form(self, state: ExecutionState) -> bool:
        if state.status is not ExecutionStatus.AWAITING_INPUT:
            return False
        if self.form is None or self._form_for is None:
            return True
        question, wait_id = self._wait_of(state)
        same_wait = not self.form.done or self._form_for[1] in (None, wait_id)
        return not (self._form_for[0] == question and same_wait)

    def sync(self, state: ExecutionState) -> None:
        if state.status is not ExecutionStatus.AWAITING_INPUT:
            if self.form is not None:
                self._show(None)
            return
        if self._needs_form(state):
            self._form_for = self._wait_of(state)
            self._show(ResumeForm(state.waiting_info, self.handle.resume, loop=self.loop))

    def _show(self, form: ResumeForm | None) -> None:
        """Put ``form`` (or nothing) in the box, then close every model of the one before."""
        old, self.form = self.form, form
        self.box.children = () if form is None else (form.widget,)
        if old is not None:  # out of the box first: no view shows a closed model
            close_all(old.widget)

    def expected_messages(self, state: ExecutionState) -> int:
        waiting = state.status is ExecutionStatus.AWAITING_INPUT
        return int(self._needs_form(state) or (not waiting and self.form is not None))

    def models(self) -> tuple[Any, ...]:
        return (self.box.children,)

    def settle(self, state: ExecutionState) -> None:
        self.settled = True
        self.sync(state)

    def settle_messages(self, state: ExecutionState) -> int:
        return self.expected_messages(state)
