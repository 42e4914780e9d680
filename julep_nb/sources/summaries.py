"""Execution summaries (one row of a ``list``), and a table of them that renders as HTML.

Any source's ``list()`` returns :class:`ExecutionSummaries`: plain text in a terminal,
an escaped HTML table with a status badge per row in a notebook. Pure: no display
import, no I/O.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

from julep_nb.live.events import ExecutionStatus

__all__ = ["ExecutionSummaries", "ExecutionSummary"]

S = ExecutionStatus
_BADGE_COLORS = {
    S.QUEUED: "#6b7280",
    S.STARTING: "#6b7280",
    S.RUNNING: "#2563eb",
    S.AWAITING_INPUT: "#d97706",
    S.SUCCEEDED: "#16a34a",
    S.FAILED: "#dc2626",
    S.CANCELLED: "#6b7280",
    S.TERMINATED: "#9f1239",
    S.TIMED_OUT: "#b45309",
    S.CONTINUED_AS_NEW: "#7c3aed",
}
_COLUMNS = ("id", "name", "status", "started", "closed", "detail")


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """What a listing says about one execution."""

    id: str  # what julep_nb.watch(id, source=...) takes
    status: ExecutionStatus
    name: str | None = None  # the workflow type / task name
    started_at: datetime | None = None
    closed_at: datetime | None = None
    run_id: str | None = None
    detail: str | None = None  # e.g. the task queue, the user
    extra: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> tuple[str, ...]:
        return (
            self.id,
            self.name or "",
            self.status.value,
            _time(self.started_at),
            _time(self.closed_at),
            self.detail or "",
        )


class ExecutionSummaries(Sequence[ExecutionSummary]):
    """A list of summaries (a sequence) that renders as a table."""

    def __init__(self, items: Iterable[ExecutionSummary], *, source: str = "") -> None:
        self._items = list(items)
        self.source = source

    @overload
    def __getitem__(self, index: int) -> ExecutionSummary: ...
    @overload
    def __getitem__(self, index: slice) -> ExecutionSummaries: ...
    def __getitem__(self, index: int | slice) -> ExecutionSummary | ExecutionSummaries:
        if isinstance(index, slice):
            return ExecutionSummaries(self._items[index], source=self.source)
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ExecutionSummary]:
        return iter(self._items)

    def __repr__(self) -> str:
        if not self._items:
            return f"<no {self.source} executions>".replace("  ", " ")
        rows = [_COLUMNS, *(s.cells() for s in self._items)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        )

    def _repr_html_(self) -> str:
        return summaries_html(self._items, source=self.source)


def status_badge(status: ExecutionStatus) -> str:
    """An escaped status badge (inline styles, so it shows in saved notebooks too)."""
    color = _BADGE_COLORS.get(status, "#6b7280")
    return (
        f'<span class="julep-nb-badge julep-nb-{html.escape(status.value)}" '
        f'style="background:{color};color:#fff;border-radius:8px;padding:1px 8px;'
        f'font-size:0.85em">{html.escape(status.value)}</span>'
    )


def summaries_html(items: Sequence[ExecutionSummary], *, source: str = "") -> str:
    """The summaries as an HTML table; every value from the server is escaped."""
    head = "".join(f"<th style='text-align:left'>{c}</th>" for c in _COLUMNS)
    body = []
    for item in items:
        cells = [html.escape(c) for c in item.cells()]
        cells[0] = f"<code>{cells[0]}</code>"
        cells[2] = status_badge(item.status)
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = html.escape(f"{len(items)} {source} executions".replace("  ", " "))
    return (
        '<table class="julep-nb-summaries">'
        f"<caption style='text-align:left'>{caption}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
