"""The subcommands of ``%julep_exec`` and ``%%julep_task``: one plain function each.

Every subcommand is ``function(session, args, body)``: a
:class:`~julep_nb.magics.session.Session` (plain data: a client factory, the sync
runner, the notebook namespace, the session's task names and agents, the cell
record and the view options), the ``argparse.Namespace`` its parser produced, and
the cell body (None for a line magic). None of them sees the magics class or
IPython; :mod:`julep_nb.magics.router` maps names to (parser, function).
"""

from __future__ import annotations

from julep_nb.magics.commands.config import config
from julep_nb.magics.commands.executions import cancel, resume, run, watch
from julep_nb.magics.commands.inspection import list_executions, status, transitions
from julep_nb.magics.commands.sources import query, signal, terminate
from julep_nb.magics.commands.tasks import define_task

__all__ = [
    "cancel",
    "config",
    "define_task",
    "list_executions",
    "query",
    "resume",
    "run",
    "signal",
    "status",
    "terminate",
    "transitions",
    "watch",
]
