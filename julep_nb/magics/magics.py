"""``JulepMagics``: the traitlets-configured shell around the subcommands.

The class holds configuration (``%config JulepMagics.x = …``), the lazily built
client, the names of tasks defined in this session, and which watchers each cell
started. Each magic builds a :class:`~julep_nb.magics.session.Session` (plain
data) and hands it to :mod:`julep_nb.magics.router`; errors a user can fix become
:class:`~IPython.core.error.UsageError` (no traceback), the API key redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Dict, Enum, Float, Integer, TraitError, Unicode, validate
from traitlets.config import Configurable

from julep_nb.live.errors import SourceError
from julep_nb.live.registry import stop_all
from julep_nb.magics.arguments import PANEL_MODES, HelpRequested
from julep_nb.magics.errors import CommandError
from julep_nb.magics.loop import kernel_loop, run_sync
from julep_nb.magics.session import CellRecord, Session, ViewOptions
from julep_nb.magics.sources import SourcePool, mask_url, mask_urls, url_secret
from julep_nb.magics.usage import EXEC_USAGE, TASK_USAGE
from julep_nb.sources.julep.config import ENVIRONMENTS, NOT_GIVEN, Settings, mask_key, redact
from julep_nb.sources.julep.config import resolve_settings as _resolve
from julep_nb.sources.julep.errors import ConfigError, JulepError
from julep_nb.sources.urls import SCHEMES

if TYPE_CHECKING:
    from julep_nb.connect import Client

__all__ = ["JulepMagics"]

F = TypeVar("F", bound=Callable[..., Any])

NO_SERVER_HELP = (
    "set JULEP_API_KEY (hosted Julep) or JULEP_BASE_URL, or run "
    "%config JulepMagics.base_url = 'https://…' (and JulepMagics.api_key)"
)

# What a user can fix: shown as one line, without a traceback.
USER_ERRORS = (UsageError, CommandError, JulepError, SourceError, TraitError)

SHOWN_OPTIONS = ("agent_id", "panel", "refresh_rate", "timeline_limit", "auto_local")


def _documented(text: str) -> Callable[[F], F]:
    """Give a magic its usage text as docstring (what ``%julep_exec?`` shows)."""

    def apply(function: F) -> F:
        function.__doc__ = text
        return function

    return apply


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

    sources = Dict(
        value_trait=Unicode(),
        key_trait=Unicode(),
        help="Named Temporal and Thand sources for --source NAME: name -> URL "
        "(temporal://HOST:PORT/NAMESPACE, thand+http://HOST:PORT/api/v1). A secret in a "
        "URL is stored privately: reading it back shows only its last 4 characters.",
    ).tag(config=True)

    _secret: str | None = None  # the real key; the trait holds only its masked form
    _source_urls: dict[str, str] = {}  # noqa: RUF012 - replaced, never mutated

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: Client | None = None
        self._client_settings: Settings | None = None
        self._retired: list[Client] = []
        self._announced = False
        self.task_names: dict[str, str] = {}  # %%julep_task name -> task id
        self.agents: dict[str, str] = {}  # base URL -> default agent id
        self._cell = CellRecord()  # the running cell
        self._cells: dict[str, CellRecord] = {}  # cell key -> what its last run started
        self._sources = SourcePool(named=lambda: self._source_urls, run=run_sync)

    # ------------------------------------------------------------------ traits

    @validate("api_key")
    def _keep_key_private(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is not None and value == mask_key(self._secret):
            return str(value)  # the masked value written back: no change
        self._secret = value or None
        return mask_key(value) if value else None

    @validate("sources")
    def _keep_source_secrets(self, proposal: Any) -> dict[str, str]:
        """Keep the real URLs privately; the trait holds them masked."""
        real: dict[str, str] = {}
        for name, url in dict(proposal["value"]).items():
            old = self._source_urls.get(name)
            if old is not None and url == mask_url(old):
                url = old  # the masked value written back: no change
            scheme = url.partition("://")[0].lower() if "://" in url else ""
            if scheme not in SCHEMES:
                raise TraitError(
                    f"JulepMagics.sources[{name!r}] = {mask_url(url)!r} is not a source URL: "
                    "use temporal://HOST:PORT/NAMESPACE or thand+http://HOST:PORT/api/v1."
                )
            real[name] = url
        self._source_urls = real
        return mask_urls(real)

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
        from julep_nb.connect import Client  # httpx and pydantic: on the first request

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

    def describe(self) -> dict[str, Any]:
        """The resolved connection (key masked) and the options, for ``config``."""
        settings = self.settings()
        view: dict[str, Any] = dict(settings.describe())
        if settings.use_local:
            local_url = self.local_url()
            if local_url:
                view["base_url"] = f"{local_url} (embedded local server)"
            elif not self.auto_local:
                view["base_url"] = "(none: set JULEP_API_KEY or JULEP_BASE_URL)"
        for name in SHOWN_OPTIONS:
            view[name] = getattr(self, name)
        masked = mask_urls(self._source_urls)
        view["sources"] = ", ".join(f"{n} = {u}" for n, u in masked.items()) or "—"
        return view

    def _configure(self, name: str, value: Any) -> None:
        setattr(self, name, value)  # validated by the trait

    def session(self) -> Session:
        """What the subcommands see of this session, as plain data."""
        return Session(
            client=self.client,
            run=run_sync,
            namespace=self.shell.user_ns if self.shell is not None else None,
            task_names=self.task_names,
            agents=self.agents,
            agent_id=self.agent_id,
            view=ViewOptions(
                panel=self.panel,
                refresh_rate=self.refresh_rate,
                timeline_limit=self.timeline_limit,
            ),
            cell=self._cell,
            source=self._sources.get,
            configure=self._configure,
            describe=self.describe,
        )

    # ------------------------------------------------------------------ cells

    def pre_run_cell(self, info: Any) -> None:
        """IPython event: a cell starts. Stop the watchers and batches its previous run
        started (a batch starts nothing more; no execution is cancelled)."""
        cell_id = getattr(info, "cell_id", None)
        raw = getattr(info, "raw_cell", "") or ""
        key = f"cell:{cell_id}" if cell_id else "src:" + hashlib.sha1(raw.encode()).hexdigest()[:16]
        previous = self._cells.pop(key, None)
        if previous is not None:
            for handle in previous.started:
                handle.stop()
        # Forget finished ones, so a long session does not keep every state alive.
        for old_key, record in list(self._cells.items()):
            record.started[:] = [h for h in record.started if h.watching]
            if not record.started:
                del self._cells[old_key]
        self._cell = self._cells[key] = CellRecord(key=key)

    def claim_display(self, obj: Any) -> bool:
        """True (once) when ``obj``'s panel is already on screen from this cell."""
        shown = self._cell.shown
        for i, handle in enumerate(shown):
            if handle is obj:
                del shown[i]
                return True
        return False

    def close(self) -> None:
        """Stop the kernel's watchers and batches, and close this session's clients."""
        for record in [*self._cells.values(), self._cell]:
            for handle in record.started:
                handle.stop()
        self._cells.clear()
        self._cell = CellRecord()
        stop_all(kernel_loop())  # also those restarted by `await h`
        self._sources.close()
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._client_settings, self._retired = None, None, []
        for client in clients:
            with contextlib.suppress(Exception):
                run_sync(client.aclose())

    # ------------------------------------------------------------------ magics

    @no_var_expand
    @line_cell_magic
    @_documented(EXEC_USAGE)
    def julep_exec(self, line: str, cell: str | None = None) -> Any:
        with self._user_errors(line):
            from julep_nb.magics import router  # the commands load with the first magic

            return router.exec_magic(self.session(), line, cell)
        return None

    @no_var_expand
    @cell_magic
    @_documented(TASK_USAGE)
    def julep_task(self, line: str, cell: str) -> Any:
        with self._user_errors():
            from julep_nb.magics import router

            return router.task_magic(self.session(), line, cell)
        return None

    @contextlib.contextmanager
    def _user_errors(self, line: str = "") -> Iterator[None]:
        """Errors a user can fix become UsageError (no traceback), the key redacted."""
        try:
            yield
        except HelpRequested as shown:
            print(str(shown).rstrip())
        except USER_ERRORS as exc:
            text = redact(str(exc), self._secret)
            for secret in [*self._source_secrets(), *_line_secrets(line)]:
                text = redact(text, secret)
            raise UsageError(text) from None

    def _source_secrets(self) -> list[str]:
        """The secrets in the configured source URLs (masked in every error)."""
        found = (url_secret(url) for url in self._source_urls.values())
        return [secret for secret in found if secret]


def _line_secrets(line: str) -> list[str]:
    """Secrets in URLs written on the magic line itself (``--source temporal://:KEY@…``)."""
    words = (word.partition("=")[2] if word.startswith("--") else word for word in line.split())
    found = (url_secret(word) for word in words if "://" in word)
    return [secret for secret in found if secret]
