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
    from julep_nb.batch.run import run_many  # noqa: F401
    from julep_nb.connect import Client, run, watch  # noqa: F401
    from julep_nb.live.batch.handle import BatchHandle  # noqa: F401
    from julep_nb.live.errors import (  # noqa: F401
        ActionRefused,
        ActionUnsupported,
        SourceError,
        SourceNotFound,
        SourceUnauthorized,
        SourceUnreachable,
        StreamBroken,
        StreamUnavailable,
    )
    from julep_nb.live.events import (  # noqa: F401
        Capability,
        ExecutionStatus,
        StatusReport,
        TimelineEntry,
    )
    from julep_nb.live.handle import ExecutionHandle  # noqa: F401
    from julep_nb.live.source import ExecutionSource  # noqa: F401
    from julep_nb.live.state import ExecutionState, reduce  # noqa: F401
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
        Task,
        Transition,
        TransitionType,
    )

# A library logs; the application decides where that goes (nothing printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_JULEP_ERRORS = "julep_nb.sources.julep.errors"
_LIVE_ERRORS = "julep_nb.live.errors"
# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "APIError": _JULEP_ERRORS,
    "BatchHandle": "julep_nb.live.batch.handle",
    "ActionRefused": _LIVE_ERRORS,
    "ActionUnsupported": _LIVE_ERRORS,
    "AuthError": _JULEP_ERRORS,
    "Capability": "julep_nb.live.events",
    "Client": "julep_nb.connect",
    "ConfigError": _JULEP_ERRORS,
    "ConflictError": _JULEP_ERRORS,
    "Execution": "julep_nb.sources.julep.models",
    "ExecutionHandle": "julep_nb.live.handle",
    "ExecutionSource": "julep_nb.live.source",
    "ExecutionState": "julep_nb.live.state",
    "ExecutionStatus": "julep_nb.live.events",
    "InputError": _JULEP_ERRORS,
    "JulepError": _JULEP_ERRORS,
    "NotFoundError": _JULEP_ERRORS,
    "Settings": "julep_nb.sources.julep.config",
    "SourceError": _LIVE_ERRORS,
    "SourceNotFound": _LIVE_ERRORS,
    "SourceUnauthorized": _LIVE_ERRORS,
    "SourceUnreachable": _LIVE_ERRORS,
    "StatusReport": "julep_nb.live.events",
    "StreamBroken": _LIVE_ERRORS,
    "StreamError": _JULEP_ERRORS,
    "StreamUnavailable": _LIVE_ERRORS,
    "Task": "julep_nb.sources.julep.models",
    "TimelineEntry": "julep_nb.live.events",
    "Transition": "julep_nb.sources.julep.models",
    "TransitionType": "julep_nb.sources.julep.models",
    "TransportError": _JULEP_ERRORS,
    "ValidationError": _JULEP_ERRORS,
    "reduce": "julep_nb.live.state",
    "resolve_settings": "julep_nb.sources.julep.config",
    "run": "julep_nb.connect",
    "run_many": "julep_nb.batch.run",
    "watch": "julep_nb.connect",
}

__all__ = [
    "APIError",
    "ActionRefused",
    "ActionUnsupported",
    "AuthError",
    "BatchHandle",
    "Capability",
    "Client",
    "ConfigError",
    "ConflictError",
    "Execution",
    "ExecutionHandle",
    "ExecutionSource",
    "ExecutionState",
    "ExecutionStatus",
    "InputError",
    "JulepError",
    "NotFoundError",
    "Settings",
    "SourceError",
    "SourceNotFound",
    "SourceUnauthorized",
    "SourceUnreachable",
    "StatusReport",
    "StreamBroken",
    "StreamError",
    "StreamUnavailable",
    "Task",
    "TimelineEntry",
    "Transition",
    "TransitionType",
    "TransportError",
    "ValidationError",
    "__version__",
    "load_ipython_extension",
    "reduce",
    "resolve_settings",
    "run",
    "run_many",
    "unload_ipython_extension",
    "watch",
]


# Names whose objects display as cards: the display layer's renderer comes with them
# (the live layer never imports the display layer; julep_nb.display.html lends its card).
_WITH_CARDS = frozenset({"Client", "ExecutionHandle", "run", "watch"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        if name in _WITH_CARDS:
            importlib.import_module("julep_nb.display.html")
        value = getattr(module, name)
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
