"""What a subcommand needs from the notebook session, as plain data.

The magics class builds one :class:`Session` per magic call from its traits and
its state; subcommands take it and their parsed arguments, nothing else, so they
run (and are tested) without IPython::

    session = Session(client=lambda: client, run=run_sync, namespace={})
    handle = executions.run(session, arguments.run_parser().parse(["hello"]), "name: Ada")
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from julep_nb.magics.errors import CommandError

if TYPE_CHECKING:
    from julep_nb.live.source import ExecutionSource
    from julep_nb.sources.julep.client import Client

__all__ = ["CellRecord", "Runner", "Session", "Started", "ViewOptions"]

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine to completion where the watchers live, and returns its result."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> T: ...


@dataclass(frozen=True, kw_only=True)
class ViewOptions:
    """How live panels look: ``JulepMagics.panel``, ``refresh_rate``, ``timeline_limit``."""

    panel: str = "auto"
    refresh_rate: float = 10.0
    timeline_limit: int = 50


class Started(Protocol):
    """What a cell starts: an execution's watcher (``ExecutionHandle``) or a batch."""

    @property
    def watching(self) -> bool: ...

    def stop(self) -> None: ...


@dataclass(kw_only=True)
class CellRecord:
    """The running cell: its key, the watchers and batches it started, the panels it
    displayed.

    Re-running the cell stops ``started`` (a watcher stops watching, a batch starts
    nothing more; no execution is cancelled); a handle in ``shown`` is not displayed a
    second time as the cell's result.
    """

    key: str | None = None
    started: list[Started] = field(default_factory=list)
    shown: list[Any] = field(default_factory=list)  # handles and batches on screen


def _no_options(name: str, value: Any) -> None:
    raise NotImplementedError("this session cannot change options")


def _no_sources(ref: str) -> ExecutionSource:
    raise CommandError(f"--source {ref}: this session has no sources (load the extension).")


@dataclass(frozen=True, kw_only=True)
class Session:
    """Everything a subcommand may use; the mutable parts are shared with the session.

    ``client`` builds (or returns) the client for the current settings and is called
    only once a request is due, so a bad cell starts no server and sends nothing.
    ``namespace`` is the notebook's (``-o VAR``, ``--input-var``, variables as ids);
    None outside IPython. ``task_names`` (``%%julep_task`` name → id) and ``agents``
    (base URL → default agent id) are written by the commands that learn them.
    ``source(url_or_name)`` is the connected Temporal or Thand source of a
    ``--source`` value (connected once per URL per session, then reused).
    ``configure(name, value)`` sets an option and ``describe()`` returns the resolved
    settings (key masked) and the options: only ``config`` uses them.
    """

    client: Callable[[], Client]
    run: Runner
    namespace: MutableMapping[str, Any] | None = field(default=None, repr=False)
    task_names: MutableMapping[str, str] = field(default_factory=dict)
    agents: MutableMapping[str, str] = field(default_factory=dict)
    agent_id: str | None = None
    view: ViewOptions = field(default_factory=ViewOptions)
    cell: CellRecord = field(default_factory=CellRecord)
    source: Callable[[str], ExecutionSource] = _no_sources
    configure: Callable[[str, Any], None] = _no_options
    describe: Callable[[], Mapping[str, Any]] = dict

    def store(self, name: str | None, value: Any) -> None:
        """``-o NAME``: put ``value`` in the notebook's namespace."""
        if not name:
            return
        if self.namespace is None:
            raise CommandError(f"-o {name}: there is no notebook namespace to store into.")
        self.namespace[name] = value
