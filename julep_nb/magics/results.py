"""How magic results display: small list/dict wrappers and IPython formatters.

A magic's return value is shown by IPython's displayhook. Lists of executions or
transitions and the settings come back as plain ``list``/``dict`` subclasses that
render with :mod:`julep_nb.display.html`; ``Task`` and ``ExecutionState`` get
formatters while the extension is loaded. A handle whose live panel the magic
already displayed is not displayed a second time as the cell's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.display import display

if TYPE_CHECKING:
    from julep_nb.sources.julep.models import Execution, Transition

# The types the formatters are for, by name: registering them imports nothing, so
# %load_ext stays quick (the display layer loads when the first result shows).
_STATE = ("julep_nb.live.state", "ExecutionState")
_TASK = ("julep_nb.sources.julep.models", "Task")
_HANDLE = ("julep_nb.live.handle", "ExecutionHandle")
_BATCH = ("julep_nb.live.batch.handle", "BatchHandle")

__all__ = ["ExecutionList", "SettingsView", "TransitionList", "register", "unregister"]


class ExecutionList(list["Execution"]):
    """A task's executions (a plain list) that display as a table."""

    def _repr_html_(self) -> str:
        from julep_nb.display.html import render_executions

        return render_executions(list(self))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        lines = [f"{len(self)} executions"]
        lines += [f"  {e.id}  {e.status.value:<15} {e.created_at:%Y-%m-%d %H:%M:%S}" for e in self]
        p.text("\n".join(lines))


class TransitionList(list["Transition"]):
    """An execution's transitions (a plain list) that display as a table."""

    def _repr_html_(self) -> str:
        from julep_nb.display.html import render_transitions

        return render_transitions(list(self))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        lines = [f"{len(self)} transitions"]
        lines += [
            f"  {t.created_at:%H:%M:%S.%f}  {t.type.value:<13} {t.step_label or t.current}"
            for t in self
        ]
        p.text("\n".join(lines))


class SettingsView(dict[str, Any]):
    """Resolved settings, already redacted, that display as a table."""

    def _repr_html_(self) -> str:
        from julep_nb.display.html import render_settings

        return render_settings(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        width = max((len(k) for k in self), default=0)
        p.text("\n".join(f"{k:<{width}}  {v}" for k, v in self.items()))


def _state_html(state: Any) -> str:
    from julep_nb.display.html import render_execution

    return render_execution(state)


def _state_text(state: Any, p: Any, cycle: bool) -> None:
    from julep_nb.display.html import render_text

    p.text(render_text(state))


def _task_html(task: Any) -> str:
    from julep_nb.display.html import render_task

    return render_task(task)


def _task_text(task: Any, p: Any, cycle: bool) -> None:
    steps = len(task.main)
    p.text(f"Julep task {task.name!r} ({task.id}), {steps} step{'s' if steps != 1 else ''}")


def register(shell: Any, already_shown: Callable[[Any], bool]) -> None:
    """Install the formatters; ``already_shown(handle)`` says a panel is on screen."""
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type_by_name(*_STATE, _state_html)
    formatters["text/plain"].for_type_by_name(*_STATE, _state_text)
    formatters["text/html"].for_type_by_name(*_TASK, _task_html)
    formatters["text/plain"].for_type_by_name(*_TASK, _task_text)

    def display_handle(handle: Any) -> None:
        if already_shown(handle):
            return  # the live panel above is this result
        display(handle._repr_mimebundle_(), raw=True)

    def display_batch(batch: Any) -> None:
        if already_shown(batch):
            return  # the batch panel above is this result
        from julep_nb.display.batch_panel import render_batch, render_batch_text

        bundle = {"text/plain": render_batch_text(batch), "text/html": render_batch(batch)}
        display(bundle, raw=True)

    rich = shell.display_formatter.ipython_display_formatter
    rich.for_type_by_name(*_HANDLE, display_handle)
    rich.for_type_by_name(*_BATCH, display_batch)


def unregister(shell: Any) -> None:
    """Remove what :func:`register` installed (by name, or by type once it was used)."""
    formatters = shell.display_formatter.formatters
    for mime in ("text/html", "text/plain"):
        for spec in (_STATE, _TASK):
            _forget(formatters[mime], spec)
    for spec in (_HANDLE, _BATCH):
        _forget(shell.display_formatter.ipython_display_formatter, spec)


def _forget(formatter: Any, spec: tuple[str, str]) -> None:
    formatter.deferred_printers.pop(spec, None)
    for cls in list(formatter.type_printers):
        if (cls.__module__, cls.__name__) == spec:
            formatter.type_printers.pop(cls, None)
