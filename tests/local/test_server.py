"""start()/stop() and ``julep-nb serve``: readiness, clean shutdown, persistence, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from julep_nb.local import start
from julep_nb.local.errors import ServerConfigError
from julep_nb.local.server import default_db_path, main

from .conftest import API_KEY, seed_execution


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("julep-nb-server")]


def _resources() -> tuple[int, int, list[str]]:
    proc = psutil.Process()
    return proc.num_fds(), len(proc.net_connections()), [f.path for f in proc.open_files()]


@pytest.mark.parametrize("db", [":memory:", "file"])
def test_stop_leaves_no_thread_socket_or_file_handle(tmp_path: Path, db: str) -> None:
    path = str(tmp_path / "julep.db") if db == "file" else db
    start(db=":memory:").stop()  # uvloop's first loop opens a pipe the process keeps
    before = _resources()
    server = start(db=path)
    assert len(_server_threads()) == 1
    with httpx.Client(base_url=server.base_url) as http:
        with http.stream("GET", "/openapi.json") as response:  # a stream left half-read
            response.read()
        assert http.post("/agents", json={"name": "x"}).status_code == 201
    server.stop()
    server.stop()  # idempotent
    assert _server_threads() == []
    assert _resources() == before
    assert not server.running and "stopped" in repr(server)


def test_stop_ends_open_streams(tmp_path: Path) -> None:
    server = start()
    execution = seed_execution(server.store)
    url = f"{server.base_url}/executions/{execution.id}/transitions.stream"
    opened = threading.Event()
    result: list[str] = []

    def follow() -> None:
        with httpx.Client(timeout=10) as http, http.stream("GET", url) as response:
            opened.set()
            result.extend(response.iter_lines())

    reader = threading.Thread(target=follow)
    reader.start()
    assert opened.wait(5)
    began = time.monotonic()
    server.stop()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - began < 2
    assert _server_threads() == []


def test_start_returns_only_when_connections_are_accepted() -> None:
    with start() as server:
        # No retry: the very first connection and request must succeed.
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200
    assert _server_threads() == []


async def test_start_works_inside_a_running_event_loop() -> None:
    # As in a Jupyter kernel: the caller's loop is running and stays free.
    with start() as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            created = await http.post("/agents", json={"name": "from a loop"})
    assert created.status_code == 201


def test_responses_are_not_delayed_by_nagle() -> None:
    # Each response used to wait ~40 ms for a delayed ACK when TCP_NODELAY was missing.
    with start() as server, httpx.Client(base_url=server.base_url) as http:
        http.get("/healthz")
        began = time.perf_counter()
        for _ in range(20):
            http.get("/healthz")
        elapsed = time.perf_counter() - began
    assert elapsed < 0.6, f"20 requests took {elapsed:.2f} s"


def test_a_port_in_use_is_a_clear_error() -> None:
    with start() as server:
        with pytest.raises(ServerConfigError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            start(port=server.port)


WAITING_TASK = {
    "name": "ask",
    "main": [
        {"evaluate": {"y": "$ _['x'] + 1"}},
        {"wait_for_input": {"info": {"question": "how much?"}}},
        {"evaluate": {"total": "$ steps[0].output['y'] + _['add']"}},
    ],
}


def _wait_status(http: httpx.Client, execution_id: str, *statuses: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        execution = http.get(f"/executions/{execution_id}").json()
        if execution["status"] in statuses:
            return execution
        time.sleep(0.01)
    raise AssertionError(f"{execution_id} never reached {statuses}: {execution}")


def _create(http: httpx.Client, task: dict, input: dict) -> str:
    agent = http.post("/agents", json={"name": "restart"}).json()
    task_id = http.post(f"/agents/{agent['id']}/tasks", json=task).json()["id"]
    return http.post(f"/tasks/{task_id}/executions", json={"input": input}).json()["id"]


def test_a_waiting_execution_can_be_resumed_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "julep.db"
    with start(db=db) as server, httpx.Client(base_url=server.base_url, timeout=5) as http:
        execution_id = _create(http, WAITING_TASK, {"x": 1})
        _wait_status(http, execution_id, "awaiting_input")
    with start(db=db) as server, httpx.Client(base_url=server.base_url, timeout=5) as http:
        assert _wait_status(http, execution_id, "awaiting_input")
        resumed = http.put(
            f"/executions/{execution_id}", json={"status": "running", "input": {"add": 40}}
        )
        assert (resumed.status_code, resumed.json()) == (200, None)
        done = _wait_status(http, execution_id, "succeeded", "failed")
    assert (done["status"], done["output"]) == ("succeeded", {"total": 42})


def test_an_execution_running_at_shutdown_fails_with_a_reason_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "julep.db"
    slow = {
        "name": "slow",
        "main": [
            {"evaluate": {"v": "$ 1"}},
            {"sleep": {"seconds": 30}},
            {"evaluate": {"w": "$ 2"}},
        ],
    }
    with start(db=db) as server, httpx.Client(base_url=server.base_url, timeout=5) as http:
        execution_id = _create(http, slow, {})
        _wait_status(http, execution_id, "running")
    with start(db=db) as server, httpx.Client(base_url=server.base_url, timeout=5) as http:
        after = http.get(f"/executions/{execution_id}").json()
    # The engine's documented choice: fail it, saying why and what to do.
    assert after["status"] == "failed", after
    assert "server stopped while this execution was running" in after["error"]


def test_cli_refuses_a_public_host_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without an API key" in capsys.readouterr().err


def test_default_db_lives_in_the_user_data_dir() -> None:
    assert default_db_path().name == "local.db"
    assert default_db_path().parent.name == "julep_nb"


def _serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Run ``julep-nb serve`` and return it with the URL it logged."""
    cmd = [sys.executable, "-m", "julep_nb.local.server", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    log: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        log.append(line)
        if "local server on http://" in line:
            url = line.split(" on ", 1)[1].split()[0]
            return proc, url
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("julep-nb serve did not start:\n" + "".join(log))


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return err


def test_cli_serves_with_a_key_and_never_logs_it(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    proc, url = _serve("--db", str(db), "--api-key", API_KEY)
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            assert http.get("/agents/x").status_code == 401
            headers = {"Authorization": f"Bearer {API_KEY}"}
            assert http.post("/agents", json={"name": "x"}, headers=headers).status_code == 201
    finally:
        err = _interrupt(proc)
    assert API_KEY not in err
    assert db.exists()


def test_cli_default_db_is_created_in_the_data_dir(tmp_path: Path) -> None:
    proc, url = _serve(env={"XDG_DATA_HOME": str(tmp_path)})
    try:
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        _interrupt(proc)
    assert (tmp_path / "julep_nb" / "local.db").exists()


def test_the_store_and_package_import_without_the_web_stack() -> None:
    code = (
        "import sys, julep_nb.local, julep_nb.local.store; "
        "print(','.join(m for m in ('starlette', 'uvicorn', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
