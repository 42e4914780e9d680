"""ExecutionPanel: one execution, live, as widgets; the view, its driver and its controls.

The panel subscribes to its :class:`~julep_nb.live.handle.ExecutionHandle` and talks
to it through its public surface only: ``state``, ``subscribe``, ``watch_error``,
``capabilities`` and the actions. Each state goes through the
:class:`~julep_nb.display.panel.driver.UpdateDriver` (pacing, coalescing, the final
state, the clock) to the :class:`~julep_nb.display.panel.view.PanelView` (the
widgets) and the controls the source offers (:func:`build_controls`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from julep_nb.display.form import ResumeForm
from julep_nb.display.html import render_execution, render_text
from julep_nb.display.panel.controls import CancelControl, Control, TerminateControl
from julep_nb.display.panel.driver import UpdateDriver
from julep_nb.display.panel.forms import QueryControl, ResumeControl, SignalControl
from julep_nb.display.panel.view import Drawer, PanelView
from julep_nb.live.events import Capability
from julep_nb.live.state import ExecutionState
from julep_nb.live.sync import running_loop

if TYPE_CHECKING:
    import ipywidgets

    from julep_nb.live.handle import ExecutionHandle

__all__ = ["WIDGET_MIME", "ExecutionPanel", "build_controls", "bundle_for"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
Hook = Callable[[ExecutionState], None]
# The controls with a button, in the order they are shown.
BUTTONS: tuple[tuple[Capability, Callable[..., Control]], ...] = (
    (Capability.CANCEL, CancelControl),
    (Capability.TERMINATE, TerminateControl),
    (Capability.SIGNAL, SignalControl),
    (Capability.QUERY, QueryControl),
)


def build_controls(
    handle: ExecutionHandle,
    *,
    loop: asyncio.AbstractEventLoop | None,
    drawer: Drawer | None = None,
) -> dict[Capability, Control]:
    """One control per capability of ``handle`` that has a button (resume has a form).

    Each control puts its body in ``drawer`` when the body is first needed.
    """
    offered = handle.capabilities
    return {
        capability: kind(handle, loop=loop, drawer=drawer)
        for capability, kind in BUTTONS
        if capability in offered
    }


class ExecutionPanel:
    """A live view of one execution: header, result, timeline, and its source's controls."""

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
        # Captured now, on the kernel's loop: widget callbacks may come from another thread.
        loop = running_loop()
        self.view: PanelView | None = None
        self.controls: dict[Capability, Control] = {}  # by capability, resume included
        if widgets:
            self._build(loop)
        self._on_update: list[Hook] = []
        self._on_final: list[Hook] = []
        self._final_seen = False
        self._unsubscribe: Callable[[], None] | None = None
        self.driver = UpdateDriver(self, refresh_rate=refresh_rate, tick=tick, loop=loop)
        self.driver.start(handle.state)
        if not self.driver.finished:
            self._unsubscribe = handle.subscribe(self.update)

    def _build(self, loop: asyncio.AbstractEventLoop | None) -> None:
        offered = [c for c, _ in BUTTONS if c in self.handle.capabilities]
        drawer = Drawer(offered) if offered else None
        controls = build_controls(self.handle, loop=loop, drawer=drawer)
        self.view = PanelView(
            timeline_limit=self.timeline_limit,
            buttons=[c.button for c in controls.values() if c.button is not None],
            drawer=drawer,
        )
        if Capability.RESUME in self.handle.capabilities:
            box = self.view.form_box
            controls[Capability.RESUME] = ResumeControl(self.handle, loop=loop, box=box)
        self.controls = controls

    # ------------------------------------------------------------------ what it shows

    @property
    def state(self) -> ExecutionState:
        """The state the panel shows."""
        state = self.driver.state
        assert state is not None  # shown from the start
        return state

    @property
    def updates(self) -> int:
        """Updates applied so far, each one batch of widget messages."""
        return self.driver.updates

    @property
    def messages(self) -> int:
        """Widget messages (or display updates) sent so far."""
        return self.driver.messages

    @property
    def widget(self) -> ipywidgets.VBox | None:
        """The panel's outer widget (None without widgets)."""
        return self.view.widget if self.view is not None else None

    def widgets(self) -> list[ipywidgets.Widget]:
        """Every widget of the panel, the controls' and the resume form's included."""
        return self.view.widgets() if self.view is not None else []

    @property
    def live(self) -> ipywidgets.HTML:
        """The HTML widget with the header, the result and (mostly) the timeline."""
        return self._view.live

    @property
    def styles(self) -> ipywidgets.HTML:
        """The rules of the classes the live HTML uses (a ``<style>``; shows nothing)."""
        return self._view.styles

    @property
    def timeline_below(self) -> ipywidgets.HTML:
        """The timeline while the execution awaits input (below the resume form)."""
        return self._view.timeline_below

    @property
    def message(self) -> ipywidgets.HTML:
        """The panel's message line (a watcher that stopped on an error)."""
        return self._view.message

    @property
    def form_box(self) -> ipywidgets.VBox:
        """Where the resume form goes."""
        return self._view.form_box

    @property
    def form(self) -> ResumeForm | None:
        """The resume form shown now, if any."""
        control = self.controls.get(Capability.RESUME)
        return control.form if isinstance(control, ResumeControl) else None

    @property
    def _view(self) -> PanelView:
        if self.view is None:
            raise AttributeError("this panel has no widgets (it was made with widgets=False)")
        return self.view

    def control(self, capability: Capability | str) -> Control:
        """The control of ``capability`` (KeyError naming what the source offers)."""
        found = self.controls.get(Capability(capability))
        if found is None:
            offered = ", ".join(sorted(c.value for c in self.controls)) or "none"
            raise KeyError(f"this panel has no {capability} control; it has: {offered}")
        return found

    # ------------------------------------------------------------------ updates

    def update(self, state: ExecutionState) -> asyncio.Future[None] | None:
        """Show ``state`` when the message budget allows (see :class:`UpdateDriver`)."""
        return self.driver.update(state)

    def _models(self) -> tuple[Any, ...]:
        """What an update may change, one entry per widget model (one message each)."""
        assert self.view is not None
        parts = [self.view.models(), *(c.models() for c in self.controls.values())]
        return tuple(model for part in parts for model in part)

    def _count(self, change: Callable[[], None]) -> int:
        """Run ``change``; the widget messages it sent."""
        if self.view is None:
            change()
            return 1  # the display update that show() sends
        before = self._models()
        change()
        return sum(a != b for a, b in zip(before, self._models(), strict=True))

    def expected_messages(self, state: ExecutionState) -> int:
        if self.view is None:
            return 1
        error = self.handle.watch_error
        own = self.view.expected_messages(state, error=error)
        return own + sum(c.expected_messages(state) for c in self.controls.values())

    def apply(self, state: ExecutionState) -> int:
        """Show ``state`` in the widgets, then call the hooks; the messages sent."""
        sent = self._count(lambda: self._render(state))
        for hook in list(self._on_update):
            hook(state)
        if state.is_terminal and not self._final_seen:
            self._final_seen = True
            for hook in list(self._on_final):
                hook(state)
            self._stop_following()
        return sent

    def _render(self, state: ExecutionState) -> None:
        if self.view is None:
            return
        self.view.render(state, error=self.handle.watch_error)
        for control in self.controls.values():
            control.sync(state)

    def _unsettled(self) -> list[Control]:
        return [c for c in self.controls.values() if not c.settled]

    def settle_messages(self, state: ExecutionState) -> int:
        """Messages the next :meth:`settle` step sends (0: the controls are at rest)."""
        costs = (c.settle_messages(state) for c in self._unsettled())
        return next((cost for cost in costs if cost), 0)

    def settle(self, state: ExecutionState) -> int:
        """One step of putting the controls at rest; the messages it sent.

        One control with something to change per step (and any with nothing), so
        each step stays within the message budget however many controls there are.
        """
        if self.view is None:
            return 0

        def step() -> None:
            spent = 0
            for control in self._unsettled():
                cost = control.settle_messages(state)
                if spent and cost:
                    return
                control.settle(state)
                spent += cost

        return self._count(step)

    def ticks(self) -> bool:
        # Nobody watching (or a watcher stopped on an error, which is shown): the state
        # may be stale, and a moving clock would say otherwise. An update re-arms it.
        return self.handle.watching and self.handle.watch_error is None

    # ------------------------------------------------------------------ hooks

    def on_update(self, hook: Hook) -> None:
        """Call ``hook(state)`` after each applied (coalesced) update."""
        self._on_update.append(hook)

    def on_final(self, hook: Hook) -> None:
        """Call ``hook(state)`` once, when a terminal state is shown."""
        self._on_final.append(hook)

    def _stop_following(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def close(self) -> None:
        """Stop following the handle (the widgets keep showing the last state)."""
        self._stop_following()
        self.driver.close()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return bundle_for(self, self.state)


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
