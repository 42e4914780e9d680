"""The README's examples run as written: the Python quickstart and ``julep-nb serve``."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def block_after(marker: str, lang: str) -> str:
    """The first ```lang block after the text ``marker``."""
    start = README.index(marker)
    match = re.compile(rf"```{lang}\n(.*?)```", re.DOTALL).search(README, start)
    assert match is not None, f"no {lang} block after {marker!r}"
    return match.group(1)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JULEP_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_python_quickstart_runs_verbatim(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(block_after("Save a task as `task.yaml`", "yaml"))
    script = block_after("## Quickstart (Python)", "python")
    (tmp_path / "quickstart.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "quickstart.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "succeeded" in out.stdout and "Hello, Ada" in out.stdout, out.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_julep_nb_serve_as_the_readme_shows(tmp_path: Path) -> None:
    line = block_after("## The embedded server", "bash").splitlines()[0]
    port = _free_port()
    argv = shlex.split(line.replace("8080", str(port)))
    assert argv[0] == ".venv/bin/julep-nb"
    argv[0] = str(BIN / "julep-nb")  # the virtualenv that runs these tests
    server = subprocess.Popen(
        argv, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "julep-nb serve did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert (tmp_path / "julep.db").exists()  # --db julep.db, relative to the cwd
    finally:
        server.terminate()
        server.wait(timeout=30)
