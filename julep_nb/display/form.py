"""The resume form shown while an execution is ``awaiting_input``.

Fields are generated when the waiting step's ``info`` describes them (a JSON-Schema-like
``input_schema``, or ``fields``); otherwise the form is one YAML/JSON text area. Input
is validated before anything is sent: an invalid submit shows the problem in the form
and leaves the execution waiting. Submit is disabled while a request is in flight, so
each click sends at most one request, however fast the clicks come.

Button callbacks may run on a subshell thread (ipykernel 7.0–7.3 with JupyterLab
≥ 4.4); the form captures the kernel's loop when built and hops onto it with
``call_soon_threadsafe`` before touching its state, widgets or tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any

import yaml

from julep_nb.display._fields import (
    FieldSpec,
    convert,
    field_specs,
    parse_mapping,
    schema_problem,
)
from julep_nb.live.sync import running_loop
from julep_nb.sources.julep.errors import InputError

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["ResumeForm"]

SubmitCallback = Callable[[dict[str, Any]], Awaitable[None]]
ERROR_STYLE = (
    "color:#c62828;background:rgba(198,40,40,.1);border-left:3px solid #c62828;"
    "padding:2px 8px;white-space:pre-wrap;"
)
NOTE_STYLE = "color:var(--jp-ui-font-color2,#616161);"
TEXTAREA_HINT = "YAML or JSON object, e.g.\nanswer: 42"


def _field_widget(spec: FieldSpec) -> ipywidgets.Widget:
    import ipywidgets as w

    label = f"{spec.label}{' *' if spec.required else ''}"
    common: dict[str, Any] = {
        "description": label,
        "style": {"description_width": "initial"},
        "layout": w.Layout(width="100%", max_width="560px"),
        "tooltip": spec.description,
    }
    if spec.enum is not None:
        options = [("—", None), *((str(v), v) for v in spec.enum)]
        value = spec.default if spec.default in spec.enum else None
        return w.Dropdown(options=options, value=value, **common)
    if spec.type == "boolean":
        return w.Checkbox(value=bool(spec.default), indent=False, **common)
    if spec.type == "json":
        text = "" if spec.default is None else yaml.safe_dump(spec.default).strip()
        return w.Textarea(value=text, placeholder="YAML or JSON", **common)
    text = "" if spec.default is None else str(spec.default)
    return w.Text(value=text, placeholder=spec.type, **common)


class ResumeForm:
    """Inputs, a Resume button and a message line; ``on_submit(input)`` sends the resume."""

    def __init__(
        self,
        info: Any,
        on_submit: SubmitCallback,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        import ipywidgets as w

        self.info = info
        self._on_submit = on_submit
        # Captured now, on the kernel's loop: clicks may arrive on another thread.
        self._loop = loop or running_loop()
        self.specs = field_specs(info)
        self.inputs: dict[str, ipywidgets.Widget] = {s.name: _field_widget(s) for s in self.specs}
        self.textarea: ipywidgets.Textarea | None = None
        if not self.specs:
            self.textarea = w.Textarea(
                placeholder=TEXTAREA_HINT,
                rows=4,
                layout=w.Layout(width="100%", max_width="560px"),
            )
        self.submit = w.Button(description="Resume", button_style="primary", icon="play")
        self.message = w.HTML("")
        self.sent = 0  # requests started by this form
        self.pending: asyncio.Future[None] | None = None  # the request in flight
        self._busy = False
        self._done = False
        self._error: str | None = None
        self.submit.on_click(self._clicked)
        title = w.HTML(f'<span style="{NOTE_STYLE}">Answer to resume the execution:</span>')
        body = list(self.inputs.values()) if self.specs else [self.textarea]
        self.widget = w.VBox([title, *body, w.HBox([self.submit]), self.message])

    # ------------------------------------------------------------------ values

    def values(self) -> dict[str, Any]:
        """The resume input from the form (InputError says what to fix)."""
        if self.textarea is not None:
            return parse_mapping(self.textarea.value)
        payload: dict[str, Any] = {}
        problems: list[str] = []
        for spec in self.specs:
            try:
                value = convert(spec, self.inputs[spec.name].value)
            except InputError as error:
                problems.append(str(error))
                continue
            if value is None:
                if spec.required:
                    problems.append(f"{spec.label} is required.")
                continue
            payload[spec.name] = value
        if not problems and isinstance(self.info, Mapping):
            problem = schema_problem(self.info.get("input_schema"), payload)
            if problem:
                problems.append(problem)
        if problems:
            raise InputError("\n".join(problems) + "\nNothing was sent.")
        return payload

    # ------------------------------------------------------------------ clicks

    def _clicked(self, _button: Any = None) -> None:
        loop = self._loop
        if loop is None or running_loop() is loop:
            self._submit()
            return
        try:
            loop.call_soon_threadsafe(self._submit)
        except RuntimeError:  # the loop was closed (kernel restarted)
            self._show_error("The kernel's event loop is gone; re-run the cell to resume.")

    def _submit(self) -> None:
        """On the loop: validate, then start exactly one request unless one is running."""
        if self._busy or self._done:
            return
        try:
            payload = self.values()
        except InputError as error:
            self._show_error(str(error))
            return
        self._set_busy(True)
        self.sent += 1
        if self._loop is None:  # no event loop anywhere (a script): send synchronously
            asyncio.run(self._send(payload))
            return
        self.pending = self._loop.create_task(self._send(payload))

    async def _send(self, payload: dict[str, Any]) -> None:
        try:
            await self._on_submit(payload)
        except Exception as error:  # shown in the form; the user may fix and retry
            self._show_error(f"{type(error).__name__}: {error}")
            self._set_busy(False)
            return
        self._done = True
        self.message.value = f'<span style="{NOTE_STYLE}">Sent; the execution continues…</span>'
        self.submit.description = "Sent"

    # ------------------------------------------------------------------ display

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self._error = None
        with self.submit.hold_sync():
            self.submit.disabled = busy
            self.submit.description = "Sending…" if busy else "Resume"
        if busy:
            self.message.value = ""

    def _show_error(self, text: str) -> None:
        self._error = text
        self.message.value = f'<div style="{ERROR_STYLE}">{escape(text)}</div>'

    @property
    def done(self) -> bool:
        """The answer was sent and accepted; the form is spent."""
        return self._done

    @property
    def busy(self) -> bool:
        """A request is in flight."""
        return self._busy

    @property
    def error(self) -> str | None:
        """The error the form shows (None when it shows none)."""
        return self._error
