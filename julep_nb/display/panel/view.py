"""The panel's widgets, and what an execution state looks like in them.

Everything that moves while an execution runs (header, result, timeline) is one HTML
widget, :attr:`PanelView.live`, so an update is one widget message. While the
execution waits for input the timeline moves to a second HTML widget below the
resume form, so the question and the form stay side by side::

    ┌ live HTML (header, result, timeline) ─────────────┐ [Cancel]     <- buttons
    │                                                    │ [Terminate]
    message (a stopped watcher)
    drawer (what the controls open: confirmations, forms, their errors; empty until then)
    form_box (the resume form, while the execution awaits input)
    timeline_below (the timeline, while the execution awaits input)
    styles (a <style>: the rules of the classes in the HTML above; shows nothing)

The live HTML carries classes instead of the renderers' inline styles (about half
the bytes per update; :mod:`julep_nb.display.classes`). Their rules sit in
:attr:`PanelView.styles`, which is sent again only when a style shows up for the
first time, and :meth:`PanelView.expected_messages` counts that message too.

Only this module and the controls touch ipywidgets; the HTML comes from the pure
renderers in :mod:`julep_nb.display.html`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from julep_nb.display.classes import RowMemo, stylesheet, to_classes
from julep_nb.display.html import render_gantt, render_header, render_result, render_timeline
from julep_nb.live.events import ExecutionStatus
from julep_nb.live.state import ExecutionState

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["ERROR_STYLE", "Drawer", "PanelView", "error_html", "widget_tree"]

ERROR_STYLE = "color:#c62828;white-space:pre-wrap;"
BORDER = "1px solid var(--jp-border-color2, #e0e0e0)"


def error_html(text: str) -> str:
    """``text`` as an escaped error line."""
    return f'<span style="{ERROR_STYLE}">{escape(text)}</span>'


def watch_error_html(error: BaseException | None) -> str:
    """The message line for a watcher that stopped on ``error`` ("" while it runs)."""
    if error is None:
        return ""
    return error_html(f"Stopped watching: {type(error).__name__}: {error}")


def widget_tree(root: Any) -> list[Any]:
    """``root`` and every widget inside it (its children's children too)."""
    found: list[Any] = []
    stack: list[Any] = [root]
    while stack:
        widget = stack.pop()
        found.append(widget)
        stack.extend(getattr(widget, "children", ()))
    return found


class Drawer:
    """The box below the header that holds the controls' bodies, each once it is built.

    The bodies keep the order of ``order`` (the buttons'), whichever is built first.
    """

    def __init__(self, order: Sequence[Hashable]) -> None:
        import ipywidgets as w

        self.box = w.VBox([])
        self._rank = {key: rank for rank, key in enumerate(order)}
        self._bodies: dict[Hashable, ipywidgets.Widget] = {}

    def put(self, key: Hashable, body: ipywidgets.Widget) -> None:
        """Show ``body`` as ``key``'s (one message: the box's children)."""
        self._bodies[key] = body
        keys = sorted(self._bodies, key=self._rank.__getitem__)
        self.box.children = tuple(self._bodies[k] for k in keys)


class PanelView:
    """The panel's widgets; :meth:`render` shows a state in them."""

    def __init__(
        self,
        *,
        timeline_limit: int,
        buttons: Sequence[ipywidgets.Widget] = (),
        drawer: Drawer | None = None,
    ) -> None:
        import ipywidgets as w

        self.timeline_limit = timeline_limit
        # the rules of the classes in the live HTML: a <style> that grows, rarely
        self.styles = w.HTML(layout=w.Layout(display="none"))
        # header + result + timeline: what changes with each transition, in one widget
        self.live = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        # the timeline, below the resume form, only while the execution awaits input
        self.timeline_below = w.HTML(layout=w.Layout(display="none"))
        self.message = w.HTML()
        self.form_box = w.VBox([])
        self.drawer = drawer
        top: list[ipywidgets.Widget] = [self.live]
        if buttons:
            column = w.VBox(list(buttons), layout=w.Layout(flex="0 0 auto"))
            top.append(column)
        parts: list[ipywidgets.Widget] = [
            w.HBox(top, layout=w.Layout(align_items="flex-start")),
            self.message,
        ]
        if drawer is not None:
            parts.append(drawer.box)
        parts += [self.form_box, self.timeline_below, self.styles]
        self.widget = w.VBox(
            parts, layout=w.Layout(border=BORDER, padding="4px 10px", max_width="1000px")
        )
        self._rendered: dict[str, Any] = {}  # part -> what it was last rendered from
        # parts of the live HTML, as rendered (with classes), and the styles those stand for
        self._done: dict[str, tuple[str, frozenset[str]]] = {
            "timeline": ("", frozenset()),
            "result": ("", frozenset()),
        }
        self._known: frozenset[str] = frozenset()  # the styles self.styles has rules for
        # The parts expected_messages() rendered, for the render() that follows it (the
        # header shows the time elapsed: rendered again at every later tick).
        self._counted: tuple[ExecutionState, tuple[str, str, frozenset[str]]] | None = None
        self._convert: dict[str, Callable[[str], tuple[str, frozenset[str]]]] = {
            "timeline": RowMemo(),  # rows change a few at a time: convert only the new
            "result": to_classes,
        }

    def widgets(self) -> list[ipywidgets.Widget]:
        """Every widget of the panel, the controls' and the resume form's included."""
        return widget_tree(self.widget)

    def models(self) -> tuple[Any, ...]:
        """What :meth:`render` may change, one entry per widget model (one message each)."""
        below = self.timeline_below
        live = (self.live.value, below.value, below.layout.display, self.message.value)
        return (*live, self.styles.value)

    def expected_messages(self, state: ExecutionState, *, error: BaseException | None) -> int:
        """Messages :meth:`render` will send for ``state``: the live HTML, and the rest."""
        waiting = state.status is ExecutionStatus.AWAITING_INPUT
        moves = waiting != (self.timeline_below.layout.display is None)  # HTML + layout
        parts = self._parts(state)
        self._counted = (state, parts)  # what render() shows next, unless the state moves on
        new_styles = not parts[2] <= self._known
        return 1 + 2 * moves + (watch_error_html(error) != self.message.value) + new_styles

    def render(self, state: ExecutionState, *, error: BaseException | None = None) -> None:
        """Show ``state``, and the error that stopped the watcher (None: it runs)."""
        counted, self._counted = self._counted, None
        if counted is not None and counted[0] is state:
            top, timeline, styles = counted[1]
        else:
            top, timeline, styles = self._parts(state)
        if not styles <= self._known:  # the rules first, so no class shows unstyled
            self._known |= styles
            self.styles.value = stylesheet(self._known)
        below = self.timeline_below
        with below.hold_sync(), below.layout.hold_sync():
            if state.status is ExecutionStatus.AWAITING_INPUT:  # question, form, timeline
                self.live.value = top
                below.value = timeline
                below.layout.display = None
            else:
                self.live.value = top + timeline
                below.value = ""
                below.layout.display = "none"
        self.message.value = watch_error_html(error)

    def _parts(self, state: ExecutionState) -> tuple[str, str, frozenset[str]]:
        """The top (header, result) and the timeline, with classes; the styles they use."""
        header, header_styles = to_classes(render_header(state))
        top = header + self._result(state)
        timeline = self._timeline(state)
        styles = header_styles | self._done["result"][1] | self._done["timeline"][1]
        return top, timeline, styles

    def _timeline(self, state: ExecutionState) -> str:
        latest = state.latest_entry
        key = (state.seen_count, latest and latest.id, state.running, self.timeline_limit)
        if self._changed("timeline", key):
            limit = self.timeline_limit
            self._keep("timeline", render_gantt(state) + render_timeline(state, limit=limit))
        return self._done["timeline"][0]

    def _result(self, state: ExecutionState) -> str:
        latest = state.latest_entry
        key = (state.status, latest and latest.id, state.reported_error, id(state.reported_output))
        if self._changed("result", key):
            self._keep("result", render_result(state))
        return self._done["result"][0]

    def _keep(self, part: str, html: str) -> None:
        """Remember ``part``'s new HTML, with classes, and the styles those stand for."""
        self._done[part] = self._convert[part](html)

    def _changed(self, part: str, key: Any) -> bool:
        """Whether ``part`` shows something else now (then ``key`` is remembered)."""
        if self._rendered.get(part, object()) == key:
            return False
        self._rendered[part] = key
        return True
