"""What a subcommand reports when it cannot do what the cell asked.

Subcommands raise :class:`CommandError` (or the parsers'
:class:`~julep_nb.sources.julep.errors.InputError`); the magics class turns every
error a user can fix into a one-line ``UsageError`` with the API key redacted.
The context managers here give the server's refusals the words of the magic::

    with unknown("execution", execution_id):      # 404 -> "Unknown execution '…'"
        ...
    with refused("the input of task 'x'", "no execution was started"):   # 400/422
        ...
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping

from julep_nb.sources.julep.errors import NotFoundError, ValidationError

__all__ = ["CommandError", "refused", "task_hint", "unknown"]


class CommandError(Exception):
    """A subcommand cannot do what was asked; the message says why and what to do."""


@contextlib.contextmanager
def unknown(kind: str, ref: str, *, sent: str | None = None, hint: str = "") -> Iterator[None]:
    """A 404 inside becomes "Unknown <kind> '<ref>'" (the server's words kept).

    Hosted Julep answers 400/422, not 404, for an id that is not a UUID (a task name
    typed where an id was expected): that is reported the same way. ``sent`` is the
    id actually sent when ``ref`` is a task name.
    """
    try:
        yield
    except (NotFoundError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and _is_uuid(sent or ref):
            raise
        message = f"Unknown {kind} {ref!r}: the server answered {exc.status} ({exc.message})."
        raise CommandError(f"{message} {hint}".rstrip()) from None


@contextlib.contextmanager
def refused(what: str, consequence: str) -> Iterator[None]:
    """A 400/422 inside becomes "The server refused <what>: <its message>"."""
    try:
        yield
    except ValidationError as exc:
        raise CommandError(f"The server refused {what}: {exc.message} ({consequence}).") from None


def task_hint(task_names: Mapping[str, str]) -> str:
    """What to say after "Unknown task …": the tasks defined here, or how to define one."""
    if task_names:
        return f"Tasks defined with %%julep_task here: {', '.join(task_names)}."
    return "Define one with %%julep_task, or check the id."


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
