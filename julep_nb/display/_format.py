"""Small, pure formatting helpers shared by the HTML and text renderers.

Every helper is bounded: it never does work proportional to the size of a value
beyond the characters it returns (JSON is encoded lazily and stopped early).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from html import escape
from typing import Any

__all__ = [
    "bounded_json",
    "esc",
    "esc_attr",
    "format_count",
    "format_duration",
    "format_time",
    "now_like",
    "one_line",
]


def esc(value: object) -> str:
    """``value`` as text safe inside HTML element content (quotes kept: shorter output)."""
    return escape(str(value), quote=False)


def esc_attr(value: object) -> str:
    """``value`` as text safe inside a double- or single-quoted HTML attribute."""
    return escape(str(value), quote=True)


def format_count(n: int) -> str:
    """``12345`` -> ``'12,345'``."""
    return f"{n:,}"


def format_duration(seconds: float | None) -> str:
    """A short human duration: ``'850 ms'``, ``'2.35 s'``, ``'3m 04s'``, ``'1h 02m'``."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_time(moment: datetime | None) -> str:
    """``HH:MM:SS.mmm`` (the day is in the title attribute where it matters)."""
    if moment is None:
        return "—"
    return moment.strftime("%H:%M:%S.%f")[:-3]


def now_like(moment: datetime | None) -> datetime:
    """The current UTC time, naive when ``moment`` is naive (so they can be subtracted)."""
    now = datetime.now(timezone.utc)
    if moment is not None and moment.tzinfo is None:
        return now.replace(tzinfo=None)
    return now


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _chunks(value: Any, indent: int | None) -> Iterator[str]:
    separators = (",", ": ") if indent is not None else (",", ":")
    # iterencode() without _one_shot uses the lazy pure-Python encoder, so stopping
    # early really saves the work of encoding the rest of a huge value.
    encoder = json.JSONEncoder(
        indent=indent, separators=separators, default=_default, ensure_ascii=False
    )
    return encoder.iterencode(value)


def bounded_json(value: Any, max_chars: int, *, indent: int | None = 2) -> tuple[str, bool]:
    """JSON text of ``value``, at most ``max_chars`` long, and whether it was cut."""
    parts: list[str] = []
    size = 0
    try:
        for chunk in _chunks(value, indent):
            parts.append(chunk)
            size += len(chunk)
            if size > max_chars:
                return "".join(parts)[:max_chars], True
    except (ValueError, TypeError, RecursionError):  # circular or unencodable: show repr
        text = repr(value)
        return text[:max_chars], len(text) > max_chars
    return "".join(parts), False


def one_line(value: Any, max_chars: int = 80) -> str:
    """A compact one-line preview of ``value`` ending in ``…`` when cut."""
    if isinstance(value, str):
        text, cut = value, len(value) > max_chars
        text = " ".join(text[: max_chars + 1].split())
    else:
        text, cut = bounded_json(value, max_chars, indent=None)
    return text[:max_chars] + "…" if cut else text
