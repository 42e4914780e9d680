"""Inline styles and small HTML pieces shared by the renderers.

Styles are inline because GitHub and nbviewer strip ``<style>``; colours come from
JupyterLab's CSS variables, with fallbacks for everywhere else. A live panel, which
sends its HTML again with every update, turns them into classes on the way out
(:mod:`julep_nb.display.classes`).
"""

from __future__ import annotations

from collections.abc import Iterable

from julep_nb.display._format import esc
from julep_nb.live.events import ExecutionStatus

S = ExecutionStatus

# Saturated enough for white text on both light and dark backgrounds.
STATUS_COLORS: dict[ExecutionStatus, str] = {
    S.QUEUED: "#78909c",
    S.STARTING: "#0277bd",
    S.RUNNING: "#1565c0",
    S.AWAITING_INPUT: "#b45309",
    S.SUCCEEDED: "#2e7d32",
    S.FAILED: "#c62828",
    S.CANCELLED: "#616161",
    S.TERMINATED: "#6a1b9a",
    S.TIMED_OUT: "#e65100",
    S.CONTINUED_AS_NEW: "#00838f",
}


FONT = (
    "font-family:var(--jp-ui-font-family,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif);"
    "font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,rgba(0,0,0,.87));"
)
MUTED = "color:var(--jp-ui-font-color2,#616161);"
BORDER = "var(--jp-border-color2,#e0e0e0)"
CODE = "font-family:var(--jp-code-font-family,monospace);font-size:.95em;"
PRE = (
    f"{CODE}margin:4px 0;padding:6px 8px;max-height:360px;overflow:auto;white-space:pre-wrap;"
    "word-break:break-word;background:var(--jp-layout-color2,rgba(127,127,127,.08));"
    "border-radius:3px;"
)
# Rows are the bulk of a card (50 per render), so their styles are short: the row
# line is on the <tr> (border-collapse), and cells repeat only what JupyterLab's
# rendered-HTML styles would otherwise override (right-aligned, middle, padded cells).
ROW = f"border-bottom:1px solid {BORDER};"
CELL = "padding:2px 6px;text-align:left;vertical-align:top;"
NOWRAP = f"{CELL}white-space:nowrap;"
HEAD_CELL = f"{CELL}{MUTED}font-weight:600;border-bottom:1px solid {BORDER};"
ROW_PRE = "margin:2px 0;max-height:240px;overflow:auto;white-space:pre-wrap;word-break:break-word;"
ERROR_TINT = "background:rgba(198,40,40,.1);"
WAIT_TINT = "background:rgba(180,83,9,.1);"


def badge(status: ExecutionStatus) -> str:
    """A pill with the status, coloured per status."""
    color = STATUS_COLORS.get(status, "#616161")
    return (
        f'<span title="status" style="background: {color}; color: #fff; border-radius: 10px; '
        f'padding: 1px 8px; font-size: 0.85em; font-weight: 600;">{esc(status.value)}</span>'
    )


def code(text: object) -> str:
    """Inline monospace text."""
    return f'<code style="{CODE}">{esc(text)}</code>'


def box(title: str, body: str, tint: str, color: str) -> str:
    """A highlighted block with a coloured left border and a title."""
    return (
        f'<div style="{tint} border-left: 4px solid {color}; border-radius: 3px; '
        f'padding: 4px 10px; margin: 6px 0;"><div style="font-weight: 600; color: {color};">'
        f"{title}</div>{body}</div>"
    )


def table(headers: Iterable[str], body: str) -> str:
    """A full-width table with a header row around ``body`` rows."""
    head = "".join(f'<th style="{HEAD_CELL}">{esc(h)}</th>' for h in headers)
    return (
        '<table style="border-collapse: collapse; width: 100%; margin: 4px 0;">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def card(inner: str) -> str:
    """The bordered outer box of every rendered object."""
    return (
        f'<div class="julep-nb" style="{FONT} border: 1px solid {BORDER}; border-radius: 4px; '
        f'padding: 8px 12px; margin: 2px 0; max-width: 1000px;">{inner}</div>'
    )
