"""The batch panel's static HTML and text: pure functions of a batch, escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from julep_nb.display._format import esc, format_count, format_duration, one_line
from julep_nb.display._style import BORDER, CELL, MUTED, ROW, STATUS_COLORS, card, table
from julep_nb.live.events import ExecutionStatus

if TYPE_CHECKING:
    from julep_nb.live.batch.handle import BatchHandle

__all__ = ["BAR_ORDER", "MAX_LISTED", "render_batch", "render_batch_text"]

S = ExecutionStatus
# Bar order: what is done first, then what still moves.
BAR_ORDER = (
    S.SUCCEEDED, S.FAILED, S.CANCELLED, S.TERMINATED, S.TIMED_OUT, S.CONTINUED_AS_NEW,
    S.AWAITING_INPUT, S.RUNNING, S.STARTING, S.QUEUED,
)  # fmt: skip
MAX_LISTED = 10  # failures and waits listed in the panel (newest failures, first waits)


def _bar(batch: BatchHandle) -> str:
    counts, total = batch.status_counts, max(len(batch), 1)
    parts = []
    for status in BAR_ORDER:
        n = counts.get(status, 0)
        if n:
            color = STATUS_COLORS.get(status, "#616161")
            parts.append(
                f'<div title="{esc(status.value)}: {n:,}" style="width:{100 * n / total:.3f}%;'
                f'background:{color};height:100%;"></div>'
            )
    return (
        f'<div style="display:flex;height:12px;border-radius:3px;overflow:hidden;'
        f'background:{BORDER};margin:6px 0;">{"".join(parts)}</div>'
    )


def _counts(batch: BatchHandle) -> str:
    counts = batch.status_counts
    items = []
    for status in BAR_ORDER:
        if counts.get(status):
            color = STATUS_COLORS.get(status, "#616161")
            items.append(
                f'<span style="margin-right:12px;"><span style="color:{color};">●</span> '
                f"{esc(status.value)} <b>{format_count(counts[status])}</b></span>"
            )
    return "".join(items)


def _rates(batch: BatchHandle) -> str:
    rate, eta = batch.throughput(), batch.eta()
    parts = [f"elapsed {format_duration(batch.elapsed())}"]
    if rate is not None:
        parts.append(f"{rate:,.1f} executions/s")
    if not batch.done and eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    if batch.pending:
        parts.append(f"{format_count(batch.pending)} not started")
    return f'<div style="{MUTED}">{esc(" · ".join(parts))}</div>'


def _rows(batch: BatchHandle, indices: list[int], what: Callable[[int], str]) -> str:
    return "".join(
        f'<tr style="{ROW}"><td style="{CELL}">{i}</td>'
        f'<td style="{CELL}"><code>{esc(one_line(batch.inputs[i], 60))}</code></td>'
        f'<td style="{CELL}">{esc(what(i))}</td></tr>'
        for i in indices
    )


def _failures(batch: BatchHandle) -> str:
    failed = batch.failures
    if not failed:
        return ""
    shown = failed[-MAX_LISTED:]
    states = batch.states

    def error(i: int) -> str:
        return one_line(states[i].error or "failed", 160)

    more = f" (the last {len(shown)} of {len(failed):,})" if len(failed) > len(shown) else ""
    return f'<div style="margin-top:6px;font-weight:600;">Failures{esc(more)}</div>' + table(
        ("input #", "input", "error"), _rows(batch, shown, error)
    )


def _waiting(batch: BatchHandle) -> str:
    waiting = batch.waiting
    if not waiting:
        return ""
    states = batch.states

    def question(i: int) -> str:
        return one_line(states[i].waiting_info, 160)

    shown = waiting[:MAX_LISTED]
    return (
        f'<div style="margin-top:6px;font-weight:600;">Awaiting input ({len(waiting):,})</div>'
        + table(("input #", "input", "asks"), _rows(batch, shown, question))
    )


def render_batch(batch: BatchHandle, *, waiting: bool = True) -> str:
    """The batch as static, escaped HTML: bar, counts, rates, failures, waits."""
    title = f"Batch of {len(batch):,} executions"
    if batch.name:
        title += f" · task {batch.name}"
    state = "done" if batch.done else "running"
    head = f'<div><b>{esc(title)}</b> <span style="{MUTED}">({state})</span></div>'
    body = head + _bar(batch) + f"<div>{_counts(batch)}</div>" + _rates(batch)
    body += _failures(batch)
    if waiting:
        body += _waiting(batch)
    return card(body)


def render_batch_text(batch: BatchHandle) -> str:
    """One line of text: size, counts and time."""
    counts = ", ".join(
        f"{status.value} {batch.status_counts[status]:,}"
        for status in BAR_ORDER
        if batch.status_counts.get(status)
    )
    state = "done" if batch.done else "running"
    return f"Batch of {len(batch):,} ({state}, {format_duration(batch.elapsed())}): {counts}"
