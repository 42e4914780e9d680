"""A Gantt-style inline SVG of step durations, bounded in size whatever the step count.

Each step label gets one bar whose length is the total time spent in it; bars are laid
end to end in first-seen order, so a sequential workflow reads as a Gantt chart and a
loop's repeated steps add up on their own row.
"""

from __future__ import annotations

from collections.abc import Mapping

from julep_nb.display._format import esc, format_count, format_duration

__all__ = ["MAX_BARS", "render_bars"]

MAX_BARS = 20  # the chart never grows past this many rows
LABEL_WIDTH = 170
CHART_WIDTH = 400
VALUE_WIDTH = 80
BAR_HEIGHT = 14
ROW_HEIGHT = 20
MAX_LABEL_CHARS = 26
PALETTE = ("#1e88e5", "#00897b", "#8e24aa", "#f4511e", "#6d4c41", "#3949ab")


def _select(totals: Mapping[str, float]) -> list[tuple[str, float]]:
    """At most MAX_BARS bars: the longest steps in first-seen order, the rest summed."""
    items = list(totals.items())
    if len(items) <= MAX_BARS:
        return items
    keep = {label for label, _ in sorted(items, key=lambda kv: -kv[1])[: MAX_BARS - 1]}
    chosen = [(label, seconds) for label, seconds in items if label in keep]
    rest = [seconds for label, seconds in items if label not in keep]
    chosen.append((f"+{format_count(len(rest))} other steps", sum(rest)))
    return chosen


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def render_bars(totals: Mapping[str, float]) -> str:
    """The SVG chart (inside a captioned div), or ``""`` when there is nothing to draw."""
    bars = _select(totals)
    total = sum(seconds for _, seconds in bars)
    if not bars or total <= 0:
        return ""
    scale = CHART_WIDTH / total
    width = LABEL_WIDTH + CHART_WIDTH + VALUE_WIDTH
    height = len(bars) * ROW_HEIGHT + 4
    rows: list[str] = []
    offset = 0.0
    for i, (label, seconds) in enumerate(bars):
        y = 2 + i * ROW_HEIGHT
        x = LABEL_WIDTH + offset * scale
        bar = max(seconds * scale, 1.0)
        text_y = y + BAR_HEIGHT - 3
        tip = f"{label}: {format_duration(seconds)}"
        rows.append(
            f"<g><title>{esc(tip)}</title>"
            f'<text x="{LABEL_WIDTH - 6}" y="{text_y}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{esc(_short(label))}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{BAR_HEIGHT}" rx="2" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{min(x + bar + 4, width - VALUE_WIDTH + 4):.1f}" y="{text_y}" '
            f'font-size="10" fill="currentColor" fill-opacity="0.7">'
            f"{esc(format_duration(seconds))}</text></g>"
        )
        offset += seconds
    return (
        '<div style="margin: 6px 0;">'
        '<div style="color: var(--jp-ui-font-color2, #616161);">Step durations · total '
        f"{esc(format_duration(total))}</div>"
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width: {width}px; height: auto;" role="img" '
        f'aria-label="Step durations">{"".join(rows)}</svg></div>'
    )
