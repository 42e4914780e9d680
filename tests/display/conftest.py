"""Fixtures shared by the panel tests."""

from __future__ import annotations

import time
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from julep_nb.display.panel import ExecutionPanel
from julep_nb.display.panel.controls import CancelControl
from julep_nb.live.events import Capability


class Messages(list[tuple[str, str, dict[str, Any]]]):
    """Comm messages as ``(comm_id, msg_type, data)``; ``times[i]`` is when ``self[i]`` went."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []


def cancel_of(panel: ExecutionPanel) -> CancelControl:
    """The panel's Cancel control (its button, error line and requests)."""
    control = panel.control(Capability.CANCEL)
    assert isinstance(control, CancelControl)
    return control


def busiest_window(sends: list[tuple[float, int]]) -> int:
    """Most messages sent within any half-open one-second window, from ``(time, count)``."""
    return max((sum(k for u, k in sends if t <= u < t + 1.0) for t, _ in sends), default=0)


@pytest.fixture
def frontend(monkeypatch: pytest.MonkeyPatch) -> Messages:
    """Every comm message the widgets send (what a browser would receive).

    A recording comm stands in for the frontend: the seam ipykernel itself fills.
    """
    log = Messages()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kw: Any) -> None:
            log.append((self.comm_id, msg_type, data or {}))
            log.times.append(time.monotonic())

    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: RecordingComm(*a, **kw))
    return log
