"""julep_nb.local: the embedded, Julep-compatible server (offline default backend).

Usage::

    import julep_nb.local

    with julep_nb.local.start() as server:     # random loopback port, in-memory db
        print(server.base_url)

    julep_nb.local.register_integration("brave", "search", lambda arguments, setup: {...})

Names resolve lazily, so importing a submodule (``julep_nb.local.store``) does
not pull in the web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from julep_nb.local.app import create_app
    from julep_nb.local.integrations import register_integration
    from julep_nb.local.server import LocalServer, start
    from julep_nb.local.store import Store

__all__ = ["LocalServer", "Store", "create_app", "register_integration", "start"]

_LAZY: dict[str, str] = {
    "LocalServer": "julep_nb.local.server",
    "Store": "julep_nb.local.store",
    "create_app": "julep_nb.local.app",
    "register_integration": "julep_nb.local.integrations",
    "start": "julep_nb.local.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'julep_nb.local' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
