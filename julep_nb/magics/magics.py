"""``JulepMagics``: the traitlets-configured magics class; the work is in ``commands``.

The class holds configuration (``%config JulepMagics.x = …``), the lazily built
client, the names of tasks defined in this session and which watchers each cell
started. Every magic is a thin shell around :mod:`julep_nb.magics.commands`:
errors a user can fix become :class:`~IPython.core.error.UsageError` (no
traceback), with the API key redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Integer, TraitError, Unicode, validate
from traitlets.config import Configurable

from julep_nb.magics import commands
from julep_nb.magics.arguments import PANEL_MODES, HelpRequested
from julep_nb.magics.loop import kernel_loop, run_sync
from julep_nb.sources.julep.config import ENVIRONMENTS, NOT_GIVEN, Settings, mask_key, redact
from julep_nb.sources.julep.config import resolve_settings as _resolve
from julep_nb.sources.julep.errors import ConfigError, JulepError

if TYPE_CHECKING:
    from julep_nb.connect import Client
    from julep_nb.live.handle import ExecutionHandle

__all__ = ["JulepMagics"]

T = TypeVar("T")

NO_SERVER_HELP = (
    "set JULEP_API_KEY (hosted Julep) or JULEP_BASE_URL, or run "
    "%config JulepMagics.base_url = 'https://…' (and JulepMagics.api_key)"
)


@magics_class
class JulepMagics(Magics, Configurable):
    """Run and watch Julep task executions from notebook cells."""

    base_url = Unicode(
        None,
        allow_none=True,
        help="Julep API base URL (default: JULEP_BASE_URL, else hosted Julep when a key is set, "
        "else the embedded local server).",
    ).tag(config=True)
    environment = Enum(
        list(ENVIRONMENTS),
        default_value=None,
        allow_none=True,
        help="A named Julep environment; used when base_url is not set.",
    ).tag(config=True)
    api_key = Unicode(
        None,
        allow_none=True,
        help="Julep API key (default: JULEP_API_KEY). Stored privately: reading it back "
        "shows only its last 4 characters.",
    ).tag(config=True)
    agent_id = Unicode(
        None,
        allow_none=True,
        help="Agent that owns %%julep_task tasks when --agent is not given "
        "(default: one agent, created on first use per server).",
    ).tag(config=True)
    panel = Enum(
        list(PANEL_MODES),
        default_value="auto",
        help="Live view: auto (a widget in a kernel with ipywidgets, else HTML), widget, "
        "html, or none.",
    ).tag(config=True)
    refresh_rate = Float(10.0, help="Panel updates per second, at most.").tag(config=True)
    timeline_limit = Integer(50, help="Timeline rows shown (the newest).").tag(config=True)
    auto_local = Bool(
        True,
        help="With no base URL and no key, start the embedded local server (else an error).",
    ).tag(config=True)

    _secret: str | None = None  # the real key; the trait holds only its masked form

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: Client | None = None
        self._client_settings: Settings | None = None
        self._retired: list[Client] = []
        self._announced = False
        self.task_names: dict[str, str] = {}  # %%julep_task name -> task id
        self.agents: dict[str, str] = {}  # base URL -> default agent id
        self.cell_key: str | None = None
        self._cell_handles: dict[str, list[ExecutionHandle]] = {}
        self._shown: list[Any] = []  # handles whose panel this cell already displayed

    # ------------------------------------------------------------------ traits

    @validate("api_key")
    def _keep_key_private(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is not None and value == mask_key(self._secret):
            return str(value)  # the masked value written back: no change
        self._secret = value or None
        return mask_key(value) if value else None

    @validate("refresh_rate")
    def _positive_rate(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise TraitError(
                f"refresh_rate must be > 0 updates per second, not {proposal['value']}"
            )
        return float(proposal["value"])

    @validate("timeline_limit")
    def _positive_limit(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"timeline_limit must be at least 1, not {proposal['value']}")
        return int(proposal["value"])

    # ------------------------------------------------------------------ client

    def settings(self) -> Settings:
        """Where requests go, from the traits, then the environment (key kept private)."""
        # An environment set here is explicit: it wins over JULEP_BASE_URL.
        base_url = self.base_url or (None if self.environment else NOT_GIVEN)
        return _resolve(base_url=base_url, api_key=self._secret, environment=self.environment)

    def client(self) -> Client:
        """The client for the current settings; rebuilt when traits or env vars change."""
        from julep_nb.connect import Client

        settings = self.settings()
        if self._client is not None and settings == self._client_settings:
            return self._client
        target = settings
        if settings.use_local:
            target = self._local_settings(settings)
        if self._client is not None:
            # Watchers of earlier executions still use it: keep it open until unload.
            self._retired.append(self._client)
            if self._client.base_url != target.base_url:
                self.task_names.clear()  # names defined here refer to the other server
        self._client, self._client_settings = Client(settings=target), settings
        return self._client

    def _local_settings(self, settings: Settings) -> Settings:
        if not self.auto_local:
            raise ConfigError(
                "No Julep server is configured and JulepMagics.auto_local is False: "
                f"{NO_SERVER_HELP}; or %config JulepMagics.auto_local = True for the "
                "embedded local server."
            )
        from julep_nb.connect import shared_local_server

        server = shared_local_server()
        if not self._announced:
            self._announced = True
            print(
                f"julep_nb: no Julep server configured, using the embedded local server at "
                f"{server.base_url} (in memory). To use Julep instead, {NO_SERVER_HELP}."
            )
        return settings.with_base_url(server.base_url, server.api_key)

    def local_url(self) -> str | None:
        """The embedded local server's URL when the current client uses it."""
        settings, client = self._client_settings, self._client
        if settings is None or client is None or not settings.use_local:
            return None
        return client.base_url

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a client coroutine to completion on the kernel loop (see ``loop.py``)."""
        return run_sync(coro)

    # ------------------------------------------------------------------ cells

    def pre_run_cell(self, info: Any) -> None:
        """IPython event: a cell starts. Stop the watchers its previous run started."""
        cell_id = getattr(info, "cell_id", None)
        raw = getattr(info, "raw_cell", "") or ""
        self.cell_key = (
            f"cell:{cell_id}" if cell_id else "src:" + hashlib.sha1(raw.encode()).hexdigest()[:16]
        )
        self._shown.clear()
        for handle in self._cell_handles.pop(self.cell_key, []):
            handle.stop()

    def adopt(self, handle: ExecutionHandle, *, shown: bool) -> None:
        """Remember that the current cell started ``handle`` (and displayed its panel)."""
        for key, handles in list(self._cell_handles.items()):
            # Forget finished ones, so a long session does not keep every state alive.
            handles[:] = [h for h in handles if h.watching]
            if not handles:
                del self._cell_handles[key]
        if self.cell_key is not None:
            self._cell_handles.setdefault(self.cell_key, []).append(handle)
        if shown:
            self._shown.append(handle)

    def claim_display(self, obj: Any) -> bool:
        """True (once) when ``obj``'s panel is already on screen from this cell."""
        for i, shown in enumerate(self._shown):
            if shown is obj:
                del self._shown[i]
                return True
        return False

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace (where ``-o VAR`` stores and ``--input-var`` reads)."""
        if self.shell is None:
            raise UsageError("The Julep magics need an IPython shell: use %load_ext julep_nb.")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    def store(self, name: str | None, value: Any) -> None:
        """``-o NAME``: put ``value`` in the user namespace."""
        if name:
            self.user_ns[name] = value

    def close(self) -> None:
        """Stop the kernel's watchers and close this session's clients."""
        from julep_nb.live.registry import stop_all

        for handles in self._cell_handles.values():
            for handle in handles:
                handle.stop()
        self._cell_handles.clear()
        stop_all(kernel_loop())  # also those restarted by `await h`
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._client_settings, self._retired = None, None, []
        for client in clients:
            with contextlib.suppress(Exception):
                run_sync(client.aclose())

    # ------------------------------------------------------------------ magics

    @no_var_expand
    @line_cell_magic
    def julep_exec(self, line: str, cell: str | None = None) -> Any:
        """Start, watch, resume, cancel and inspect Julep task executions.

        Cell magics (the body is YAML or JSON; an empty body is ``{}``)::

            %%julep_exec TASK_ID [-o VAR] [--wait] [--metadata JSON] [--panel MODE]
                                 [--input-var NAME]
            <input>                 start an execution; a live panel follows it

            %%julep_exec resume EXECUTION_ID [-o VAR] [--wait] [--panel MODE]
            <resume input>          answer an execution that is awaiting_input

        Line magics::

            %julep_exec run TASK_ID [--input JSON] [-o VAR] [--wait] [--metadata JSON]
                                    [--panel MODE] [--input-var NAME]
            %julep_exec TASK_ID …                   the same ("run" may be left out)
            %julep_exec status EXECUTION_ID         current state, one request
            %julep_exec watch EXECUTION_ID [-o VAR] [--wait] [--panel MODE]
            %julep_exec cancel EXECUTION_ID [--reason TEXT]
            %julep_exec transitions EXECUTION_ID [--limit N]
            %julep_exec list TASK_ID [--limit N]    the task's executions, newest first
            %julep_exec config [NAME=VALUE ...]     resolved settings (key masked), or set
                                                    JulepMagics options

        TASK_ID is a task id, or the name of a task defined with ``%%julep_task`` in
        this session. JSON values need no quoting: ``--input {"topic": "otters"}``.

        Options:
          -o VAR            also store the result (an ExecutionHandle) in VAR
          --wait            block until the execution is terminal
          --metadata JSON   execution metadata (a JSON object)
          --panel MODE      auto | widget | html | none (default: JulepMagics.panel)
          --input JSON      the input on the magic line (instead of a cell body)
          --input-var NAME  the input from the dict NAME in the notebook

        ``run``, ``watch``, ``resume`` and the cell form return an ExecutionHandle:
        ``h = %julep_exec run TASK_ID --input {}`` then ``state = await h``. ``status``
        returns an ExecutionState; ``list`` and ``transitions`` return lists.
        Each subcommand also has ``-h``. Settings: ``%config JulepMagics`` (base_url,
        environment, api_key, agent_id, panel, refresh_rate, timeline_limit,
        auto_local); environment variables JULEP_BASE_URL and JULEP_API_KEY apply.
        With neither a URL nor a key, the embedded local server is started.
        Full reference: docs/magics.md.
        """
        with self._user_errors():
            return commands.exec_magic(self, line, cell)
        return None

    @no_var_expand
    @cell_magic
    def julep_task(self, line: str, cell: str) -> Any:
        """Create a task from the YAML cell body, or update the one with the same name.

        ::

            %%julep_task [--agent ID] [--name NAME] [-o VAR]
            name: hello                  # or --name hello
            input_schema: {...}          # optional
            main:
              - evaluate:
                  greeting: $ "Hello, " + steps[0].input.name

        The task belongs to ``--agent ID``, else ``JulepMagics.agent_id``, else one
        default agent created on first use. Shows and returns the Task; its name can
        then be used instead of its id: ``%%julep_exec hello``.
        """
        with self._user_errors():
            return commands.task_magic(self, line, cell)
        return None

    @contextlib.contextmanager
    def _user_errors(self) -> Iterator[None]:
        """Errors a user can fix become UsageError (no traceback), the key redacted."""
        try:
            yield
        except HelpRequested as shown:
            print(str(shown).rstrip())
        except UsageError as exc:
            raise UsageError(redact(str(exc), self._secret)) from None
        except (JulepError, TraitError) as exc:
            raise UsageError(redact(str(exc), self._secret)) from None
