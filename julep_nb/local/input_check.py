"""An execution's input checked against its task's ``input_schema`` (400 naming the field)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from starlette.exceptions import HTTPException

__all__ = ["check_input", "check_inputs"]


def check_input(
    task_id: str, schema: dict[str, Any] | None, data: dict[str, Any], *, where: str = "input"
) -> None:
    """400 naming the failing field when ``data`` does not match the task's ``schema``.

    ``where`` names ``data`` in the message.
    """
    check_inputs(task_id, schema, [(where, data)])


def check_inputs(
    task_id: str, schema: dict[str, Any] | None, inputs: Iterable[tuple[str, dict[str, Any]]]
) -> None:
    """:func:`check_input` for each ``(where, data)`` (``items[3].input`` for a bulk item),
    with the schema's validator looked up once."""
    if not schema:
        return
    # Imported on first use: with its optional format checkers installed (JupyterLab
    # brings them) importing jsonschema takes seconds, which start() should not pay.
    import jsonschema

    validator = _validator(json.dumps(schema, sort_keys=True))
    for where, data in inputs:
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            field = where + "".join(f"[{p!r}]" for p in error.absolute_path)
            raise HTTPException(
                400, f"Invalid request arguments schema: {field}: {error.message} (task {task_id})"
            )


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    """One validator per schema (keyed by its JSON): a batch checks thousands of inputs."""
    import jsonschema

    schema = json.loads(schema_json)
    return jsonschema.validators.validator_for(schema)(schema)
