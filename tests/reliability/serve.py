"""``julep-nb serve`` as a real child process: started, killed with SIGKILL, restarted.

The port is chosen once and kept across restarts, so clients (and their watchers)
reconnect to the same URL, as they would to a server a user restarts by hand.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx

__all__ = ["ServeProcess", "free_port"]

START_TIMEOUT: Final = 30.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One ``julep-nb serve`` child on a fixed port and database file."""

    def __init__(self, db: Path, *, api_key: str | None = None, port: int | None = None) -> None:
        self.db = db
        self.api_key = api_key
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the child and return once ``/healthz`` answers."""
        argv = [sys.executable, "-m", "julep_nb.local.server", "serve"]
        argv += ["--port", str(self.port), "--db", str(self.db), "--log-level", "warning"]
        if self.api_key:
            argv += ["--api-key", self.api_key]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"julep-nb serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"julep-nb serve did not answer within {START_TIMEOUT} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """A clean stop (SIGINT, like Ctrl+C), or a kill if it does not end in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
