"""Plain-data builders for display tests: transitions and states in every status."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any

from julep_nb.live.state import ExecutionState, reduce, reduce_all
from julep_nb.sources.julep.models import Execution, ExecutionStatus, Transition

T0 = datetime(2025, 4, 16, 10, 0, 0, tzinfo=timezone.utc)
TERMINAL_TYPES = ("finish", "error", "cancelled")


def tr(
    i: int,
    kind: str,
    *,
    at: float | None = None,
    output: Any = None,
    label: str | None = None,
    execution_id: str = "exec-1",
    step_type: str | None = None,
) -> Transition:
    """Transition number ``i`` of an execution, ``at`` seconds after T0 (default ``i``)."""
    return Transition.model_validate(
        {
            "id": f"t{i:06d}",
            "execution_id": execution_id,
            "type": kind,
            "output": output,
            "current": {"workflow": "main", "step": i},
            "next": None if kind in TERMINAL_TYPES else {"workflow": "main", "step": i + 1},
            "step_label": label,
            "metadata": {"step_type": step_type} if step_type else None,
            "created_at": (T0 + timedelta(seconds=i if at is None else at)).isoformat(),
        }
    )


def created(execution_id: str = "exec-1", task_id: str = "task-1") -> ExecutionState:
    """A queued execution as the server reports it on creation."""
    execution = Execution(id=execution_id, task_id=task_id, status="queued", created_at=T0)
    return reduce(None, execution)


STATUS_EVENTS: dict[ExecutionStatus, list[Transition]] = {
    ExecutionStatus.QUEUED: [],
    ExecutionStatus.STARTING: [tr(0, "init", output={"topic": "otters"})],
    ExecutionStatus.RUNNING: [
        tr(0, "init", output={"topic": "otters"}),
        tr(1, "step", output={"facts": 3}, label="fetch", step_type="evaluate"),
    ],
    ExecutionStatus.AWAITING_INPUT: [
        tr(0, "init"),
        tr(1, "step", output={"facts": 3}, label="fetch"),
        tr(2, "wait", output={"info": {"question": "Which otter?"}}, label="ask"),
    ],
    ExecutionStatus.SUCCEEDED: [
        tr(0, "init"),
        tr(1, "step", output={"facts": 3}, label="fetch"),
        tr(3, "finish", output={"answer": 42}, label="done"),
    ],
    ExecutionStatus.FAILED: [
        tr(0, "init"),
        tr(1, "step", output={"facts": 3}, label="fetch"),
        tr(2, "error", output={"error": "ZeroDivisionError: division by zero"}),
    ],
    ExecutionStatus.CANCELLED: [
        tr(0, "init"),
        tr(1, "step", label="fetch"),
        tr(2, "cancelled", output={"reason": "user pressed cancel"}),
    ],
}


def state_in(status: ExecutionStatus) -> ExecutionState:
    """An execution that has reached ``status`` through real transitions."""
    state = reduce_all(created(), STATUS_EVENTS[status])
    assert state.status is status
    return state


class Structure(HTMLParser):
    """Parses HTML, checks that tags balance, and collects text and tag names."""

    VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "rect", "path"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def count(self, tag: str) -> int:
        return self.tags.count(tag)
