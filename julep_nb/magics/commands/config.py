"""``%julep_exec config [NAME=VALUE ...]``: show the resolved settings, or set options."""

from __future__ import annotations

import argparse
from typing import Any, Final

from julep_nb.magics.arguments import parse_assignment
from julep_nb.magics.results import SettingsView
from julep_nb.magics.session import Session
from julep_nb.sources.julep.errors import InputError

__all__ = ["OPTIONS", "config", "parse_option"]

OPTIONS: Final = (
    "base_url", "environment", "api_key", "agent_id",
    "panel", "refresh_rate", "timeline_limit", "auto_local",
)  # fmt: skip

_NULLABLE: Final = frozenset({"base_url", "environment", "api_key", "agent_id"})


def config(session: Session, args: argparse.Namespace, body: str | None) -> SettingsView:
    """The resolved settings, the key masked; ``NAME=VALUE`` sets options first.

    Every assignment is parsed before the first is applied: a misspelt name or a
    value of the wrong kind changes nothing.
    """
    changes = [parse_option(*parse_assignment(text)) for text in args.assignments]
    for name, value in changes:
        session.configure(name, value)
    view = dict(session.describe())
    view["tasks defined here"] = ", ".join(session.task_names) or "—"
    return SettingsView(view)


def parse_option(name: str, value: str) -> tuple[str, Any]:
    """``NAME=VALUE`` text as the option's value: None, a bool, a number or a string."""
    if name not in OPTIONS:
        raise InputError(f"Unknown option {name!r}: use one of {', '.join(OPTIONS)}.")
    if value.lower() in ("", "none", "null"):
        if name not in _NULLABLE:
            raise InputError(f"{name} cannot be empty.")
        return name, None
    if name == "auto_local":
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"auto_local is true or false, not {value!r}.")
        return name, value.lower() in ("true", "1", "yes")
    if name in ("refresh_rate", "timeline_limit"):
        try:
            return name, float(value) if name == "refresh_rate" else int(value)
        except ValueError:
            raise InputError(f"{name} must be a number, not {value!r}.") from None
    return name, value
