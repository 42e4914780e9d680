"""Pure renderers: execution state and wire objects in, escaped HTML (or text) out.

Everything that comes from the server is escaped. Styles are inline (GitHub and
nbviewer strip ``<style>``) and use JupyterLab's CSS variables with fallbacks, so a
card reads well in light and dark themes and outside Jupyter. No JavaScript.

Rendering is cheap enough to run at 10 Hz in hundreds of panels: only the newest
``limit`` timeline rows are rendered (each row once, then cached: see
:mod:`julep_nb.display.timeline`), the Gantt chart reads per-step totals that the
state keeps in O(steps), and JSON is encoded lazily and stopped at the size shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from julep_nb.display._format import (
    bounded_json,
    esc,
    esc_attr,
    format_count,
    format_duration,
    now_like,
    one_line,
)
from julep_nb.display._style import (
    CELL,
    ERROR_TINT,
    MUTED,
    PRE,
    ROW,
    STATUS_COLORS,
    WAIT_TINT,
    badge,
    box,
    card,
    code,
    table,
)
from julep_nb.display._words import title, words
from julep_nb.display.gantt import render_bars
from julep_nb.display.timeline import ROW_OUTPUT_CHARS, render_timeline, render_transitions
from julep_nb.live.events import ExecutionStatus
from julep_nb.live.handle import set_html_renderer
from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.models import Execution, Task

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
    "stop_reason",
]

S = ExecutionStatus

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
    """Execution and task ids, the status badge, elapsed time, entries, current step."""
    elapsed = state.elapsed(now or now_like(state.created_at))
    facts = [
        f"{esc(words(state).task)} {code(state.task_id or state.name or '—')}",
        f"Elapsed <b>{esc(format_duration(elapsed))}</b>",
        f"{esc(words(state).entries.capitalize())} <b>{format_count(state.entry_count)}</b>",
    ]
    if state.current_step_label and not state.is_terminal:
        facts.append(f"Step {code(state.current_step_label)}")
    spans = "".join(f"<span>{fact}</span>" for fact in facts)
    return (
        '<div style="display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;">'
        f'<span style="font-weight: 600;">{esc(title(state))}</span>{code(state.execution_id)}'
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
    return _render_stopped(S.FAILED, message, max_chars=max_chars)


def _render_stopped(
    status: ExecutionStatus, message: str | None, *, max_chars: int = 20_000
) -> str:
    """A failed or timed-out execution: its error message, or a line saying there is none."""
    how = "failed" if status is S.FAILED else "timed out"
    text = message or f"The execution {how} without an error message."
    cut = len(text) > max_chars
    body = f'<pre style="{PRE}">{esc(text[:max_chars])}</pre>'
    if cut:
        body += f'<div style="{MUTED} font-style: italic;">Error message truncated.</div>'
    return box(f"Execution {how}", body, ERROR_TINT, STATUS_COLORS[status])


def render_waiting(info: Any, *, max_chars: int = 20_000) -> str:
    """What a waiting step asks for."""
    body = (
        _json_block(info, max_chars, full="handle.state.waiting_info") if info is not None else ""
    )
    return box("Waiting for input", body, WAIT_TINT, STATUS_COLORS[S.AWAITING_INPUT])


def stop_reason(state: ExecutionState) -> str | None:
    """Why a cancelled or terminated execution stopped, when the service says."""
    output = state.output
    reason = output.get("reason") if isinstance(output, Mapping) else output
    if isinstance(reason, str) and reason and reason != state.status.value:
        return reason  # {"reason": …}, or the reason itself (a bare "cancelled" says nothing)
    return state.error or None


def _render_cancelled(state: ExecutionState) -> str:
    reason = stop_reason(state)
    body = f"<div>Reason: {esc(reason)}</div>" if reason else ""
    how = "cancelled" if state.status is S.CANCELLED else "terminated"
    return box(f"Execution {how}", body, "", STATUS_COLORS[state.status])


def _render_continued(state: ExecutionState) -> str:
    if state.next_run:
        body = f"<div>It goes on as a new run: {code(state.next_run)}</div>"
    else:
        body = "<div>It goes on as a new run.</div>"
    return box("Continued as new", body, "", STATUS_COLORS[S.CONTINUED_AS_NEW])


def render_result(state: ExecutionState, *, max_chars: int = 20_000) -> str:
    """The part that depends on the status: output, error, how it stopped, or the wait."""
    status = state.status
    if status is S.SUCCEEDED:
        return render_output(state.output, max_chars=max_chars)
    if status in (S.FAILED, S.TIMED_OUT):
        return _render_stopped(status, state.error, max_chars=max_chars)
    if status in (S.CANCELLED, S.TERMINATED):
        return _render_cancelled(state)
    if status is S.CONTINUED_AS_NEW:
        return _render_continued(state)
    if status is S.AWAITING_INPUT:
        return render_waiting(state.waiting_info, max_chars=max_chars)
    return ""


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
        f"{title(state)} {state.execution_id}",
        f"{words(state).task.lower()} {state.task_id or state.name or '-'}",
        state.status.value,
        _count(state.entry_count, words(state).entries.removesuffix("s")),
        f"elapsed {format_duration(elapsed)}",
    ]
    if state.current_step_label and not state.is_terminal:
        parts.append(f"step {state.current_step_label}")
    detail = _text_detail(state)
    return " · ".join(parts) + (f"\n  {detail}" if detail else "")


def _text_detail(state: ExecutionState) -> str | None:
    """The second line of the text summary: what the status is about, if anything."""
    status = state.status
    if status is S.FAILED or (status is S.TIMED_OUT and state.error):
        return f"error: {one_line(state.error or '', 200)}"
    if status in (S.CANCELLED, S.TERMINATED):
        reason = stop_reason(state)
        return f"reason: {one_line(reason, 200)}" if reason else None
    if status is S.CONTINUED_AS_NEW:
        return f"next run: {state.next_run}" if state.next_run else None
    if status is S.AWAITING_INPUT:
        return f"waiting for input: {one_line(state.waiting_info, 200)}"
    if status is S.SUCCEEDED:
        return f"output: {one_line(state.output, 200)}"
    return None


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


def render_settings(settings: Mapping[str, Any]) -> str:
    """A key/value table of settings (the caller passes an already-redacted dict)."""
    body = "".join(
        f'<tr style="{ROW}"><td style="{CELL}{MUTED}">{esc(key)}</td><td style="{CELL}">'
        f"{code(value if isinstance(value, str) else one_line(value, 200))}</td></tr>"
        for key, value in settings.items()
    )
    return card(table(("setting", "value"), body))


# Handles render as this card (the live layer does not import the display layer).
set_html_renderer(render_execution)
