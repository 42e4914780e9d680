"""The execution-wide part of Julep's step context, and the tools a task can call.

Julep gives every step's expressions the dump of its ``StepContext``: besides
``_``, ``inputs``, ``outputs``, ``steps`` and ``state`` (which the frames keep,
see :mod:`julep_nb.local.frames`), the execution input's ``agent``, ``task``,
``execution``, ``arguments``, ``agent_tools``, ``developer_id``, ``user``,
``session`` and the developer's ``secrets``, and the step's ``cursor`` and
``current_input``. :func:`execution_names` builds the execution-wide ones from
the store (once per execution, and again after a restart).

The local server has one developer (:data:`DEVELOPER_ID`), no users, sessions
or secrets store: ``user`` and ``session`` are ``None``; ``secrets`` are read
from environment variables ``JULEP_NB_SECRET_<NAME>`` (the name lower-cased).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from julep_nb.local.validate import workflows

if TYPE_CHECKING:
    from julep_nb.local.store import Store

__all__ = [
    "DEVELOPER_ID",
    "SECRET_PREFIX",
    "TaskView",
    "execution_names",
    "secrets",
    "task_tools",
    "task_view",
]

DEVELOPER_ID: Final = "00000000-0000-0000-0000-000000000000"
SECRET_PREFIX: Final = "JULEP_NB_SECRET_"


def secrets() -> dict[str, str]:
    """The developer's secrets: ``JULEP_NB_SECRET_<NAME>`` environment variables."""
    # Keys first: decoding every value of the environment costs more than a step.
    names = [key for key in os.environ if key.startswith(SECRET_PREFIX)]
    return {
        key[len(SECRET_PREFIX) :].lower(): os.environ[key]
        for key in names
        if len(key) > len(SECRET_PREFIX)
    }


def task_tools(store: Store, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The tools a task's steps can call: its own, plus its agent's with ``inherit_tools``.

    As in Julep, a task tool wins over an agent tool of the same name.
    """
    own = [dict(t) for t in spec.get("tools") or []]
    agent_id = spec.get("agent_id")
    if not spec.get("inherit_tools") or not agent_id:
        return own
    names = {t.get("name") for t in own}
    inherited = [t for t in store.agent_tools.all_of(agent_id) if t.get("name") not in names]
    return inherited + own


class TaskView(NamedTuple):
    """A task's text read once for all its executions: shared, so never modified."""

    spec: dict[str, Any]
    """The task as wire data (what the engine runs)."""
    task: dict[str, Any]
    """The ``task`` name of the step context: the spec with its ``workflows`` listed."""
    spells_secrets: bool
    """Whether its steps can reach ``secrets`` (see :func:`execution_names`)."""


_VIEWS: Final[dict[str, TaskView]] = {}  # by the task's JSON text (see task_view)
_MAX_VIEWS: Final = 256


def task_view(spec_json: str) -> TaskView:
    """The :class:`TaskView` of a task's JSON text; the same one while the text is the
    same (the store hands out one string per task version: a lookup by identity)."""
    view = _VIEWS.get(spec_json)
    if view is None:
        if len(_VIEWS) >= _MAX_VIEWS:  # the oldest task text leaves first
            _VIEWS.pop(next(iter(_VIEWS)), None)
        spec = json.loads(spec_json)
        listed = [{"name": name, "steps": steps} for name, steps in workflows(spec).items()]
        view = _VIEWS[spec_json] = TaskView(
            spec, {**spec, "workflows": listed}, _spells_secrets(spec)
        )
    return view


def execution_names(store: Store, execution: dict[str, Any], view: TaskView) -> dict[str, Any]:
    """The execution-wide names of Julep's step context (see the module docstring), for
    ``execution`` as wire data (the names hold it as it is) of the task ``view``."""
    agent_id = view.spec.get("agent_id")
    agent = store.agent_names(agent_id) if agent_id else {"agent": None, "agent_tools": []}
    return {
        "agent": agent["agent"],
        "task": view.task,
        "execution": execution,
        "arguments": execution.get("input") or {},
        "agent_tools": agent["agent_tools"],
        "developer_id": DEVELOPER_ID,
        "user": None,
        "session": None,
        # Reading the environment costs more than a step; a task that never spells the
        # name cannot reach its value.
        "secrets": secrets() if view.spells_secrets else {},
    }


def _spells_secrets(spec: dict[str, Any]) -> bool:
    """Whether a key or string of the task contains ``secrets`` as Python reads names
    (NFKC-normalised: ``ｓecrets`` is the same identifier)."""
    return any("secrets" in unicodedata.normalize("NFKC", text) for text in _texts(spec))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
