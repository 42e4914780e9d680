"""Pure renderers: execution state and wire objects in, escaped HTML (or text) out.

Everything that comes from the server is escaped. Styles are inline (GitHub and
nbviewer strip ``<style>``) and use JupyterLab's CSS variables with fallbacks, so a
card reads well in light and dark themes and outside Jupyter. No JavaScript.

Rendering is cheap enough to run at 10 Hz in hundreds of panels: only the newest
``limit`` timeline rows are rendered (each row once, then cached), the Gantt chart
reads per-step totals that the state keeps in O(steps), and JSON is encoded lazily
and stopped at the size shown.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    Task,
    Transition,
    TransitionType,
    status_for,
)
from julep_nb.display._format import (
    bounded_json,
    esc,
    esc_attr,
    format_count,
    format_duration,
    format_time,
    now_like,
    one_line,
)
from julep_nb.display._style import (
    CELL,
    ERROR_TINT,
    MUTED,
    NOWRAP,
    PRE,
    ROW,
    ROW_PRE,
    STATUS_COLORS,
    WAIT_TINT,
    badge,
    box,
    card,
    code,
    table,
)
from julep_nb.display.gantt import render_bars
from julep_nb.live.state import ExecutionState, step_label

__all__ = [
    "STATUS_COLORS",
    "render_error",
    "render_execution",
    "render_executions",
    "render_gantt",
    "render_header",
    "render_output",
    "render_result",
    "render_settings",
    "render_task",
    "render_text",
    "render_timeline",
    "render_transitions",
    "render_waiting",
]

S = ExecutionStatus

ROW_PREVIEW_CHARS = 60
ROW_OUTPUT_CHARS = 2_000
OPEN_OUTPUT_CHARS = 2_000  # outputs shorter than this start expanded


def _json_block(value: Any, max_chars: int, *, full: str | None = None) -> str:
    """JSON in a <pre>; when cut, a note (naming where the ``full`` value is, if given)."""
    text, cut = bounded_json(value, max_chars)
    note = ""
    if cut:
        where = f"; the full value is in <code>{esc(full)}</code>" if full else ""
        note = (
            f'<div style="{MUTED}font-style:italic;">Truncated to {format_count(max_chars)} '
            f"characters{where}.</div>"
        )
    return f'<pre style="{PRE}">{esc(text)}</pre>{note}'


def _count(n: int, noun: str) -> str:
    return f"{format_count(n)} {noun}{'' if n == 1 else 's'}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return f"object, {_count(len(value), 'key')}"
    if isinstance(value, (list, tuple)):
        return f"list, {_count(len(value), 'item')}"
    if isinstance(value, str):
        return f"string, {_count(len(value), 'character')}"
    return type(value).__name__


# --------------------------------------------------------------------------- card parts


def render_header(state: ExecutionState, *, now: datetime | None = None) -> str:
    """Execution and task ids, the status badge, elapsed time, transitions, current step."""
    elapsed = state.elapsed(now or now_like(state.created_at))
    facts = [
        f"Task {code(state.task_id or '—')}",
        f"Elapsed <b>{esc(format_duration(elapsed))}</b>",
        f"Transitions <b>{format_count(state.transition_count)}</b>",
    ]
    if state.current_step_label and not state.is_terminal:
        facts.append(f"Step {code(state.current_step_label)}")
    spans = "".join(f"<span>{fact}</span>" for fact in facts)
    return (
        '<div style="display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;">'
        f'<span style="font-weight: 600;">Julep execution</span>{code(state.execution_id)}'
        f"{badge(state.status)}</div>"
        f'<div style="display: flex; flex-wrap: wrap; gap: 2px 16px; margin-top: 2px; {MUTED}">'
        f"{spans}</div>"
    )


def render_output(value: Any, *, max_chars: int = 20_000) -> str:
    """The output as expandable JSON, truncated with a note past ``max_chars``."""
    text, cut = bounded_json(value, max_chars)
    opened = " open" if not cut and len(text) <= OPEN_OUTPUT_CHARS else ""
    note = ""
    if cut:
        note = (
            f'<div style="{MUTED} font-style: italic;">Output truncated to '
            f"{format_count(max_chars)} characters; the full value is in "
            f"<code>handle.output</code>.</div>"
        )
    return (
        f'<details{opened} style="margin: 6px 0;"><summary style="cursor: pointer;">'
        f'<span style="font-weight: 600;">Output</span> '
        f'<span style="{MUTED}">· {esc(_describe(value))}</span></summary>'
        f'<pre style="{PRE}">{esc(text)}</pre>{note}</details>'
    )


def render_error(message: str | None, *, max_chars: int = 20_000) -> str:
    """The error of a failed execution, shown prominently."""
    text = message or "The execution failed without an error message."
    cut = len(text) > max_chars
    body = f'<pre style="{PRE}">{esc(text[:max_chars])}</pre>'
    if cut:
        body += f'<div style="{MUTED} font-style: italic;">Error message truncated.</div>'
    return box("Execution failed", body, ERROR_TINT, STATUS_COLORS[S.FAILED])


def render_waiting(info: Any, *, max_chars: int = 20_000) -> str:
    """What a waiting step asks for."""
    body = (
        _json_block(info, max_chars, full="handle.state.waiting_info") if info is not None else ""
    )
    return box("Waiting for input", body, WAIT_TINT, STATUS_COLORS[S.AWAITING_INPUT])


def _render_cancelled(state: ExecutionState) -> str:
    output = state.output
    reason = output.get("reason") if isinstance(output, Mapping) else None
    body = f"<div>Reason: {esc(reason)}</div>" if reason else ""
    return box("Execution cancelled", body, "", STATUS_COLORS[S.CANCELLED])


def render_result(state: ExecutionState, *, max_chars: int = 20_000) -> str:
    """The part that depends on the status: output, error, cancellation or the wait."""
    status = state.status
    if status is S.SUCCEEDED:
        return render_output(state.output, max_chars=max_chars)
    if status is S.FAILED:
        return render_error(state.error, max_chars=max_chars)
    if status is S.CANCELLED:
        return _render_cancelled(state)
    if status is S.AWAITING_INPUT:
        return render_waiting(state.waiting_info, max_chars=max_chars)
    return ""


# --------------------------------------------------------------------------- timeline


class _RowCache:
    """Rendered timeline rows, so that a live panel renders each transition once.

    Keyed by the transition object, its position and its duration, which together fix
    the row's HTML. Entries go with their transition (a weak reference's callback), so
    the cache holds rows only for transitions still alive somewhere (a state log keeps
    the newest few hundred per execution as objects) and never keeps an output alive.
    """

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._rows: dict[tuple[int, int, float], tuple[weakref.ref[Transition], str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, transition: Transition, position: int, duration: float) -> str:
        key = (id(transition), position, duration)
        hit = self._rows.get(key)
        if hit is not None and hit[0]() is transition:
            return hit[1]
        html = _row(transition, position, duration)
        rows = self._rows

        def forget(_ref: weakref.ref[Transition], key: tuple[int, int, float] = key) -> None:
            rows.pop(key, None)  # runs before the id can be reused

        with self._lock:
            if len(rows) >= self._size:  # drop the oldest tenth in one go
                for old in list(rows)[: self._size // 10]:
                    rows.pop(old, None)
            rows[key] = (weakref.ref(transition, forget), html)
        return html


_ROWS = _RowCache()


def _output_cell(transition: Transition) -> str:
    output = transition.output
    if output is None:
        return f'<span style="{MUTED}">—</span>'
    if transition.type is TransitionType.ERROR:
        message = output.get("error", output) if isinstance(output, Mapping) else output
        preview = one_line(message, ROW_PREVIEW_CHARS)
    else:
        preview = one_line(output, ROW_PREVIEW_CHARS)
    text, cut = bounded_json(output, ROW_OUTPUT_CHARS)
    more = "\n…" if cut else ""
    return (
        f'<details><summary style="cursor:pointer;"><code>{esc(preview)}</code></summary>'
        f'<pre style="{ROW_PRE}">{esc(text)}{more}</pre></details>'
    )


def _row(transition: Transition, position: int, duration: float | None) -> str:
    kind = transition.type
    tint = ROW + (ERROR_TINT if kind is TransitionType.ERROR else "")
    step_type = transition.step_type
    kind_note = f' <span style="{MUTED}">{esc(step_type)}</span>' if step_type else ""
    moment = transition.created_at
    took = "" if duration is None else f'<td style="{NOWRAP}">{format_duration(duration)}</td>'
    return (
        f'<tr style="{tint}"><td style="{CELL}{MUTED}">{position}</td>'
        f'<td style="{NOWRAP}"><span style="color:{STATUS_COLORS[status_for(kind)]};">●</span> '
        f"{esc(kind.value)}</td>"
        f'<td style="{CELL}"><code>{esc(step_label(transition))}</code>{kind_note}</td>'
        f'<td style="{NOWRAP}" title="{esc_attr(moment.isoformat())}">{format_time(moment)}</td>'
        f'{took}<td style="{CELL}">{_output_cell(transition)}</td></tr>'
    )


def render_timeline(state: ExecutionState, *, limit: int = 50) -> str:
    """One row per transition, newest ``limit`` only, with an "N earlier" summary row."""
    rows = state.timeline(limit=max(limit, 0))
    if not rows and state.seen_count == 0:
        known = state.transition_count
        text = (
            f"{format_count(known)} transitions, not loaded yet."
            if known
            else "No transitions yet."
        )
        return f'<div style="{MUTED} margin: 4px 0;">{text}</div>'
    hidden = state.seen_count - len(rows)
    body = ""
    if hidden:
        noun = "transition" if hidden == 1 else "transitions"
        body = (
            f'<tr style="{ROW}"><td colspan="6" style="{CELL}{MUTED}font-style:italic;">'
            f"⋯ {format_count(hidden)} earlier {noun} not shown</td></tr>"
        )
    body += "".join(
        _ROWS.row(row.transition, hidden + i + 1, row.duration) for i, row in enumerate(rows)
    )
    return table(("#", "type", "step", "time", "duration", "output"), body)


def render_gantt(state: ExecutionState) -> str:
    """An inline SVG of total time per step (bounded size whatever the step count)."""
    return render_bars(state.step_durations())


# --------------------------------------------------------------------------- whole card


def render_execution(
    state: ExecutionState,
    *,
    timeline_limit: int = 50,
    now: datetime | None = None,
    max_output_chars: int = 20_000,
) -> str:
    """The whole static card: header, result, Gantt chart and timeline."""
    return card(
        render_header(state, now=now)
        + render_result(state, max_chars=max_output_chars)
        + render_gantt(state)
        + render_timeline(state, limit=timeline_limit)
    )


def render_text(state: ExecutionState) -> str:
    """A text/plain summary of the execution."""
    elapsed = state.elapsed(now_like(state.created_at))
    parts = [
        f"Julep execution {state.execution_id}",
        f"task {state.task_id or '-'}",
        state.status.value,
        f"{format_count(state.transition_count)} transitions",
        f"elapsed {format_duration(elapsed)}",
    ]
    if state.current_step_label and not state.is_terminal:
        parts.append(f"step {state.current_step_label}")
    lines = [" · ".join(parts)]
    if state.status is S.FAILED:
        lines.append(f"  error: {one_line(state.error or '', 200)}")
    elif state.status is S.AWAITING_INPUT:
        lines.append(f"  waiting for input: {one_line(state.waiting_info, 200)}")
    elif state.status is S.SUCCEEDED:
        lines.append(f"  output: {one_line(state.output, 200)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- other objects


def _step_kind(step: Any) -> str:
    if isinstance(step, Mapping):
        kind = step.get("kind_")
        if isinstance(kind, str):
            return kind
        keys = [k for k in step if k not in ("label", "kind_")]
        return str(keys[0]) if keys else "?"
    return type(step).__name__


def render_task(task: Task) -> str:
    """A task card: name, ids, description, input schema and its workflows' steps."""
    workflows = {"main": task.main}
    workflows.update(
        {k: v for k, v in (task.model_extra or {}).items() if isinstance(v, list) and k != "tools"}
    )
    items = "".join(
        f"<li>{code(name)}: {_count(len(steps), 'step')}"
        f' <span style="{MUTED}">({esc(", ".join(_step_kind(s) for s in steps[:12]))}'
        f"{', …' if len(steps) > 12 else ''})</span></li>"
        for name, steps in workflows.items()
    )
    schema = ""
    if task.input_schema:
        schema = (
            '<details><summary style="cursor: pointer;">Input schema</summary>'
            f"{_json_block(task.input_schema, ROW_OUTPUT_CHARS * 5)}</details>"
        )
    description = f"<div>{esc(task.description)}</div>" if task.description else ""
    return card(
        '<div style="display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;">'
        f'<span style="font-weight: 600;">Julep task</span><b>{esc(task.name)}</b>'
        f"{code(task.id)}</div>"
        f'<div style="{MUTED}">Agent {code(task.agent_id or "—")}</div>{description}'
        f'<ul style="margin: 4px 0; padding-left: 20px;">{items}</ul>{schema}'
    )


def _stamp(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    day = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f'<span title="{esc_attr(moment.isoformat())}">{day}</span>'


def render_executions(executions: list[Execution]) -> str:
    """A table of executions: id, status, created, updated."""
    if not executions:
        return card(f'<div style="{MUTED}">No executions.</div>')
    body = "".join(
        f'<tr style="{ROW}"><td style="{CELL}">{code(e.id)}</td>'
        f'<td style="{CELL}">{badge(e.status)}</td>'
        f'<td style="{CELL}">{_stamp(e.created_at)}</td>'
        f'<td style="{CELL}">{_stamp(e.updated_at)}</td></tr>'
        for e in executions
    )
    return card(table(("id", "status", "created", "updated"), body))


def render_transitions(transitions: list[Transition]) -> str:
    """A table of transitions (as listed by the server, without durations)."""
    if not transitions:
        return card(f'<div style="{MUTED}">No transitions.</div>')
    body = "".join(_row(t, i + 1, None) for i, t in enumerate(transitions))
    return card(table(("#", "type", "step", "time", "output"), body))


def render_settings(settings: Mapping[str, Any]) -> str:
    """A key/value table of settings (the caller passes an already-redacted dict)."""
    body = "".join(
        f'<tr style="{ROW}"><td style="{CELL}{MUTED}">{esc(key)}</td><td style="{CELL}">'
        f"{code(value if isinstance(value, str) else one_line(value, 200))}</td></tr>"
        for key, value in settings.items()
    )
    return card(table(("setting", "value"), body))
