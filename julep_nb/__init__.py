"""julep_nb: Julep task executions, first-class in Jupyter.

Usage in a notebook::

    %load_ext julep_nb

    %%julep_exec TASK_ID
    topic: otters

From Python::

    import julep_nb

    async with julep_nb.Client() as client:        # embedded server when unconfigured
        handle = await julep_nb.run(task_id, {"topic": "otters"}, client=client)
        state = await handle

``import julep_nb`` stays light: IPython, ipywidgets and the local server's web
stack are imported only when a name that needs them is used.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from julep_nb._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from julep_nb.sources.julep.client import Client  # noqa: F401
    from julep_nb.sources.julep.config import Settings, resolve_settings  # noqa: F401
    from julep_nb.sources.julep.errors import (  # noqa: F401
        APIError,
        AuthError,
        ConfigError,
        ConflictError,
        InputError,
        JulepError,
        NotFoundError,
        StreamError,
        TransportError,
        ValidationError,
    )
    from julep_nb.sources.julep.models import (  # noqa: F401
        Execution,
        ExecutionStatus,
        Task,
        Transition,
        TransitionType,
    )
    from julep_nb.live.handle import ExecutionHandle, run, watch  # noqa: F401
    from julep_nb.live.state import ExecutionState, reduce  # noqa: F401

# A library logs; the application decides where that goes (nothing printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "APIError": "julep_nb.sources.julep.errors",
    "AuthError": "julep_nb.sources.julep.errors",
    "ConfigError": "julep_nb.sources.julep.errors",
    "ConflictError": "julep_nb.sources.julep.errors",
    "Execution": "julep_nb.sources.julep.models",
    "Client": "julep_nb.sources.julep.client",
    "ExecutionHandle": "julep_nb.live.handle",
    "ExecutionState": "julep_nb.live.state",
    "ExecutionStatus": "julep_nb.sources.julep.models",
    "InputError": "julep_nb.sources.julep.errors",
    "JulepError": "julep_nb.sources.julep.errors",
    "NotFoundError": "julep_nb.sources.julep.errors",
    "Settings": "julep_nb.sources.julep.config",
    "StreamError": "julep_nb.sources.julep.errors",
    "Task": "julep_nb.sources.julep.models",
    "Transition": "julep_nb.sources.julep.models",
    "TransitionType": "julep_nb.sources.julep.models",
    "TransportError": "julep_nb.sources.julep.errors",
    "ValidationError": "julep_nb.sources.julep.errors",
    "reduce": "julep_nb.live.state",
    "resolve_settings": "julep_nb.sources.julep.config",
    "run": "julep_nb.live.handle",
    "watch": "julep_nb.live.handle",
}

__all__ = [
    "APIError",
    "AuthError",
    "Client",
    "ConfigError",
    "ConflictError",
    "Execution",
    "ExecutionHandle",
    "ExecutionState",
    "ExecutionStatus",
    "InputError",
    "JulepError",
    "NotFoundError",
    "Settings",
    "StreamError",
    "Task",
    "Transition",
    "TransitionType",
    "TransportError",
    "ValidationError",
    "__version__",
    "load_ipython_extension",
    "reduce",
    "resolve_settings",
    "run",
    "unload_ipython_extension",
    "watch",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "local":
        return importlib.import_module("julep_nb.local")
    raise AttributeError(f"module 'julep_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext julep_nb``: register the ``%julep_exec`` and ``%%julep_task`` magics."""
    from julep_nb.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext julep_nb``: stop this kernel's watchers."""
    from julep_nb.magics import unload_ipython_extension as _unload

    _unload(ipython)
