"""The ``%julep_exec`` and ``%%julep_task`` magics.

Usage in a notebook::

    %load_ext julep_nb

    %%julep_task --name hello
    main:
      - evaluate:
          greeting: $ "Hello, " + steps[0].input.name

    %%julep_exec hello -o h
    name: Ada

``%julep_exec?`` shows every form; ``docs/magics.md`` is the full reference.
"""

from __future__ import annotations

from typing import Any

from julep_nb.magics.magics import JulepMagics
from julep_nb.magics.results import register, unregister

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_ATTR = "_julep_magics"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext julep_nb``: register the magics, their config and display hooks."""
    if getattr(ipython, _ATTR, None) is not None:
        return  # loaded already: keep the session's client, tasks and watchers
    # Magics.__init__ adds it to shell.configurables, so `%config JulepMagics` works,
    # and takes the shell as parent, so ipython_config.py settings apply.
    magics = JulepMagics(shell=ipython)
    ipython.register_magics(magics)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)
    register(ipython, magics.claim_display)
    setattr(ipython, _ATTR, magics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext julep_nb``: stop this session's watchers and remove the magics."""
    magics = getattr(ipython, _ATTR, None)
    if magics is None:
        return
    setattr(ipython, _ATTR, None)
    ipython.events.unregister("pre_run_cell", magics.pre_run_cell)
    unregister(ipython)
    while magics in ipython.configurables:
        ipython.configurables.remove(magics)
    for kind, names in (("line", ("julep_exec",)), ("cell", ("julep_exec", "julep_task"))):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    magics.close()
