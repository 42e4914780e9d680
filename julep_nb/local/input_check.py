"""An execution's input checked against its task's ``input_schema`` (400 naming the field)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from julep_nb.sources.julep.models import Task

__all__ = ["check_input"]


def check_input(task: Task, data: dict[str, Any], *, where: str = "input") -> None:
    """400 naming the failing field when ``data`` does not match the task's input_schema.

    ``where`` names ``data`` in the message (``items[3].input`` for a bulk item).
    """
    if not task.input_schema:
        return
    # Imported on first use: with its optional format checkers installed (JupyterLab
    # brings them) importing jsonschema takes seconds, which start() should not pay.
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(task.input_schema)
    error = jsonschema.exceptions.best_match(validator_cls(task.input_schema).iter_errors(data))
    if error is not None:
        field = where + "".join(f"[{p!r}]" for p in error.absolute_path)
        raise HTTPException(
            400, f"Invalid request arguments schema: {field}: {error.message} (task {task.id})"
        )
