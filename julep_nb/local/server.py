"""Run the local server: in-process on a background thread, or as ``julep-nb serve``.

Usage::

    server = julep_nb.local.start()            # in-memory, random loopback port
    client = julep_nb.Client(base_url=server.base_url)
    ...
    server.stop()                              # or: with julep_nb.local.start() as server:

    $ julep-nb serve --port 8080 --db ~/julep.db

``start()`` runs uvicorn with its own event loop on a daemon thread, so it also
works from inside a running loop (a Jupyter kernel), and returns once the socket
accepts connections. ``stop()`` ends open streams, waits for the thread, and
closes the socket and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn

from julep_nb.local.app import EngineLike, create_app
from julep_nb.local.errors import ServerConfigError
from julep_nb.local.http_protocol import CoalescingHttpToolsProtocol
from julep_nb.local.inprocess import InProcessTransport
from julep_nb.local.store import Store
from julep_nb.local.streams import PING_INTERVAL, Hub

__all__ = ["DEFAULT_PORT", "LocalServer", "default_db_path", "is_loopback", "main", "start"]

log = logging.getLogger("julep_nb.local")

DEFAULT_PORT: Final = 8080
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0
# Streams are ended at shutdown; this only bounds a request that is still running.
GRACEFUL_SHUTDOWN: Final = 3


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, ``127.x``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def default_db_path() -> Path:
    """Where ``julep-nb serve`` keeps its database by default (the user's data directory)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("julep_nb")) / "local.db"


def _check_host(host: str, api_key: str | None) -> None:
    if not api_key and not is_loopback(host):
        raise ServerConfigError(
            f"refusing to serve on {host!r} without an API key: anyone who can reach it could "
            "run tasks. Pass api_key=… (--api-key), or bind to 127.0.0.1."
        )


def _bind(host: str, port: int) -> socket.socket:
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol is TCP; with proto 0 each response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bare, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServerConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    bare = host.strip("[]")
    return f"http://[{bare}]:{port}" if ":" in bare else f"http://{bare}:{port}"


def _make_engine(store: Store) -> EngineLike:
    from julep_nb.local.engine import Engine

    engine: EngineLike = Engine(store)
    return engine


def _new_loop() -> asyncio.AbstractEventLoop:
    """The server thread's own loop: uvloop when it is installed (faster), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _Server(uvicorn.Server):
    """uvicorn's server that wakes at once on stop and ends open streams first."""

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; waiting on an event stops at once.
        assert self._wake is not None
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.hub.close_all()  # otherwise open SSE streams hold shutdown until the timeout
        await super().shutdown(sockets)

    def request_exit(self) -> None:
        """Ask the server to stop; safe from any thread."""
        self.should_exit = True
        if self.loop is not None and self._wake is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self.loop.call_soon_threadsafe(self._wake.set)


def _build(
    store: Store, api_key: str | None, log_level: str, ping_interval: float
) -> tuple[_Server, Any]:
    engine = _make_engine(store)
    app = create_app(store, engine, api_key=api_key, ping_interval=ping_interval)
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,  # never reconfigure the host process's logging (a kernel's)
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        server_header=False,
        proxy_headers=False,  # nothing here reads the client's address or scheme
        http=CoalescingHttpToolsProtocol,
    )
    return _Server(config, app.state.hub), app


class LocalServer:
    """A running local server: ``base_url``, ``api_key``, ``store``; ``stop()`` ends it."""

    def __init__(
        self, *, host: str, port: int, db: str, api_key: str | None, store: Store, app: Any
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.base_url = _url(host, port)
        self.api_key = api_key
        self.store = store
        self.app = app
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"  # never the key itself
        state = "running" if self.running else "stopped"
        return f"<LocalServer {self.base_url} db={self.db!r} api_key={key} {state}>"

    def transport(self, *, limits: httpx.Limits | None = None) -> InProcessTransport:
        """An httpx transport to this server without sockets (for a client in this process).

        ``httpx.AsyncClient(base_url=server.base_url, transport=server.transport())``;
        event streams still go over TCP, with ``limits``. See :mod:`julep_nb.local.inprocess`.
        """
        if not self.running or self._server is None or self._server.loop is None:
            raise ServerConfigError(f"the local server on {self.base_url} is not running")
        return InProcessTransport(self.app, self._server.loop, limits=limits)

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _launch(self, server: _Server, sock: socket.socket) -> None:
        self._server, self._sock = server, sock
        self._thread = threading.Thread(
            target=self._run, name=f"julep-nb-server:{self.port}", daemon=True
        )
        self._thread.start()
        # Ready, or the thread died during startup (the lifespan failed).
        while not server.ready.wait(0.01):
            if not self._thread.is_alive():
                break
        if not server.ready.is_set():
            self.stop()
            raise ServerConfigError(
                f"the local server failed to start on {self.base_url}: {self._error!r}"
            )

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        loop = _new_loop()
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # SystemExit from a failed startup included
            self._error = exc
            log.exception("local server on %s stopped with an error", self.base_url)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving; afterwards no thread, socket or database handle is left open."""
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(
                    f"the local server on {self.base_url} did not stop within {timeout} s"
                )
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.store.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    port: int = 0,
    db: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    *,
    ping_interval: float = PING_INTERVAL,
    log_level: str = "warning",
) -> LocalServer:
    """Start a local server on a background thread and return once it accepts connections.

    ``port=0`` picks a free port; ``db=None`` (or ``":memory:"``) keeps everything in
    memory, a path keeps it in a SQLite file that survives restarts. A host other than
    loopback requires ``api_key``.
    """
    _check_host(host, api_key)
    db_name = ":memory:" if db is None else os.fspath(db)
    sock = _bind(host, port)
    store = Store(db_name)
    try:
        server, app = _build(store, api_key, log_level, ping_interval)
    except BaseException:
        sock.close()
        store.close()
        raise
    local = LocalServer(
        host=host,
        port=sock.getsockname()[1],
        db=db_name,
        api_key=api_key,
        store=store,
        app=app,
    )
    local._launch(server, sock)
    return local


# ---------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="julep-nb", description="julep_nb: an offline, Julep-compatible server."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local Julep-compatible server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    serve.add_argument(
        "--db",
        default=None,
        help=f"SQLite file, or :memory: for a throwaway run (default {default_db_path()})",
    )
    serve.add_argument(
        "--api-key", default=None, help="require this key (Authorization: Bearer or X-Auth-Key)"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser


def _tune_gc() -> None:
    """A server process's garbage collector, tuned once everything is imported.

    Each execution allocates a few thousand short-lived objects, so with the default
    threshold (700) the collector ran about every third execution and rescanned
    every module loaded at start: about 5% of the server's CPU. Frozen, the objects
    of the start are never scanned again; collecting every 10,000 allocations keeps
    cycles short-lived all the same. Only ``julep-nb serve`` does this: a server
    started inside a notebook shares the kernel's process, whose collector is the
    user's.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    """``julep-nb serve [--host H] [--port 8080] [--db PATH|:memory:] [--api-key KEY]``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    db = args.db
    if db is None:
        path = default_db_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = str(path)
    try:
        _check_host(args.host, args.api_key)
        sock = _bind(args.host, args.port)
    except ServerConfigError as exc:
        print(f"julep-nb: {exc}", file=sys.stderr)
        return 2
    store = Store(db)
    server, _ = _build(store, args.api_key, args.log_level, PING_INTERVAL)
    _tune_gc()
    url = _url(args.host, sock.getsockname()[1])
    auth = "API key required" if args.api_key else "no API key required"
    log.info("julep_nb local server on %s (db: %s; %s)", url, db, auth)
    log.info("point julep_nb at it with: export JULEP_BASE_URL=%s", url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down gracefully, then re-raised the Ctrl+C it caught
    finally:
        sock.close()
        store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
