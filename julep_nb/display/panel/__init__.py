"""The live execution panel: ipywidgets built from the pure HTML renderer.

Usage::

    handle = await julep_nb.run(task_id, {"topic": "otters"})
    show(handle)            # the panel updates while the kernel runs other cells

The panel subscribes to its :class:`~julep_nb.live.handle.ExecutionHandle`; every
update happens on the kernel's event loop, so the panel never keeps the kernel busy.
It sends at most ``refresh_rate`` widget messages in any one second, however fast
the execution changes, and always ends on the final state. It shows a control for
each action the handle's source offers (Cancel, Terminate, Signal, Query, and the
resume form while the execution awaits input).

- :mod:`~julep_nb.display.panel.view`: the widgets, and a state shown in them;
- :mod:`~julep_nb.display.panel.driver`: pacing, coalescing, the final state, the clock;
- :mod:`~julep_nb.display.panel.controls` and :mod:`~julep_nb.display.panel.forms`:
  one small class per control;
- :mod:`~julep_nb.display.panel.execution`: :class:`ExecutionPanel`, which puts them
  together;
- :mod:`~julep_nb.display.panel.output`: :func:`show` and the text-only panel.
"""

from __future__ import annotations

from julep_nb.display.panel.execution import WIDGET_MIME, ExecutionPanel, bundle_for
from julep_nb.display.panel.output import MODES, TextPanel, show

__all__ = ["MODES", "WIDGET_MIME", "ExecutionPanel", "TextPanel", "bundle_for", "show"]
