"""JupyterLab on loopback (token, free port) and Debian's chromium through playwright."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _required() -> bool:
    truthy = ("1", "true", "yes")
    return (
        os.environ.get("CI", "").lower() in truthy
        or os.environ.get("JULEP_NB_REQUIRE_BROWSER", "") in truthy
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_copy(name: str, dst: Path) -> Path:
    """A copy of notebooks/NAME without outputs, so what is saved later is this run's."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    path = dst / name
    nbformat.write(nb, path)
    return path


class Lab:
    """A running JupyterLab: its URL, token and notebook folder."""

    def __init__(self, root: Path, port: int, token: str, process: subprocess.Popen[bytes]):
        self.root, self.port, self.token, self.process = root, port, token, process

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                return bool(json.load(response))
        except OSError:
            return False


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's chromium; skipped locally, a failure in CI when it is missing."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} not found: install it with apt-get install -y chromium"
        if _required():
            pytest.fail(reason + " (required in CI; .ci/run installs it)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Lab]:
    """JupyterLab serving clean copies of 01 and 02 from a temporary folder."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("01_quickstart.ipynb", "02_human_in_the_loop.ipynb"):
        _clean_copy(name, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JULEP_")}
    env["JUPYTER_CONFIG_DIR"] = str(root / ".jupyter")  # no user settings, no news popup
    env["JUPYTER_RUNTIME_DIR"] = str(root / ".runtime")
    port, token = _free_port(), os.urandom(16).hex()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands
            "--ServerApp.allow_root=True",  # CI containers run as root
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(root / "lab.log").open("wb"),
    )
    server = Lab(root, port, token, process)
    try:
        deadline = time.monotonic() + 60
        while not server.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "lab.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"JupyterLab did not start on port {port}:\n{log}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless chromium driven by playwright (its own browser downloads are not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
