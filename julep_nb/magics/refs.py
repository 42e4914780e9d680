"""TASK_ID and EXECUTION_ID arguments that name notebook variables instead of ids.

``%%julep_exec resume form_run`` reads better than pasting a UUID: a Python name
bound to a handle, a state, an ``Execution`` or a ``Task`` (ours or the official
SDK's), or to a string, stands for that object's id. Ids are used as given. Pure
functions of the argument and the namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from julep_nb.sources.julep.errors import InputError

__all__ = ["execution_ref", "task_ref"]


def task_ref(
    value: str, *, namespace: Mapping[str, Any] | None, task_names: Mapping[str, str]
) -> str:
    """A task id or session task name, or the one a notebook variable ``value`` holds.

    Names defined with ``%%julep_task`` come first; then a Python name bound to a
    ``Task``, a handle or state (its task), or a string.
    """
    if value in task_names or not _bound(value, namespace):
        return value
    assert namespace is not None
    bound = namespace[value]
    if isinstance(bound, str):
        return bound
    found = getattr(bound, "task_id", None)  # a handle, a state, an Execution
    if not isinstance(found, str) and type(bound).__name__ == "Task":
        found = getattr(bound, "id", None)  # ours or the official SDK's
    if isinstance(found, str) and found:
        return found
    raise InputError(
        f"{value!r} in this notebook is not a task (it is of type {type(bound).__name__}): "
        "pass a task id, a name defined with %%julep_task, or a variable holding a Task "
        "(e.g. one saved with %%julep_task -o NAME)."
    )


def execution_ref(value: str, *, namespace: Mapping[str, Any] | None) -> str:
    """An execution id, or the id of the execution the notebook variable ``value`` holds."""
    if not _bound(value, namespace):
        return value
    assert namespace is not None
    bound = namespace[value]
    if isinstance(bound, str):
        return bound
    found = getattr(bound, "execution_id", None)  # a state, a transition
    if not isinstance(found, str) and "Execution" in type(bound).__name__:
        found = getattr(bound, "id", None)  # a handle, an Execution (ours or the SDK's)
    if isinstance(found, str) and found:
        return found
    raise InputError(
        f"{value!r} in this notebook is not an execution (it is of type "
        f"{type(bound).__name__}): pass an execution id, or the name of a handle "
        "(e.g. one saved with -o NAME)."
    )


def _bound(value: str, namespace: Mapping[str, Any] | None) -> bool:
    return namespace is not None and value.isidentifier() and value in namespace
