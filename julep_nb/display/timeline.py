"""The timeline table: one row per entry, newest ``limit`` only, each row rendered once.

Pure, like :mod:`julep_nb.display.html` (which re-exports these renderers): state or
wire objects in, escaped HTML out. Rows are the bulk of a live panel's HTML, so a
row is rendered once per entry and kept in a cache that forgets it with its entry.
"""

from __future__ import annotations

import threading
import weakref

from julep_nb.display._format import (
    bounded_json,
    esc,
    esc_attr,
    format_count,
    format_duration,
    format_time,
    one_line,
)
from julep_nb.display._style import (
    CELL,
    ERROR_TINT,
    MUTED,
    NOWRAP,
    ROW,
    ROW_PRE,
    STATUS_COLORS,
    card,
    table,
)
from julep_nb.display._words import words
from julep_nb.live.events import ExecutionStatus, TimelineEntry
from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.models import Transition

__all__ = ["ROWS", "ROW_OUTPUT_CHARS", "render_timeline", "render_transitions"]

S = ExecutionStatus

ROW_PREVIEW_CHARS = 60
ROW_OUTPUT_CHARS = 2_000
# An entry with this outcome is tinted like an error.
_STOPPED = (S.FAILED, S.TIMED_OUT, S.TERMINATED)


class RowCache:
    """Rendered timeline rows, so that a live panel renders each entry once.

    Keyed by the entry object, its position and its duration, which together fix the
    row's HTML. Rows go with their entry (a weak reference's callback), so the cache
    holds rows only for entries still alive somewhere (a state log keeps the newest
    few hundred per execution as objects) and never keeps an output alive.
    """

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._rows: dict[tuple[int, int, float], tuple[weakref.ref[TimelineEntry], str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, entry: TimelineEntry, position: int, duration: float) -> str:
        key = (id(entry), position, duration)
        hit = self._rows.get(key)
        if hit is not None and hit[0]() is entry:
            return hit[1]
        html = _row(entry, position, duration)
        rows = self._rows

        def forget(_ref: weakref.ref[TimelineEntry], key: tuple[int, int, float] = key) -> None:
            rows.pop(key, None)  # runs before the id can be reused

        with self._lock:
            if len(rows) >= self._size:  # drop the oldest tenth in one go
                for old in list(rows)[: self._size // 10]:
                    rows.pop(old, None)
            rows[key] = (weakref.ref(entry, forget), html)
        return html


ROWS = RowCache()  # one per process: panels of the same execution share rows


def _output_cell(entry: TimelineEntry) -> str:
    output = entry.output
    if output is None and entry.error is None:
        return f'<span style="{MUTED}">—</span>'
    preview = one_line(entry.error if entry.error is not None else output, ROW_PREVIEW_CHARS)
    text, cut = bounded_json(output if output is not None else entry.error, ROW_OUTPUT_CHARS)
    more = "\n…" if cut else ""
    return (
        f'<details><summary style="cursor:pointer;"><code>{esc(preview)}</code></summary>'
        f'<pre style="{ROW_PRE}">{esc(text)}{more}</pre></details>'
    )


def _notes(entry: TimelineEntry) -> str:
    notes = [entry.note] if entry.note else []
    if entry.attempt and entry.attempt > 1:
        notes.append(f"attempt {entry.attempt}")
    if entry.ended_at is None and not entry.is_final:
        notes.append("running")
    return "".join(f' <span style="{MUTED}">{esc(note)}</span>' for note in notes)


def _row(entry: TimelineEntry, position: int, duration: float | None, *, timed: bool = True) -> str:
    tint = ROW + (ERROR_TINT if entry.status in _STOPPED else "")
    moment = entry.ended_at or entry.at
    took = f'<td style="{NOWRAP}">{"…" if duration is None else format_duration(duration)}</td>'
    took = took if timed else ""
    color = STATUS_COLORS.get(entry.execution_status or entry.status or S.RUNNING, "#616161")
    return (
        f'<tr style="{tint}"><td style="{CELL}{MUTED}">{position}</td>'
        f'<td style="{NOWRAP}"><span style="color:{color};">●</span> '
        f"{esc(entry.kind)}</td>"
        f'<td style="{CELL}"><code>{esc(entry.label)}</code>{_notes(entry)}</td>'
        f'<td style="{NOWRAP}" title="{esc_attr(moment.isoformat())}">{format_time(moment)}</td>'
        f'{took}<td style="{CELL}">{_output_cell(entry)}</td></tr>'
    )


def render_timeline(state: ExecutionState, *, limit: int = 50) -> str:
    """One row per entry, newest ``limit`` only, with an "N earlier" summary row.

    Entries still in progress (``state.running``) follow, marked "running", with no
    duration yet (none once the execution ended: what was running stopped with it).
    """
    rows = state.timeline(limit=max(limit, 0))
    noun = words(state).entries
    running = state.running  # the state keeps none once the execution ended
    if not rows and state.seen_count == 0 and not running:
        known = state.entry_count
        text = f"{format_count(known)} {noun}, not loaded yet." if known else f"No {noun} yet."
        return f'<div style="{MUTED} margin: 4px 0;">{text}</div>'
    hidden = state.seen_count - len(rows)
    body = ""
    if hidden:
        noun = noun[:-1] if hidden == 1 and noun.endswith("s") else noun
        body = (
            f'<tr style="{ROW}"><td colspan="6" style="{CELL}{MUTED}font-style:italic;">'
            f"⋯ {format_count(hidden)} earlier {noun} not shown</td></tr>"
        )
    body += "".join(ROWS.row(row.entry, hidden + i + 1, row.duration) for i, row in enumerate(rows))
    body += "".join(_row(entry, state.seen_count + i + 1, None) for i, entry in enumerate(running))
    return table(("#", "type", "step", "time", "duration", "output"), body)


def render_transitions(transitions: list[Transition]) -> str:
    """A table of Julep transitions (as listed by the server, without durations)."""
    if not transitions:
        return card(f'<div style="{MUTED}">No transitions.</div>')
    body = "".join(
        _row(t.as_live_event(), i + 1, None, timed=False) for i, t in enumerate(transitions)
    )
    return card(table(("#", "type", "step", "time", "output"), body))
